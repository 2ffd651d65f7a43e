//! Message ids as each link writes them. An operator may answer submit_sm with `1A2B` (hex)
//! and report `6699` or `0000006699` in the receipt; the correlator stores and looks up the
//! canonical form, so both sides are normalised with the format the link is configured with.
//!
//! Canonical form: for a numeric format, the id's value in decimal without leading zeros
//! (`0` for zero), when it parses in that format (hex with or without `0x`, any case) and fits
//! 128 bits. Otherwise, and for [`IdFormat::AsIs`], the id exactly as received, case
//! preserved: alphanumeric ids (UUIDs and the like) are compared as they are.

use std::fmt::Write as _;

/// How a link writes message ids, in submit_sm_resp or in receipts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IdFormat {
    /// Opaque: compared exactly as sent.
    #[default]
    AsIs,
    /// Decimal digits, leading zeros allowed.
    Decimal,
    /// Decimal digits, rendered zero-padded to this many digits.
    ZeroPaddedDecimal(u8),
    /// Hexadecimal, either case, rendered in lower case.
    Hex,
    /// Hexadecimal, either case, rendered in upper case.
    HexUpper,
}

fn value(id: &str, format: IdFormat) -> Option<u128> {
    let id = id.trim();
    match format {
        IdFormat::AsIs => None,
        IdFormat::Decimal | IdFormat::ZeroPaddedDecimal(_) => {
            // from_str_radix accepts a leading '+', which no id has.
            id.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| id.parse().ok())
                .flatten()
        }
        IdFormat::Hex | IdFormat::HexUpper => {
            let digits = id
                .strip_prefix("0x")
                .or_else(|| id.strip_prefix("0X"))
                .unwrap_or(id);
            (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| u128::from_str_radix(digits, 16).ok())
                .flatten()
        }
    }
}

/// The canonical form of `id`, written by a link that uses `from` (see the module doc).
pub fn normalise(id: &str, from: IdFormat) -> String {
    match value(id, from) {
        Some(n) => n.to_string(),
        None => id.to_owned(),
    }
}

/// Writes a canonical id the way a link that uses `to` expects it; the inverse of
/// [`normalise`] for numeric ids. Non-numeric canonical ids are written unchanged.
pub fn render(canonical: &str, to: IdFormat) -> String {
    let Some(n) = value(canonical, IdFormat::Decimal) else {
        return canonical.to_owned();
    };
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = match to {
        IdFormat::AsIs => return canonical.to_owned(),
        IdFormat::Decimal => write!(out, "{n}"),
        IdFormat::ZeroPaddedDecimal(width) => {
            write!(out, "{n:0width$}", width = usize::from(width))
        }
        IdFormat::Hex => write!(out, "{n:x}"),
        IdFormat::HexUpper => write!(out, "{n:X}"),
    };
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn hex_and_padded_decimal_ids_meet_in_the_canonical_form() {
        let from_resp = normalise("1A2B", IdFormat::Hex);
        assert_eq!(from_resp, "6699");
        assert_eq!(normalise("6699", IdFormat::Decimal), from_resp);
        assert_eq!(
            normalise("0000006699", IdFormat::ZeroPaddedDecimal(10)),
            from_resp
        );
        assert_eq!(normalise("0x1a2b", IdFormat::HexUpper), from_resp);
        assert_eq!(normalise("0000", IdFormat::Decimal), "0");
    }

    #[test]
    fn non_numeric_ids_stay_as_they_are() {
        let uuid = "3F2504E0-4F89-11D3-9A0C-0305E82C3301";
        assert_eq!(normalise(uuid, IdFormat::Hex), uuid);
        assert_eq!(normalise("abc", IdFormat::Decimal), "abc");
        assert_eq!(normalise("+12", IdFormat::Decimal), "+12");
        assert_eq!(normalise("00AB", IdFormat::AsIs), "00AB");
        let too_big = "1".repeat(40);
        assert_eq!(normalise(&too_big, IdFormat::Decimal), too_big);
    }

    #[test]
    fn render_writes_the_link_format() {
        assert_eq!(render("6699", IdFormat::Hex), "1a2b");
        assert_eq!(render("6699", IdFormat::HexUpper), "1A2B");
        assert_eq!(
            render("6699", IdFormat::ZeroPaddedDecimal(10)),
            "0000006699"
        );
        assert_eq!(render("6699", IdFormat::AsIs), "6699");
        assert_eq!(render("abc", IdFormat::Hex), "abc");
    }

    fn numeric_format() -> impl Strategy<Value = IdFormat> {
        prop_oneof![
            Just(IdFormat::Decimal),
            (0u8..40).prop_map(IdFormat::ZeroPaddedDecimal),
            Just(IdFormat::Hex),
            Just(IdFormat::HexUpper),
        ]
    }

    proptest! {
        #[test]
        fn render_then_normalise_is_identity(n in any::<u128>(), format in numeric_format()) {
            let canonical = n.to_string();
            prop_assert_eq!(normalise(&render(&canonical, format), format), canonical);
        }
    }
}
