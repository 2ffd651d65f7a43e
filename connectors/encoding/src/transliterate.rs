//! Opt-in replacement of chars an alphabet lacks by look-alikes it has, so a
//! text can go as GSM 7-bit (160 a part) instead of UCS-2 (70 a part).
//!
//! Tables favour what a reader recognises: accents dropped unless GSM has the
//! accented letter (ő→ö, ç→Ç), typographic punctuation made plain, Greek kept
//! Greek in GSM's capitals, Cyrillic romanised. Anything else becomes '?'.

use std::borrow::Cow;

use crate::{gsm7, latin1, Alphabet};

/// What a char with no replacement becomes.
pub const FALLBACK: char = '?';

/// `text` with every char `target` lacks replaced; borrowed when nothing
/// needed replacing. UCS-2 and binary carry any text, so they never replace.
pub fn transliterate(text: &str, target: Alphabet) -> Cow<'_, str> {
    transliterate_with_loss(text, target).0
}

/// As [`transliterate`], also telling whether some char fell back to
/// [`FALLBACK`] (the reader lost information, not only accents).
pub fn transliterate_with_loss(text: &str, target: Alphabet) -> (Cow<'_, str>, bool) {
    let Some(first) = text.char_indices().find(|&(_, c)| !fits(c, target)) else {
        return (Cow::Borrowed(text), false);
    };
    let (kept, rest) = text.split_at(first.0);
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str(kept);
    let mut lossy = false;
    for c in rest.chars() {
        if fits(c, target) {
            out.push(c);
        } else if let Some(r) = replacement(c, target) {
            out.push_str(r);
        } else {
            out.push(FALLBACK);
            lossy = true;
        }
    }
    (Cow::Owned(out), lossy)
}

/// The replacement for `c` in `target`, if the tables have one that `target`
/// can encode. `None` for chars `target` already has.
pub fn replacement(c: char, target: Alphabet) -> Option<&'static str> {
    if fits(c, target) {
        return None;
    }
    let r = match target {
        Alphabet::Gsm7 => greek(c).map(|(gsm, _)| gsm).or_else(|| common(c)),
        Alphabet::Latin1 => greek(c).map(|(_, latin)| latin).or_else(|| common(c)),
        Alphabet::Ucs2 | Alphabet::Binary => None,
    }?;
    // Tables aim at GSM; an entry the target lacks is no replacement.
    r.chars().all(|r| fits(r, target)).then_some(r)
}

#[inline]
fn fits(c: char, target: Alphabet) -> bool {
    match target {
        Alphabet::Gsm7 => gsm7::char_septets(c).is_some(),
        Alphabet::Latin1 => latin1::is_char_representable(c),
        Alphabet::Ucs2 | Alphabet::Binary => true,
    }
}

/// Replacements aimed at GSM 7-bit, also right for Latin-1 where it is asked.
fn common(c: char) -> Option<&'static str> {
    let code = c as usize;
    let r = match c {
        '\u{A0}'..='\u{FF}' => LATIN1_SUPPLEMENT.get(code - 0xA0).copied(),
        '\u{100}'..='\u{17F}' => LATIN_EXTENDED_A.get(code - 0x100).copied(),
        '\u{400}'..='\u{45F}' => CYRILLIC.get(code - 0x400).copied(),
        _ => None,
    };
    r.or_else(|| punctuation(c))
}

fn punctuation(c: char) -> Option<&'static str> {
    Some(match c {
        '\t' => " ",
        '`' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '\u{02BC}'
        | '\u{2039}' | '\u{203A}' => "'",
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' => "\"",
        '\u{2010}'..='\u{2015}' | '\u{2212}' => "-",
        '\u{2026}' => "...",
        '\u{2022}' => "*",
        '\u{2044}' => "/",
        '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => " ",
        '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' => "",
        '\u{2028}' | '\u{2029}' => "\n",
        '\u{2122}' => "TM",
        '\u{2116}' => "No",
        '€' => "EUR",
        '\u{20BD}' => "RUB",
        '\u{20B4}' => "UAH",
        '\u{0192}' => "f",
        '\u{0218}' => "S",
        '\u{0219}' => "s",
        '\u{021A}' => "T",
        '\u{021B}' => "t",
        '\u{0490}' => "G",
        '\u{0491}' => "g",
        _ => return None,
    })
}

/// U+00A0..=U+00FF. Letters GSM has map to themselves; 'ç' becomes 'Ç', the
/// slot 0x09 held 'ç' in early GSM 03.38 and handsets render it either way.
#[rustfmt::skip]
const LATIN1_SUPPLEMENT: [&str; 96] = [
    " ", "¡", "c", "£", "¤", "¥", "|", "§", "\"", "(c)", "a", "\"", "-", "", "(R)", "-",
    "o", "+-", "2", "3", "'", "u", "P", ".", ",", "1", "o", "\"", "1/4", "1/2", "3/4", "¿",
    "A", "A", "A", "A", "Ä", "Å", "Æ", "Ç", "E", "É", "E", "E", "I", "I", "I", "I",
    "D", "Ñ", "O", "O", "O", "O", "Ö", "x", "Ø", "U", "U", "U", "Ü", "Y", "Th", "ß",
    "à", "a", "a", "a", "ä", "å", "æ", "Ç", "è", "é", "e", "e", "ì", "i", "i", "i",
    "d", "ñ", "ò", "o", "o", "o", "ö", "/", "ø", "ù", "u", "u", "ü", "y", "th", "y",
];

/// U+0100..=U+017F: base letter, except Hungarian ő/ű which read as ö/ü.
#[rustfmt::skip]
const LATIN_EXTENDED_A: [&str; 128] = [
    "A", "a", "A", "a", "A", "a", "C", "c", "C", "c", "C", "c", "C", "c", "D", "d",
    "D", "d", "E", "e", "E", "e", "E", "e", "E", "e", "E", "e", "G", "g", "G", "g",
    "G", "g", "G", "g", "H", "h", "H", "h", "I", "i", "I", "i", "I", "i", "I", "i",
    "I", "i", "IJ", "ij", "J", "j", "K", "k", "k", "L", "l", "L", "l", "L", "l", "L",
    "l", "L", "l", "N", "n", "N", "n", "N", "n", "'n", "N", "n", "O", "o", "O", "o",
    "Ö", "ö", "OE", "oe", "R", "r", "R", "r", "R", "r", "S", "s", "S", "s", "S", "s",
    "S", "s", "T", "t", "T", "t", "T", "t", "U", "u", "U", "u", "U", "u", "U", "u",
    "Ü", "ü", "U", "u", "W", "w", "Y", "y", "Y", "Z", "z", "Z", "z", "Z", "z", "s",
];

/// U+0400..=U+045F, a plain romanisation (Russian, Ukrainian, Serbian letters).
#[rustfmt::skip]
const CYRILLIC: [&str; 96] = [
    "E", "Yo", "Dj", "G", "Ye", "Dz", "I", "Yi", "J", "Lj", "Nj", "C", "K", "I", "U", "Dz",
    "A", "B", "V", "G", "D", "E", "Zh", "Z", "I", "Y", "K", "L", "M", "N", "O", "P",
    "R", "S", "T", "U", "F", "Kh", "Ts", "Ch", "Sh", "Shch", "'", "Y", "'", "E", "Yu", "Ya",
    "a", "b", "v", "g", "d", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p",
    "r", "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "'", "y", "'", "e", "yu", "ya",
    "e", "yo", "dj", "g", "ye", "dz", "i", "yi", "j", "lj", "nj", "c", "k", "i", "u", "dz",
];

/// Greek: (for GSM, for Latin-1). GSM has ten Greek capitals (TS 23.038
/// §6.2.1); the others are Latin look-alikes, and lower case is written in
/// capitals as Greek SMS commonly is. Latin-1 gets a romanisation.
fn greek(c: char) -> Option<(&'static str, &'static str)> {
    Some(match c {
        'Α' | 'Ά' => ("A", "A"),
        'α' | 'ά' => ("A", "a"),
        'Β' => ("B", "V"),
        'β' => ("B", "v"),
        'Γ' => ("Γ", "G"),
        'γ' => ("Γ", "g"),
        'Δ' => ("Δ", "D"),
        'δ' => ("Δ", "d"),
        'Ε' | 'Έ' => ("E", "E"),
        'ε' | 'έ' => ("E", "e"),
        'Ζ' => ("Z", "Z"),
        'ζ' => ("Z", "z"),
        'Η' | 'Ή' => ("H", "I"),
        'η' | 'ή' => ("H", "i"),
        'Θ' => ("Θ", "Th"),
        'θ' => ("Θ", "th"),
        'Ι' | 'Ί' | 'Ϊ' => ("I", "I"),
        'ι' | 'ί' | 'ϊ' | 'ΐ' => ("I", "i"),
        'Κ' => ("K", "K"),
        'κ' => ("K", "k"),
        'Λ' => ("Λ", "L"),
        'λ' => ("Λ", "l"),
        'Μ' => ("M", "M"),
        'μ' => ("M", "m"),
        'Ν' => ("N", "N"),
        'ν' => ("N", "n"),
        'Ξ' => ("Ξ", "X"),
        'ξ' => ("Ξ", "x"),
        'Ο' | 'Ό' => ("O", "O"),
        'ο' | 'ό' => ("O", "o"),
        'Π' => ("Π", "P"),
        'π' => ("Π", "p"),
        'Ρ' => ("P", "R"),
        'ρ' => ("P", "r"),
        'Σ' => ("Σ", "S"),
        'σ' | 'ς' => ("Σ", "s"),
        'Τ' => ("T", "T"),
        'τ' => ("T", "t"),
        'Υ' | 'Ύ' | 'Ϋ' => ("Y", "Y"),
        'υ' | 'ύ' | 'ϋ' | 'ΰ' => ("Y", "y"),
        'Φ' => ("Φ", "F"),
        'φ' => ("Φ", "f"),
        'Χ' => ("X", "Ch"),
        'χ' => ("X", "ch"),
        'Ψ' => ("Ψ", "Ps"),
        'ψ' => ("Ψ", "ps"),
        'Ω' | 'Ώ' => ("Ω", "O"),
        'ω' | 'ώ' => ("Ω", "o"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gsm(text: &str) -> String {
        transliterate(text, Alphabet::Gsm7).into_owned()
    }

    #[test]
    fn gsm_text_is_returned_borrowed() {
        let text = "Plain text, ÄÖÜ and €{}";
        assert!(matches!(transliterate(text, Alphabet::Gsm7), Cow::Borrowed(t) if t == text));
        assert!(matches!(
            transliterate("你好", Alphabet::Ucs2),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn typographic_punctuation_becomes_plain() {
        assert_eq!(gsm("‘a’ “b” – — … x\u{A0}y"), "'a' \"b\" - - ... x y");
    }

    #[test]
    fn accents_gsm_lacks_are_dropped_or_mapped_to_gsm_letters() {
        assert_eq!(gsm("á ê ç ő Ű ł ś ž"), "a e Ç ö Ü l s z");
        assert_eq!(gsm("è é ñ"), "è é ñ");
    }

    #[test]
    fn greek_is_written_in_gsm_capitals() {
        assert_eq!(gsm("Καλημέρα"), "KAΛHMEPA");
        assert_eq!(transliterate("Καλημέρα", Alphabet::Latin1), "Kalimera");
    }

    #[test]
    fn cyrillic_is_romanised() {
        assert_eq!(gsm("Привет, Щука!"), "Privet, Shchuka!");
    }

    #[test]
    fn unknown_chars_fall_back_and_are_reported_lossy() {
        assert_eq!(
            transliterate_with_loss("a😀b", Alphabet::Gsm7),
            (Cow::Owned("a?b".into()), true)
        );
        assert!(!transliterate_with_loss("ł", Alphabet::Gsm7).1);
    }

    #[test]
    fn latin1_target_keeps_latin1_letters() {
        assert_eq!(transliterate("ç “ő” €", Alphabet::Latin1), "ç \"ö\" EUR");
    }

    #[test]
    fn every_table_entry_is_gsm_encodable() {
        let ranges = [
            '\u{0}'..='\u{5FF}',
            '\u{2000}'..='\u{2BFF}',
            '\u{FEFF}'..='\u{FEFF}',
        ];
        for c in ranges.into_iter().flatten() {
            let table = greek(c).map(|(g, _)| g).or_else(|| common(c));
            if let Some(r) = table.filter(|_| !fits(c, Alphabet::Gsm7)) {
                assert!(gsm7::is_representable(r), "{c:?} -> {r:?}");
            }
        }
    }

    #[test]
    fn output_always_fits_the_target() {
        let text: String = ('\u{0}'..='\u{500}')
            .chain('\u{2000}'..='\u{2200}')
            .collect();
        assert!(gsm7::is_representable(&transliterate(
            &text,
            Alphabet::Gsm7
        )));
        assert!(latin1::is_representable(&transliterate(
            &text,
            Alphabet::Latin1
        )));
    }
}
