//! Reading and writing the fixed-width fields the operators' PDU bodies are made of.
//!
//! Reading works on a frame whose length was already checked, so nothing here allocates
//! from a length field: a slice is only taken when that many octets are there. Text fields
//! are octet strings padded on the right; peers pad with NUL, some with spaces, and a few
//! leave garbage after a C-style terminator, so a field ends at its first NUL and trailing
//! spaces are dropped. What remains must be ASCII: these fields carry codes and numbers.
//! Writing pads with NUL. Every protocol's encoder refuses a text field that does not fit
//! with the same two errors ([`encode_error!`](crate::encode_error)), and appends a frame
//! whole or not at all ([`append_whole`]).
//!
//! A [`Reader`] reports a body that does not have its layout as the protocol's own error
//! ([`BodyError`]), naming the PDU by what the protocol names it by (its command and
//! sequence, say).

use bytes::{BufMut, BytesMut};

/// A field's name and the reasons it can be refused for (built by [`field!`]).
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// The name in the specification, for encode errors.
    pub name: &'static str,
    /// The body ended inside this field.
    pub short: &'static str,
    /// The field's content is not ASCII.
    pub text: &'static str,
}

/// A [`Field`] for a specification's field name, with its reasons as static strings.
#[macro_export]
macro_rules! field {
    ($name:literal) => {
        $crate::fields::Field {
            name: $name,
            short: concat!("body ends inside ", $name),
            text: concat!($name, " is not ASCII text"),
        }
    };
}

/// What was wrong with a body, for protocols whose error codes tell the two apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    /// The body ended inside a field, or octets follow the last one.
    Length,
    /// A field's content is not what the field takes.
    Value,
}

/// A protocol's error for a body that does not have its command's layout.
pub trait BodyError {
    /// What names the PDU in the error (its command and sequence, say).
    type Header: Copy;

    /// The error for the body of `header`'s PDU, with what was wrong.
    fn malformed(header: Self::Header, flaw: Flaw, reason: &'static str) -> Self;
}

/// A cursor over one body, whose errors are `E`s.
pub struct Reader<'a, E: BodyError> {
    rest: &'a [u8],
    header: E::Header,
}

impl<'a, E: BodyError> Reader<'a, E> {
    pub fn new(body: &'a [u8], header: E::Header) -> Self {
        Self { rest: body, header }
    }

    /// A body of the wrong length.
    pub fn short(&self, reason: &'static str) -> E {
        E::malformed(self.header, Flaw::Length, reason)
    }

    /// A field of the wrong format or range.
    pub fn bad_value(&self, reason: &'static str) -> E {
        E::malformed(self.header, Flaw::Value, reason)
    }

    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    pub fn take(&mut self, len: usize, field: Field) -> Result<&'a [u8], E> {
        if self.rest.len() < len {
            return Err(self.short(field.short));
        }
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        Ok(head)
    }

    pub fn u8(&mut self, field: Field) -> Result<u8, E> {
        let [byte] = self.array::<1>(field)?;
        Ok(byte)
    }

    pub fn u16(&mut self, field: Field) -> Result<u16, E> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    pub fn u32(&mut self, field: Field) -> Result<u32, E> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    pub fn u64(&mut self, field: Field) -> Result<u64, E> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    /// A 1-octet or 4-octet big-endian integer, by `width` (CMPP 2.0 and 3.0 write some
    /// results in one and some in the other).
    pub fn uint(&mut self, width: usize, field: Field) -> Result<u32, E> {
        if width == 1 {
            self.u8(field).map(u32::from)
        } else {
            self.u32(field)
        }
    }

    pub fn array<const N: usize>(&mut self, field: Field) -> Result<[u8; N], E> {
        let bytes = self.take(N, field)?;
        bytes.try_into().map_err(|_| self.short(field.short))
    }

    /// A text field of `width` octets without its padding.
    pub fn text(&mut self, width: usize, field: Field) -> Result<String, E> {
        let raw = self.take(width, field)?;
        parse_text(raw).ok_or_else(|| self.bad_value(field.text))
    }

    /// A text field whose content peers fill as they like (a Reserve): its text, or empty
    /// when it is not ASCII text, instead of refusing the command.
    pub fn lenient_text(&mut self, width: usize, field: Field) -> Result<String, E> {
        let raw = self.take(width, field)?;
        Ok(parse_text(raw).unwrap_or_default())
    }

    /// The body must end here: octets after the last field are refused.
    pub fn finish(&self) -> Result<(), E> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.short("octets after the last field"))
        }
    }
}

/// A padded text field without its padding, or `None` when it is not ASCII.
pub fn parse_text(raw: &[u8]) -> Option<String> {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    let text = raw.get(..end)?;
    let trimmed = match text.iter().rposition(|&b| b != b' ') {
        Some(last) => text.get(..=last)?,
        None => &[],
    };
    if !trimmed.is_ascii() {
        return None;
    }
    // ASCII is UTF-8.
    String::from_utf8(trimmed.to_vec()).ok()
}

/// Why a value cannot be written as a text field; each protocol's encode error has these
/// two cases under the same names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("{field} has {len} octets, at most {max} fit")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    /// Fixed text fields carry ASCII codes and numbers, without NUL.
    #[error("{field} is not ASCII text without NUL")]
    NotAscii { field: &'static str },
}

/// Checks that `value` can be written as a text field of `width` octets.
pub fn check_text(value: &str, width: usize, field: Field) -> Result<(), TextError> {
    if !value.is_ascii() || value.bytes().any(|b| b == 0) {
        return Err(TextError::NotAscii { field: field.name });
    }
    if value.len() > width {
        return Err(TextError::TooLong {
            field: field.name,
            len: value.len(),
            max: width,
        });
    }
    Ok(())
}

/// Writes `value` padded with NUL to `width` octets; nothing when it does not fit.
pub fn put_text(
    out: &mut BytesMut,
    value: &str,
    width: usize,
    field: Field,
) -> Result<(), TextError> {
    check_text(value, width, field)?;
    out.put_slice(value.as_bytes());
    out.put_bytes(0, width - value.len());
    Ok(())
}

/// Declares a protocol's encode error: [`TextError`]'s two cases under the same names and
/// texts, the protocol's own cases after them, and the conversion from `TextError`, so
/// that [`put_text`] and [`check_text`] can be used with `?`.
#[macro_export]
macro_rules! encode_error {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $($own:tt)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        $vis enum $name {
            #[error("{field} has {len} octets, at most {max} fit")]
            TooLong {
                field: &'static str,
                len: usize,
                max: usize,
            },
            /// Fixed text fields carry ASCII codes and numbers, without NUL.
            #[error("{field} is not ASCII text without NUL")]
            NotAscii { field: &'static str },
            $($own)*
        }

        impl From<$crate::fields::TextError> for $name {
            fn from(error: $crate::fields::TextError) -> Self {
                match error {
                    $crate::fields::TextError::TooLong { field, len, max } => {
                        $name::TooLong { field, len, max }
                    }
                    $crate::fields::TextError::NotAscii { field } => $name::NotAscii { field },
                }
            }
        }
    };
}

/// Appends what `write` writes to `out`, or nothing: when `write` fails, what it appended
/// is taken off again, so that a caller never sends part of a frame.
pub fn append_whole<E>(
    out: &mut BytesMut,
    write: impl FnOnce(&mut BytesMut) -> Result<(), E>,
) -> Result<(), E> {
    let start = out.len();
    let result = write(out);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Error = (Flaw, &'static str);

    impl BodyError for Error {
        type Header = ();

        fn malformed(_: (), flaw: Flaw, reason: &'static str) -> Self {
            (flaw, reason)
        }
    }

    #[test]
    fn fields_are_read_in_order_and_the_body_must_end() {
        let body = [0x01, 0x00, 0x02, 0, 0, 0, 3, b'a', b'b', 0, b'x', 0xff];
        let mut r = Reader::<Error>::new(&body, ());
        assert_eq!(r.u8(field!("A")), Ok(1));
        assert_eq!(r.u16(field!("B")), Ok(2));
        assert_eq!(r.u32(field!("C")), Ok(3));
        assert_eq!(r.text(4, field!("D")).as_deref(), Ok("ab"));
        assert_eq!(r.remaining(), 1);
        assert_eq!(
            r.finish(),
            Err((Flaw::Length, "octets after the last field"))
        );
        assert_eq!(
            r.u32(field!("E")),
            Err((Flaw::Length, "body ends inside E"))
        );
        assert_eq!(r.lenient_text(1, field!("Reserve")).as_deref(), Ok(""));
        assert_eq!(r.finish(), Ok(()));
    }

    #[test]
    fn widths_of_one_and_four_octets() {
        let body = [7, 0, 0, 1, 0];
        let mut r = Reader::<Error>::new(&body, ());
        assert_eq!(r.uint(1, field!("Result")), Ok(7));
        assert_eq!(r.uint(4, field!("Result")), Ok(256));
    }

    #[test]
    fn text_ends_at_nul_and_drops_trailing_spaces() {
        assert_eq!(parse_text(b"abc\0garbage").as_deref(), Some("abc"));
        assert_eq!(parse_text(b"abc   ").as_deref(), Some("abc"));
        assert_eq!(parse_text(b"  ").as_deref(), Some(""));
        assert_eq!(parse_text(b"\xe4\xb8\xad"), None);
        let mut r = Reader::<Error>::new(b"\xe4\xb8\xad", ());
        assert_eq!(
            r.text(3, field!("Name")),
            Err((Flaw::Value, "Name is not ASCII text"))
        );
    }

    #[test]
    fn text_that_does_not_fit_is_refused_and_nothing_written() {
        let mut out = BytesMut::new();
        assert_eq!(
            put_text(&mut out, "toolong", 4, field!("Code")),
            Err(TextError::TooLong {
                field: "Code",
                len: 7,
                max: 4
            })
        );
        for bad in ["名字", "a\0b"] {
            assert_eq!(
                put_text(&mut out, bad, 8, field!("Code")),
                Err(TextError::NotAscii { field: "Code" })
            );
        }
        assert!(out.is_empty());
        put_text(&mut out, "ab", 4, field!("Code")).expect("fits");
        assert_eq!(&out[..], b"ab\0\0");
    }

    proptest! {
        #[test]
        fn written_text_reads_back(value in "[ -~]{0,12}", extra in 0usize..8) {
            let width = value.len() + extra;
            let mut out = BytesMut::new();
            put_text(&mut out, &value, width, field!("F")).expect("fits");
            prop_assert_eq!(out.len(), width);
            let mut r = Reader::<Error>::new(&out, ());
            let back = r.text(width, field!("F")).expect("reads");
            // Trailing spaces are padding to a reader.
            prop_assert_eq!(back.as_str(), value.trim_end_matches(' '));
        }
    }
}
