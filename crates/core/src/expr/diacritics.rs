//! `normalize_diacritics`: accented Latin letters folded to ASCII, for userNames and email
//! local parts that apps restrict to ASCII.
//!
//! Coverage, by a hand-written table: every letter of Latin-1 Supplement (U+00C0–U+00FF) and
//! Latin Extended-A (U+0100–U+017F), which covers the Western, Central and Northern European
//! languages. Letters that are not an accented base letter get their usual transliteration
//! (ß → ss, æ → ae, ø → o, þ → th, ł → l, đ → d, ı → i, ĳ → ij). Combining accents (U+0300–U+036F,
//! as in decomposed input "e\u{301}") are dropped. Everything else, e.g. Greek, Cyrillic or CJK,
//! is kept unchanged: a lossy transliteration of other scripts is a decision for the admin
//! (`regex_replace`), not a default.

use std::borrow::Cow;

use super::error::EvalError;

/// `s` with accented Latin letters folded to ASCII (as [`normalize`], which cannot fail).
pub(crate) fn fold_to_ascii(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match fold(c) {
            Some(ascii) => out.push_str(ascii),
            None if is_combining_accent(c) => {}
            None => out.push(c),
        }
    }
    out
}

pub(crate) fn normalize(value: Cow<'_, str>) -> Result<Cow<'_, str>, EvalError> {
    if value.is_ascii() {
        return Ok(value);
    }
    Ok(Cow::Owned(match value {
        Cow::Borrowed(s) => {
            let mut out = String::with_capacity(s.len());
            for c in s.chars() {
                match fold(c) {
                    Some(ascii) => out.push_str(ascii),
                    None if is_combining_accent(c) => {}
                    None => out.push(c),
                }
            }
            out
        }
        Cow::Owned(s) => in_place(s),
    }))
}

/// Folds an owned value without a second buffer: in the mapping `normalize_diacritics(concat(...))`
/// this saves the allocation per person. It works because no fold is longer than its letter:
/// every letter in the table and every combining accent takes two bytes in UTF-8 and folds to at
/// most two ASCII bytes, so the write position never passes the read position.
fn in_place(s: String) -> String {
    let mut bytes = s.into_bytes();
    let (mut read, mut write) = (0, 0);
    while read < bytes.len() {
        let first = bytes[read];
        if first.is_ascii() {
            bytes[write] = first;
            write += 1;
            read += 1;
            continue;
        }
        let width = utf8_width(first).min(bytes.len() - read);
        // Everything folded is a two-byte character, decoded here without re-validating; the
        // bytes ahead of `read` are still the original, valid UTF-8.
        let folded = match bytes.get(read + 1) {
            Some(&second) if width == 2 => char::from_u32((u32::from(first & 0x1f) << 6) | u32::from(second & 0x3f))
                .and_then(|c| if is_combining_accent(c) { Some("") } else { fold(c).filter(|f| f.len() <= width) }),
            _ => None,
        };
        match folded {
            Some(ascii) => {
                bytes[write..write + ascii.len()].copy_from_slice(ascii.as_bytes());
                write += ascii.len();
            }
            None => {
                bytes.copy_within(read..read + width, write);
                write += width;
            }
        }
        read += width;
    }
    bytes.truncate(write);
    // Whole characters were copied or replaced by ASCII, so this is valid UTF-8; the lossy path
    // only keeps the function total.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn utf8_width(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

fn is_combining_accent(c: char) -> bool {
    ('\u{300}'..='\u{36f}').contains(&c)
}

fn fold(c: char) -> Option<&'static str> {
    Some(match c {
        'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' | 'Ā' | 'Ă' | 'Ą' => "A",
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'Æ' => "AE",
        'æ' => "ae",
        'Ç' | 'Ć' | 'Ĉ' | 'Ċ' | 'Č' => "C",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'Ð' | 'Ď' | 'Đ' => "D",
        'ð' | 'ď' | 'đ' => "d",
        'È' | 'É' | 'Ê' | 'Ë' | 'Ē' | 'Ĕ' | 'Ė' | 'Ę' | 'Ě' => "E",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'Ĝ' | 'Ğ' | 'Ġ' | 'Ģ' => "G",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'Ĥ' | 'Ħ' => "H",
        'ĥ' | 'ħ' => "h",
        'Ì' | 'Í' | 'Î' | 'Ï' | 'Ĩ' | 'Ī' | 'Ĭ' | 'Į' | 'İ' => "I",
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'Ĳ' => "IJ",
        'ĳ' => "ij",
        'Ĵ' => "J",
        'ĵ' => "j",
        'Ķ' => "K",
        'ķ' | 'ĸ' => "k",
        'Ĺ' | 'Ļ' | 'Ľ' | 'Ŀ' | 'Ł' => "L",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'Ñ' | 'Ń' | 'Ņ' | 'Ň' | 'Ŋ' => "N",
        'ñ' | 'ń' | 'ņ' | 'ň' | 'ŉ' | 'ŋ' => "n",
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' | 'Ō' | 'Ŏ' | 'Ő' => "O",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
        'Œ' => "OE",
        'œ' => "oe",
        'Ŕ' | 'Ŗ' | 'Ř' => "R",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'Ś' | 'Ŝ' | 'Ş' | 'Š' => "S",
        'ś' | 'ŝ' | 'ş' | 'š' | 'ſ' => "s",
        'ß' => "ss",
        'Ţ' | 'Ť' | 'Ŧ' => "T",
        'ţ' | 'ť' | 'ŧ' => "t",
        'Þ' => "TH",
        'þ' => "th",
        'Ù' | 'Ú' | 'Û' | 'Ü' | 'Ũ' | 'Ū' | 'Ŭ' | 'Ů' | 'Ű' | 'Ų' => "U",
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'Ŵ' => "W",
        'ŵ' => "w",
        'Ý' | 'Ŷ' | 'Ÿ' => "Y",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'Ź' | 'Ż' | 'Ž' => "Z",
        'ź' | 'ż' | 'ž' => "z",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(input: &str) -> (String, String) {
        let borrowed = normalize(Cow::Borrowed(input)).map(Cow::into_owned).unwrap_or_default();
        let owned = normalize(Cow::Owned(input.to_owned())).map(Cow::into_owned).unwrap_or_default();
        (borrowed, owned)
    }

    #[test]
    fn in_place_and_copying_paths_agree_on_the_whole_table() {
        let mut all = String::new();
        for c in ('\u{c0}'..='\u{17f}').chain('\u{300}'..='\u{36f}').chain(['€', '東', '😀', 'Ω', 'x']) {
            all.push(c);
            all.push('.');
            let (b, o) = both(&c.to_string());
            assert_eq!(b, o, "{c:?}");
            if let Some(f) = fold(c) {
                assert!(f.is_ascii() && f.len() <= c.len_utf8(), "{c:?} folds to {f:?}");
            }
        }
        let (b, o) = both(&all);
        assert_eq!(b, o);
        assert!(!b.contains('é') && b.contains('東') && b.contains('😀'));
    }

    #[test]
    fn every_latin_letter_in_coverage_folds_to_ascii() {
        for c in ('\u{c0}'..='\u{17f}').filter(|c| !matches!(c, '×' | '÷')) {
            assert!(fold(c).is_some(), "{c:?} (U+{:04X}) is not folded", c as u32);
        }
    }
}
