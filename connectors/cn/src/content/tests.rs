//! Formats, decoding and splitting, one behaviour a test.

use bytes::Bytes;
use tern_model::{Body, Coding};

use super::*;

fn text(s: &str) -> Body {
    Body::Text(s.into())
}

#[test]
fn formats_decode_by_their_value() {
    assert_eq!(decode(format::ASCII, b"hello", false), Ok(text("hello")));
    assert_eq!(decode(format::ASCII, &[0xe9], false), Ok(text("é")));
    assert_eq!(
        decode(format::GB, &[0xc4, 0xe3, 0xba, 0xc3], false),
        Ok(text("你好"))
    );
    assert_eq!(
        decode(format::UCS2, &[0xd8, 0x3d, 0xde, 0x00], false),
        Ok(text("😀"))
    );
    for binary in [format::BINARY, format::CARD, 9] {
        assert_eq!(
            decode(binary, &[0xff, 0x00], false),
            Ok(Body::Binary(Bytes::from_static(&[0xff, 0x00])))
        );
        assert_eq!(coding_of(binary), Coding::Binary);
    }
    assert_eq!(
        [format::ASCII, format::UCS2, format::GB].map(coding_of),
        [Coding::Ascii, Coding::Ucs2, Coding::Gbk]
    );
}

#[test]
fn undecodable_text_fails_unless_it_is_a_part() {
    for (format, octets) in [
        (format::UCS2, &[0x4f, 0x60, 0x59][..]),
        (format::UCS2, &[0xd8, 0x3d][..]),
        (format::GB, &[0xc4][..]),
    ] {
        assert!(matches!(
            decode(format, octets, false),
            Err(ContentError::Undecodable { format: f, .. }) if f == format
        ));
    }
    // Half a surrogate pair, or half a GB character, in a part is kept for reassembly.
    for (format, octets) in [(format::UCS2, &[0xd8, 0x3d][..]), (format::GB, &[0xc4][..])] {
        assert_eq!(
            decode(format, octets, true),
            Ok(Body::Binary(Bytes::copy_from_slice(octets)))
        );
    }
}

#[test]
fn text_goes_out_as_ascii_then_gbk_when_asked_then_ucs2() {
    assert_eq!(
        encode(&text("hello"), Coding::Ucs2, true).format,
        format::ASCII
    );
    let gbk = encode(&text("你好"), Coding::Ucs2, true);
    assert_eq!(
        (gbk.format, gbk.octets),
        (format::GB, vec![0xc4, 0xe3, 0xba, 0xc3])
    );
    let ucs2 = encode(&text("你好"), Coding::Gbk, false);
    assert_eq!(
        (ucs2.format, ucs2.octets),
        (format::UCS2, vec![0x4f, 0x60, 0x59, 0x7d])
    );
    assert_eq!(
        encode(&text("你好😀"), Coding::Ucs2, true).format,
        format::UCS2,
        "GBK has no emoji"
    );
}

#[test]
fn binary_keeps_its_octets_and_says_what_text_they_are() {
    let raw = Body::Binary(Bytes::from_static(&[0xd8, 0x3d]));
    for (coding, expected) in [
        (Coding::Ucs2, format::UCS2),
        (Coding::Gbk, format::GB),
        (Coding::Binary, format::BINARY),
    ] {
        let encoded = encode(&raw, coding, false);
        assert_eq!(
            (encoded.format, &encoded.octets[..]),
            (expected, &[0xd8, 0x3d][..])
        );
    }
}

#[test]
fn one_part_when_the_whole_fits_beside_the_signature() {
    let ascii = encode(&text(&"a".repeat(159)), Coding::Ascii, false);
    assert_eq!(ascii.split(0, 255, 159).map(|p| p.len()), Ok(1));
    assert_eq!(ascii.split(1, 255, 159).map(|p| p.len()), Ok(2));
    assert_eq!(ascii.split(1, 255, 160).map(|p| p.len()), Ok(1));
    let chinese = encode(&text(&"中".repeat(68)), Coding::Ucs2, false);
    assert_eq!(chinese.split(2, 255, 159).map(|p| p.len()), Ok(1));
    assert_eq!(chinese.split(3, 255, 159).map(|p| p.len()), Ok(2));
}

#[test]
fn long_text_splits_between_characters_with_room_for_the_signature() {
    let chinese = encode(&text(&"短信".repeat(60)), Coding::Ucs2, false);
    // 134 - 12 = 122 octets a part: 61 characters.
    let parts = chinese.split(6, 255, 159).expect("splits");
    assert_eq!(
        parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
        [122, 118]
    );
    // Without a signature: 67 characters a part.
    let parts = chinese.split(0, 255, 159).expect("splits");
    assert_eq!(
        parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
        [134, 106]
    );
    // An emoji (two UTF-16 units) is never cut.
    let emoji = encode(&text(&"😀".repeat(40)), Coding::Ucs2, false);
    for part in emoji.split(1, 255, 159).expect("splits") {
        assert_eq!(part.len() % 4, 0);
    }
    // 153 ASCII characters a part, whatever a single message takes.
    let ascii = encode(&text(&"a".repeat(400)), Coding::Ascii, false);
    for max_ascii in [159, 160] {
        let parts = ascii.split(0, 255, max_ascii).expect("splits");
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [153, 153, 94]
        );
    }
}

#[test]
fn too_many_parts_or_no_room_at_all_is_refused() {
    let ascii = encode(&text(&"a".repeat(400)), Coding::Ascii, false);
    assert_eq!(
        ascii.split(0, 2, 159),
        Err(ContentError::TooManyParts { needed: 3, max: 2 })
    );
    let chinese = encode(&text(&"中".repeat(100)), Coding::Ucs2, false);
    assert_eq!(
        chinese.split(67, 255, 159),
        Err(ContentError::TooLong { octets: 2, max: 0 })
    );
}

#[test]
fn limits_are_per_format() {
    assert_eq!(max_content(format::ASCII, 159), 159);
    assert_eq!(max_content(format::ASCII, 160), 160);
    for other in [format::UCS2, format::GB, format::BINARY] {
        assert_eq!(max_content(other, 160), MAX_CONTENT);
    }
    assert!(is_text(format::GB) && !is_text(format::BINARY) && !is_text(format::CARD));
}
