//! User Data Header (3GPP TS 23.040 §9.2.3.24): splitting it from the user data
//! and reading the concatenation IEs (§9.2.3.24.1 8-bit and §9.2.3.24.8 16-bit
//! reference). Every length is checked against the octets actually present.

use thiserror::Error;

/// IEI of concatenated short messages with an 8-bit reference.
pub const IEI_CONCAT_8: u8 = 0x00;
/// IEI of concatenated short messages with a 16-bit reference.
pub const IEI_CONCAT_16: u8 = 0x08;

/// Where a part sits in a concatenated message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConcatInfo {
    /// The 8-bit reference widened, or the 16-bit one.
    pub reference: u16,
    pub total: u8,
    /// 1-based.
    pub seq: u8,
}

/// Concatenation numbers that TS 23.040 §9.2.3.24.1 says to ignore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ConcatError {
    #[error("concatenated message claims 0 parts")]
    ZeroTotal,
    #[error("part sequence number 0")]
    ZeroSeq,
    #[error("part {seq} of a message of {total} parts")]
    SeqAboveTotal { seq: u8, total: u8 },
}

impl ConcatInfo {
    /// Checks total ≥ 1 and 1 ≤ seq ≤ total.
    pub fn validate(&self) -> Result<(), ConcatError> {
        if self.total == 0 {
            Err(ConcatError::ZeroTotal)
        } else if self.seq == 0 {
            Err(ConcatError::ZeroSeq)
        } else if self.seq > self.total {
            Err(ConcatError::SeqAboveTotal {
                seq: self.seq,
                total: self.total,
            })
        } else {
            Ok(())
        }
    }
}

/// Why a UDH could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UdhError {
    #[error("UDHI is set but the user data is empty")]
    Empty,
    #[error("UDH length {udhl} exceeds the {available} octets after it")]
    HeaderTooLong { udhl: usize, available: usize },
    #[error("UDH length octet says {udhl}, but {actual} octets follow it")]
    LengthMismatch { udhl: usize, actual: usize },
    #[error("IE 0x{iei:02X} at octet {offset} runs past the end of the UDH")]
    TruncatedIe { iei: u8, offset: usize },
    #[error("concatenation IE 0x{iei:02X} has length {len}, expected {expected}")]
    ConcatLength {
        iei: u8,
        len: usize,
        expected: usize,
    },
    #[error("concatenation IE: {0}")]
    Concat(#[from] ConcatError),
}

/// Splits user data whose UDHI bit is set into (UDH with its length octet, the
/// rest). For packed GSM text the rest starts with
/// [`FillBits::after_udh`](crate::gsm7::FillBits::after_udh) of the UDH length.
pub fn split_user_data(user_data: &[u8]) -> Result<(&[u8], &[u8]), UdhError> {
    let (&udhl, after) = user_data.split_first().ok_or(UdhError::Empty)?;
    let udhl = usize::from(udhl);
    if udhl > after.len() {
        return Err(UdhError::HeaderTooLong {
            udhl,
            available: after.len(),
        });
    }
    Ok(user_data.split_at(udhl + 1))
}

/// Reads the concatenation IE of `udh` (length octet included), skipping every
/// other IE. `Ok(None)` when there is none. Per §9.2.3.24 a non-repeatable IE
/// given twice counts by its last occurrence, which covers a UDH carrying both
/// the 8- and 16-bit forms. Out-of-range numbers are an error; the spec has the
/// receiver then ignore the IE and treat the message as unsegmented.
pub fn parse_concat_udh(udh: &[u8]) -> Result<Option<ConcatInfo>, UdhError> {
    let (&udhl, mut ies) = udh.split_first().ok_or(UdhError::Empty)?;
    if usize::from(udhl) != ies.len() {
        return Err(UdhError::LengthMismatch {
            udhl: usize::from(udhl),
            actual: ies.len(),
        });
    }
    let mut found = None;
    let mut offset = 1;
    while let Some((&iei, rest)) = ies.split_first() {
        let truncated = UdhError::TruncatedIe { iei, offset };
        let Some((&len, rest)) = rest.split_first() else {
            return Err(truncated);
        };
        let len = usize::from(len);
        if len > rest.len() {
            return Err(truncated);
        }
        let (data, rest) = rest.split_at(len);
        match (iei, data) {
            (IEI_CONCAT_8, &[reference, total, seq]) => {
                found = Some(ConcatInfo {
                    reference: u16::from(reference),
                    total,
                    seq,
                })
            }
            (IEI_CONCAT_16, &[hi, lo, total, seq]) => {
                found = Some(ConcatInfo {
                    reference: u16::from_be_bytes([hi, lo]),
                    total,
                    seq,
                })
            }
            (IEI_CONCAT_8 | IEI_CONCAT_16, _) => {
                return Err(UdhError::ConcatLength {
                    iei,
                    len,
                    expected: if iei == IEI_CONCAT_8 { 3 } else { 4 },
                })
            }
            _ => {}
        }
        offset += 2 + len;
        ies = rest;
    }
    if let Some(info) = &found {
        info.validate()?;
    }
    Ok(found)
}

/// The 6-octet UDH of part `seq` of `total` with an 8-bit reference.
pub const fn concat_udh8(reference: u8, total: u8, seq: u8) -> [u8; 6] {
    [0x05, IEI_CONCAT_8, 0x03, reference, total, seq]
}

/// The 7-octet UDH of part `seq` of `total` with a 16-bit reference.
pub const fn concat_udh16(reference: u16, total: u8, seq: u8) -> [u8; 7] {
    let [hi, lo] = reference.to_be_bytes();
    [0x06, IEI_CONCAT_16, 0x04, hi, lo, total, seq]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_bit_reference_header_is_read() {
        let info = parse_concat_udh(&concat_udh8(0xAB, 3, 2)).unwrap();
        assert_eq!(
            info,
            Some(ConcatInfo {
                reference: 0xAB,
                total: 3,
                seq: 2
            })
        );
    }

    #[test]
    fn sixteen_bit_reference_header_is_read_among_other_ies() {
        // Port addressing (IEI 0x05) before the concat IE must be skipped.
        let udh = [
            0x0C, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x08, 0x04, 0x12, 0x34, 0x02, 0x01,
        ];
        assert_eq!(
            parse_concat_udh(&udh).unwrap(),
            Some(ConcatInfo {
                reference: 0x1234,
                total: 2,
                seq: 1
            })
        );
    }

    #[test]
    fn header_without_concat_ie_is_none() {
        assert_eq!(
            parse_concat_udh(&[0x04, 0x05, 0x02, 0x0B, 0x84]).unwrap(),
            None
        );
        assert_eq!(parse_concat_udh(&[0x00]).unwrap(), None);
    }

    #[test]
    fn the_last_concat_ie_wins() {
        let udh = [
            0x0A, 0x00, 0x03, 0x01, 0x02, 0x01, 0x00, 0x03, 0x07, 0x04, 0x03,
        ];
        assert_eq!(
            parse_concat_udh(&udh).unwrap().map(|i| i.reference),
            Some(7)
        );
    }

    #[test]
    fn malformed_headers_are_typed_errors() {
        assert_eq!(parse_concat_udh(&[]), Err(UdhError::Empty));
        assert_eq!(
            parse_concat_udh(&[0x05, 0x00, 0x03, 0x01]),
            Err(UdhError::LengthMismatch { udhl: 5, actual: 3 })
        );
        assert_eq!(
            parse_concat_udh(&[0x03, 0x00, 0x03, 0x01]),
            Err(UdhError::TruncatedIe { iei: 0, offset: 1 })
        );
        assert_eq!(
            parse_concat_udh(&[0x01, 0x00]),
            Err(UdhError::TruncatedIe { iei: 0, offset: 1 })
        );
        assert_eq!(
            parse_concat_udh(&[0x04, 0x00, 0x02, 0x01, 0x02]),
            Err(UdhError::ConcatLength {
                iei: 0,
                len: 2,
                expected: 3
            })
        );
    }

    #[test]
    fn out_of_range_numbers_are_refused() {
        let err = |total, seq| parse_concat_udh(&concat_udh8(1, total, seq)).unwrap_err();
        assert_eq!(err(0, 0), UdhError::Concat(ConcatError::ZeroTotal));
        assert_eq!(err(2, 0), UdhError::Concat(ConcatError::ZeroSeq));
        assert_eq!(
            err(2, 3),
            UdhError::Concat(ConcatError::SeqAboveTotal { seq: 3, total: 2 })
        );
    }

    #[test]
    fn user_data_splits_after_the_header() {
        let ud = [0x05, 0x00, 0x03, 0x01, 0x02, 0x01, b'h', b'i'];
        assert_eq!(split_user_data(&ud).unwrap(), (&ud[..6], &b"hi"[..]));
        assert_eq!(split_user_data(&[0x00]).unwrap(), (&[0x00][..], &[][..]));
        assert_eq!(split_user_data(&[]), Err(UdhError::Empty));
        assert_eq!(
            split_user_data(&[0x05, 0x00]),
            Err(UdhError::HeaderTooLong {
                udhl: 5,
                available: 1
            })
        );
    }

    #[test]
    fn builders_match_the_spec_layout() {
        assert_eq!(
            concat_udh8(0x42, 2, 1),
            [0x05, 0x00, 0x03, 0x42, 0x02, 0x01]
        );
        assert_eq!(
            concat_udh16(0x0102, 2, 1),
            [0x06, 0x08, 0x04, 0x01, 0x02, 0x02, 0x01]
        );
    }
}
