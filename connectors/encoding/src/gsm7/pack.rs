//! Septet packing (3GPP TS 23.038 §6.1.2.1.1): septets are laid LSB first into
//! octets, so 8 septets fill 7 octets. When a User Data Header precedes the text,
//! TS 23.040 §9.2.3.24 inserts fill bits so the first septet starts on a septet
//! boundary counted from the start of the user data; [`FillBits`] carries that.

use thiserror::Error;

/// Zero bits put before the first septet (0..=6) so that packed text after a UDH
/// starts on a septet boundary (TS 23.040 §9.2.3.24).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FillBits(u8);

impl FillBits {
    /// No UDH, or one whose length is a multiple of 7 octets.
    pub const NONE: FillBits = FillBits(0);

    /// `None` when `bits` is 7 or more: a whole septet is never fill.
    pub const fn new(bits: u8) -> Option<Self> {
        if bits < 7 {
            Some(FillBits(bits))
        } else {
            None
        }
    }

    /// Fill bits after a UDH of `udh_octets` octets, counting its length octet:
    /// 1 bit after the 6-octet 8-bit-reference concat header, 0 after the 7-octet one.
    pub const fn after_udh(udh_octets: usize) -> Self {
        FillBits(((7 - (udh_octets * 8) % 7) % 7) as u8)
    }

    pub const fn get(self) -> u8 {
        self.0
    }
}

/// Why packed user data could not be unpacked.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UnpackError {
    #[error("{septets} septets after {fill} fill bits need {needed} octets, got {octets}")]
    Truncated {
        septets: usize,
        fill: u8,
        needed: usize,
        octets: usize,
    },
}

/// Octets that `septets` septets take when packed after `fill` bits.
pub const fn packed_len(septets: usize, fill: FillBits) -> usize {
    (septets * 7 + fill.0 as usize).div_ceil(8)
}

/// Packs `septets` after `fill` zero bits and appends the octets to `out`.
/// Only the low 7 bits of each input octet are used.
pub fn pack_into(septets: &[u8], fill: FillBits, out: &mut Vec<u8>) {
    out.reserve(packed_len(septets.len(), fill));
    let mut acc: u16 = 0;
    let mut bits = u32::from(fill.0);
    for &s in septets {
        acc |= u16::from(s & 0x7F) << bits;
        bits += 7;
        if bits >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            bits -= 8;
        }
    }
    if bits > 0 {
        out.push(acc as u8);
    }
}

/// The packed form of `septets` after `fill` zero bits.
pub fn pack(septets: &[u8], fill: FillBits) -> Vec<u8> {
    let mut out = Vec::with_capacity(packed_len(septets.len(), fill));
    pack_into(septets, fill, &mut out);
    out
}

/// Appends `septet_count` septets read from `octets` after `fill` bits to `out`.
/// The count comes from TP-UDL (or sm_length): the spare bits of the last octet
/// cannot tell a trailing '@' (septet 0) from padding. Extra octets are ignored.
pub fn unpack_into(
    octets: &[u8],
    fill: FillBits,
    septet_count: usize,
    out: &mut Vec<u8>,
) -> Result<(), UnpackError> {
    // Checked before reserving, so a hostile count costs nothing.
    let needed = septet_count
        .checked_mul(7)
        .and_then(|b| b.checked_add(usize::from(fill.0)))
        .map(|b| b.div_ceil(8));
    match needed {
        Some(needed) if needed <= octets.len() => {}
        _ => {
            return Err(UnpackError::Truncated {
                septets: septet_count,
                fill: fill.0,
                needed: needed.unwrap_or(usize::MAX),
                octets: octets.len(),
            })
        }
    }
    out.reserve(septet_count);
    let mut acc: u16 = 0;
    let mut bits: u32 = 0;
    let mut skip = u32::from(fill.0);
    let mut bytes = octets.iter();
    let mut produced = 0;
    while produced < septet_count {
        if bits < 7 {
            let Some(&b) = bytes.next() else { break };
            acc |= u16::from(b) << bits;
            bits += 8;
            if skip > 0 {
                acc >>= skip;
                bits -= skip;
                skip = 0;
            }
            continue;
        }
        out.push((acc & 0x7F) as u8);
        acc >>= 7;
        bits -= 7;
        produced += 1;
    }
    Ok(())
}

/// `septet_count` unpacked septets read from `octets` after `fill` bits.
pub fn unpack(octets: &[u8], fill: FillBits, septet_count: usize) -> Result<Vec<u8>, UnpackError> {
    let mut out = Vec::new();
    unpack_into(octets, fill, septet_count, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_packs_as_in_the_spec_example() {
        // "hellohello" is the classic TS 23.038 packing example.
        let septets = crate::gsm7::encode("hellohello").unwrap();
        assert_eq!(
            pack(&septets, FillBits::NONE),
            [0xE8, 0x32, 0x9B, 0xFD, 0x46, 0x97, 0xD9, 0xEC, 0x37]
        );
    }

    #[test]
    fn eight_septets_fill_seven_octets() {
        assert_eq!(pack(&[0x7F; 8], FillBits::NONE), [0xFF; 7]);
        assert_eq!(packed_len(8, FillBits::NONE), 7);
        assert_eq!(packed_len(153, FillBits::after_udh(6)), 134);
        assert_eq!(packed_len(152, FillBits::after_udh(7)), 133);
    }

    #[test]
    fn fill_bits_follow_the_udh_length() {
        assert_eq!(FillBits::after_udh(6).get(), 1);
        assert_eq!(FillBits::after_udh(7).get(), 0);
        assert_eq!(FillBits::after_udh(0).get(), 0);
        assert_eq!(FillBits::after_udh(1).get(), 6);
        assert_eq!(FillBits::new(7), None);
    }

    #[test]
    fn a_fill_bit_shifts_the_first_septet_up() {
        assert_eq!(pack(&[0x41], FillBits::after_udh(6)), [0x82]);
        assert_eq!(unpack(&[0x82], FillBits::after_udh(6), 1).unwrap(), [0x41]);
    }

    #[test]
    fn unpack_refuses_a_count_the_octets_cannot_hold() {
        let err = unpack(&[0xE8, 0x32], FillBits::NONE, 3).unwrap_err();
        assert_eq!(
            err,
            UnpackError::Truncated {
                septets: 3,
                fill: 0,
                needed: 3,
                octets: 2
            }
        );
        assert!(unpack(&[], FillBits::NONE, usize::MAX).is_err());
    }

    #[test]
    fn unpack_reads_a_trailing_at_sign_only_when_counted() {
        let packed = pack(&[0x41; 7], FillBits::NONE);
        assert_eq!(packed.len(), 7);
        assert_eq!(unpack(&packed, FillBits::NONE, 7).unwrap(), [0x41; 7]);
        assert_eq!(unpack(&packed, FillBits::NONE, 8).unwrap()[7], 0x00);
    }
}
