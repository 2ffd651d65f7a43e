//! Form parameters as the Kannel and Jasmin endpoints take them: from the query string and,
//! for a POST, an `application/x-www-form-urlencoded` body, kept as octets so that a text
//! in another character set (Kannel's `charset`) can be decoded as its client meant.

use std::borrow::Cow;

/// Parameters by name, first occurrence wins.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, Vec<u8>)>);

impl Params {
    /// Adds what a query string or form body holds.
    pub fn extend_from(&mut self, encoded: &[u8]) {
        for pair in encoded.split(|b| *b == b'&') {
            if pair.is_empty() {
                continue;
            }
            let (name, value) = match pair.iter().position(|b| *b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &[][..]),
            };
            let name = String::from_utf8_lossy(&decode(name)).into_owned();
            self.0.push((name, decode(value)));
        }
    }

    pub fn parse(encoded: &[u8]) -> Self {
        let mut params = Self::default();
        params.extend_from(encoded);
        params
    }

    /// A parameter's octets.
    pub fn raw(&self, name: &str) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// A parameter as text (UTF-8, lossy).
    pub fn text(&self, name: &str) -> Option<Cow<'_, str>> {
        self.raw(name).map(String::from_utf8_lossy)
    }

    /// The first of several names that is present, as text.
    pub fn any(&self, names: &[&str]) -> Option<Cow<'_, str>> {
        names.iter().find_map(|name| self.text(name))
    }

    /// Every parameter, as text, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, Cow<'_, str>)> {
        self.0
            .iter()
            .map(|(n, v)| (n.as_str(), String::from_utf8_lossy(v)))
    }

    pub fn push(&mut self, name: &str, value: &[u8]) {
        self.0.push((name.to_owned(), value.to_vec()));
    }
}

/// `+` as a space, then percent-decoding.
fn decode(octets: &[u8]) -> Vec<u8> {
    let spaced: Vec<u8> = octets
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    percent_encoding::percent_decode(&spaced).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_values_and_octets_are_decoded() {
        let params = Params::parse(b"to=%2B4917+0&text=a%00b&flag&text=second&x=%ZZ");
        assert_eq!(params.text("to").as_deref(), Some("+4917 0"));
        assert_eq!(params.raw("text"), Some(&b"a\0b"[..]));
        assert_eq!(params.text("flag").as_deref(), Some(""));
        assert_eq!(params.text("x").as_deref(), Some("%ZZ"));
        assert_eq!(params.text("none"), None);
    }

    proptest::proptest! {
        #[test]
        fn any_input_parses(input in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = Params::parse(&input);
        }
    }
}
