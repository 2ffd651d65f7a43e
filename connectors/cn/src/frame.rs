//! Splitting frames off a read buffer, which CMPP, SGIP, SMGP and CNGP do alike: a frame
//! starts with its whole length (header included) as a big-endian u32, and that length is
//! checked against the header's length and the decoder's maximum before any memory is
//! reserved for it. What follows the length in the header, and how a body is read, is each
//! protocol's.

use bytes::BytesMut;

/// The big-endian u32 at `at` in `header`; 0 when `header` ends before it.
pub fn word(header: &[u8], at: usize) -> u32 {
    let mut bytes = [0u8; 4];
    if let Some(src) = header.get(at..at + 4) {
        bytes.copy_from_slice(src);
    }
    u32::from_be_bytes(bytes)
}

/// Takes the next frame, header included, off `buf`. `Ok(None)`: not all of it is
/// buffered yet (at most the missing octets have been reserved). A length outside
/// `header_len..=max_len` is `Err` with that length, before anything is reserved, and
/// leaves `buf` as it was: the stream cannot be framed any more.
pub fn next_frame(
    buf: &mut BytesMut,
    header_len: usize,
    max_len: usize,
) -> Result<Option<BytesMut>, u32> {
    if buf.len() < header_len {
        return Ok(None);
    }
    let total_length = word(&buf[..], 0);
    let length = usize::try_from(total_length).unwrap_or(usize::MAX);
    if !(header_len..=max_len).contains(&length) {
        return Err(total_length);
    }
    if buf.len() < length {
        // Bounded by max_len through the check above.
        buf.reserve(length - buf.len());
        return Ok(None);
    }
    Ok(Some(buf.split_to(length)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_split_off_once_it_is_all_there() {
        let mut buf = BytesMut::from(&[0, 0, 0, 6, 1, 2, 3][..]);
        let frame = next_frame(&mut buf, 4, 64);
        assert_eq!(frame, Ok(Some(BytesMut::from(&[0, 0, 0, 6, 1, 2][..]))));
        assert_eq!(&buf[..], &[3]);
        assert_eq!(next_frame(&mut buf, 4, 64), Ok(None));
    }

    #[test]
    fn a_length_outside_the_bounds_leaves_the_buffer_as_it_was() {
        let mut buf = BytesMut::from(&[0, 0, 0, 3, 9][..]);
        assert_eq!(next_frame(&mut buf, 4, 64), Err(3));
        let mut long = BytesMut::from(&[0, 0, 1, 0][..]);
        assert_eq!(next_frame(&mut long, 4, 64), Err(256));
        assert_eq!(buf.len(), 5);
        assert_eq!(long.len(), 4);
    }

    #[test]
    fn words_past_the_header_are_zero() {
        assert_eq!(word(&[0, 0, 1, 2, 7], 0), 258);
        assert_eq!(word(&[0, 0, 1, 2, 7], 2), 0);
    }
}
