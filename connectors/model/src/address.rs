//! Phone numbers and alphanumeric sender ids with their type of number and numbering plan.

use serde::{Deserialize, Serialize};

/// Type of number (SMPP 3.4 §5.2.5; CMPP carries none, so connectors infer it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Ton(pub u8);

impl Ton {
    pub const UNKNOWN: Ton = Ton(0);
    pub const INTERNATIONAL: Ton = Ton(1);
    pub const NATIONAL: Ton = Ton(2);
    pub const NETWORK_SPECIFIC: Ton = Ton(3);
    pub const SUBSCRIBER: Ton = Ton(4);
    pub const ALPHANUMERIC: Ton = Ton(5);
    pub const ABBREVIATED: Ton = Ton(6);
}

/// Numbering plan indicator (SMPP 3.4 §5.2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Npi(pub u8);

impl Npi {
    pub const UNKNOWN: Npi = Npi(0);
    pub const ISDN: Npi = Npi(1);
}

/// An address as the wire carries it: TON, NPI and the digits or alphanumeric text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Address {
    pub ton: Ton,
    pub npi: Npi,
    pub value: String,
}

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("address is empty")]
    Empty,
    #[error("address is {len} characters long, at most {max} are allowed")]
    TooLong { len: usize, max: usize },
    #[error("address contains {0:?}, which is not allowed for its type of number")]
    BadCharacter(char),
}

impl Address {
    pub fn new(ton: Ton, npi: Npi, value: impl Into<String>) -> Self {
        Self {
            ton,
            npi,
            value: value.into(),
        }
    }

    /// An international E.164 number (TON 1, NPI 1).
    pub fn international(digits: impl Into<String>) -> Self {
        Self::new(Ton::INTERNATIONAL, Npi::ISDN, digits)
    }

    /// An alphanumeric sender id (TON 5, NPI 0).
    pub fn alphanumeric(text: impl Into<String>) -> Self {
        Self::new(Ton::ALPHANUMERIC, Npi::UNKNOWN, text)
    }

    /// Checks the address against its type of number: digits (an optional leading `+`)
    /// for numeric types, at most 11 printable characters for alphanumeric senders
    /// (3GPP TS 23.040 §9.1.2.5), and `max` characters in any case.
    pub fn validate(&self, max: usize) -> Result<(), AddressError> {
        let len = self.value.chars().count();
        if len == 0 {
            return Err(AddressError::Empty);
        }
        if self.ton == Ton::ALPHANUMERIC {
            let max = max.min(11);
            if len > max {
                return Err(AddressError::TooLong { len, max });
            }
            if let Some(c) = self.value.chars().find(|c| c.is_control()) {
                return Err(AddressError::BadCharacter(c));
            }
            return Ok(());
        }
        if len > max {
            return Err(AddressError::TooLong { len, max });
        }
        let digits = self.value.strip_prefix('+').unwrap_or(&self.value);
        match digits.chars().find(|c| !c.is_ascii_digit()) {
            Some(c) => Err(AddressError::BadCharacter(c)),
            None if digits.is_empty() => Err(AddressError::Empty),
            None => Ok(()),
        }
    }

    /// The digits without a leading `+`, for prefix matching.
    pub fn digits(&self) -> &str {
        self.value.strip_prefix('+').unwrap_or(&self.value)
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_addresses_take_only_digits() {
        assert!(Address::international("4915112345678").validate(21).is_ok());
        assert!(Address::international("+4915112345678")
            .validate(21)
            .is_ok());
        assert_eq!(
            Address::international("49151x").validate(21),
            Err(AddressError::BadCharacter('x'))
        );
        assert_eq!(
            Address::international("+").validate(21),
            Err(AddressError::Empty)
        );
    }

    #[test]
    fn alphanumeric_senders_are_at_most_eleven_characters() {
        assert!(Address::alphanumeric("Tern Bank").validate(21).is_ok());
        assert_eq!(
            Address::alphanumeric("TwelveChars!").validate(21),
            Err(AddressError::TooLong { len: 12, max: 11 })
        );
    }
}
