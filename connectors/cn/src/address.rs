//! Numbers on the wire ↔ domain addresses, as the operators' protocols write them.
//!
//! The numbers carry no TON/NPI: digits (with an optional leading `+`) are read as TON
//! unknown, NPI ISDN, anything else as alphanumeric; a number goes out as its digits, the
//! `+` dropped. A sender is an SP's access number: the link's prefix (its service code)
//! with the message's source digits after it. SGIP's country code "86" before handset
//! numbers is SGIP's own.

use tern_model::{Address, Message, Npi, Ton};

/// Which end of a message a number is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Source,
    Destination,
}

/// A number that cannot go on the wire: which end it is, its value and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{end:?} {value:?}: {reason}")]
pub struct BadNumber {
    pub end: End,
    pub value: String,
    pub reason: &'static str,
}

/// A number from the wire as a domain address: digits (an optional leading `+`) are TON
/// unknown, NPI ISDN; anything else is alphanumeric.
pub fn address_of(value: &str) -> Address {
    let digits = value.strip_prefix('+').unwrap_or(value);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        Address::new(Ton::UNKNOWN, Npi::ISDN, value)
    } else {
        Address::new(Ton::ALPHANUMERIC, Npi::UNKNOWN, value)
    }
}

/// A number for the wire: digits only (a leading `+` dropped), at most `width`.
pub fn terminal_number(address: &Address, width: usize, end: End) -> Result<String, BadNumber> {
    let bad = |reason| BadNumber {
        end,
        value: address.value.clone(),
        reason,
    };
    let digits = address.digits();
    if digits.is_empty() {
        return Err(bad("is empty"));
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("is not digits"));
    }
    if digits.len() > width {
        return Err(bad("is longer than the field"));
    }
    Ok(digits.to_owned())
}

/// One message per destination number (as a SUBMIT names up to 100, each routed and billed
/// alone): `template` to each. A number must be digits; any length that decoded fits.
pub fn per_destination(
    template: &Message,
    destinations: &[String],
) -> Result<Vec<Message>, BadNumber> {
    destinations
        .iter()
        .map(|value| {
            let destination = address_of(value);
            terminal_number(&destination, usize::MAX, End::Destination)?;
            Ok(Message {
                destination,
                ..template.clone()
            })
        })
        .collect()
}

/// The sender number for a message's `source`: the link's `prefix` followed by the
/// source's digits (unless they already start with it); the prefix alone for an empty or
/// alphanumeric source, which the protocols cannot carry (the reason when there is no
/// prefix); at most `width` digits.
pub fn sender_number(source: &Address, prefix: &str, width: usize) -> Result<String, BadNumber> {
    let bad = |reason| BadNumber {
        end: End::Source,
        value: source.value.clone(),
        reason,
    };
    let digits = source.digits();
    let numeric = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    let number = if numeric && digits.starts_with(prefix) {
        digits.to_owned()
    } else if numeric {
        format!("{prefix}{digits}")
    } else if !prefix.is_ascii() || prefix.bytes().any(|b| !b.is_ascii_digit()) {
        return Err(bad("has a sender prefix that is not digits"));
    } else if !prefix.is_empty() {
        prefix.to_owned()
    } else if digits.is_empty() {
        return Err(bad("is empty and the link has no sender prefix"));
    } else {
        return Err(bad("is not a number and the link has no sender prefix"));
    };
    if number.len() > width {
        return Err(bad("is longer than the field"));
    }
    Ok(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_isdn_and_the_rest_alphanumeric() {
        for value in ["13800138000", "+8613800138000"] {
            let a = address_of(value);
            assert_eq!(
                (a.ton, a.npi, a.value.as_str()),
                (Ton::UNKNOWN, Npi::ISDN, value)
            );
        }
        for value in ["Tern", "", "+", "138-0013"] {
            assert_eq!(address_of(value).ton, Ton::ALPHANUMERIC, "{value:?}");
        }
    }

    #[test]
    fn numbers_go_out_as_digits_that_fit() {
        let reason = |address: &Address, width| {
            terminal_number(address, width, End::Destination).map_err(|bad| bad.reason)
        };
        let international = Address::international("+8613800138000");
        assert_eq!(reason(&international, 21).as_deref(), Ok("8613800138000"));
        assert_eq!(reason(&international, 12), Err("is longer than the field"));
        assert_eq!(
            reason(&Address::alphanumeric("Tern"), 21),
            Err("is not digits")
        );
        assert_eq!(reason(&address_of(""), 21), Err("is empty"));
        let source = terminal_number(&address_of("abc"), 21, End::Source);
        assert_eq!(
            source.map_err(|bad| (bad.end, bad.value)),
            Err((End::Source, "abc".to_owned()))
        );
    }

    #[test]
    fn a_submit_is_one_message_per_destination() {
        let template = Message::text(address_of("10658"), Address::default(), "hi");
        let two = ["13800138000".to_owned(), "+8613900139000".to_owned()];
        let messages = per_destination(&template, &two).expect("numbers");
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[1].destination, address_of("+8613900139000"));
        assert_eq!(messages[1].body, template.body);
        let bad = ["13800138000".to_owned(), "abc".to_owned()];
        assert_eq!(
            per_destination(&template, &bad),
            Err(BadNumber {
                end: End::Destination,
                value: "abc".into(),
                reason: "is not digits"
            })
        );
    }

    #[test]
    fn senders_get_the_link_prefix() {
        let cases = [
            ("10658001", "10658001"),
            ("77", "1065877"),
            ("", "10658"),
            ("Tern", "10658"),
        ];
        for (source, expected) in cases {
            let source = Address::new(Ton::UNKNOWN, Npi::ISDN, source);
            assert_eq!(sender_number(&source, "10658", 21).as_deref(), Ok(expected));
        }
        let bad = sender_number(&Address::alphanumeric("Tern"), "", 21).expect_err("no prefix");
        assert_eq!((bad.end, bad.value.as_str()), (End::Source, "Tern"));
        assert!(sender_number(&address_of(""), "", 21).is_err());
        assert_eq!(
            sender_number(&address_of("+77"), "", 21).as_deref(),
            Ok("77")
        );
        let long = sender_number(&address_of("1234"), "10658", 8).expect_err("long");
        assert_eq!(long.reason, "is longer than the field");
    }
}
