//! Deciding a document's character set and decoding it to UTF-8.
//!
//! Order of evidence: a byte-order mark; the HTTP `Content-Type` charset; the document's own
//! declaration (XML declaration, `<meta charset>`, `<meta http-equiv="Content-Type">`); then
//! detection (chardetng) when nothing is declared or the bytes are not valid in what was
//! declared. A Shift_JIS page that claims UTF-8 is decoded as Shift_JIS; bytes that fit no
//! Japanese-capable encoding are an error, never stored as mojibake.
//!
//! feed-rs decodes by the XML declaration itself, so [`decode_xml`] also rewrites the
//! declaration to say UTF-8 after transcoding (see notes/feed-charsets.md).

use std::borrow::Cow;
use std::fmt;

use encoding_rs::{EUC_JP, Encoding, ISO_2022_JP, SHIFT_JIS, UTF_8, UTF_16BE, UTF_16LE};

/// How far into a document declarations are looked for.
const PRESCAN_BYTES: usize = 8 * 1024;
/// How much of a document the detector reads (plenty to tell Japanese encodings apart).
const DETECT_BYTES: usize = 256 * 1024;

/// What kind of document the bytes are, which decides the declarations looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    /// XML (RSS, Atom): the XML declaration.
    Xml,
    /// HTML: `<meta charset>` and `<meta http-equiv>`.
    Html,
    /// JSON: no in-document declaration.
    Json,
    /// Not known: look for both XML and HTML declarations.
    Unknown,
}

/// Where the charset decision came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CharsetSource {
    /// A byte-order mark.
    Bom,
    /// `charset=` in the HTTP Content-Type.
    Header,
    /// `<?xml ... encoding="..."?>`.
    XmlDeclaration,
    /// `<meta charset="...">`.
    MetaCharset,
    /// `<meta http-equiv="Content-Type" content="...; charset=...">`.
    MetaHttpEquiv,
    /// Nothing declared (or the declaration was wrong): chardetng's guess.
    Detected,
}

impl fmt::Display for CharsetSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CharsetSource::Bom => "byte-order mark",
            CharsetSource::Header => "HTTP Content-Type",
            CharsetSource::XmlDeclaration => "XML declaration",
            CharsetSource::MetaCharset => "<meta charset>",
            CharsetSource::MetaHttpEquiv => "<meta http-equiv>",
            CharsetSource::Detected => "detection",
        })
    }
}

/// A declaration found for a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declared {
    /// The encoding it names.
    pub encoding: &'static Encoding,
    /// Where it was found.
    pub source: CharsetSource,
}

/// Why bytes could not be turned into text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CharsetError {
    /// NUL bytes in a document that is not UTF-16: binary data, not text.
    #[error("body is binary data, not text (NUL bytes at offset {offset})")]
    Binary {
        /// Offset of the first NUL byte.
        offset: usize,
    },
    /// The bytes are not valid in the declared encoding nor in any detected one.
    #[error(
        "body is not valid {declared} (declared by {declared_by}) and detection found no encoding that fits ({bad} malformed sequences in {best})"
    )]
    Undecodable {
        /// The encoding declared.
        declared: &'static str,
        /// Where it was declared.
        declared_by: CharsetSource,
        /// The encoding that fitted best.
        best: &'static str,
        /// Malformed sequences in the best fit.
        bad: usize,
    },
    /// The bytes read without error as both Shift_JIS and EUC-JP (and not as what was
    /// declared), and neither reading looks like Japanese prose: storing either could be
    /// mojibake.
    #[error(
        "body reads as both Shift_JIS and EUC-JP and neither is plausible Japanese text{}; declare the charset",
        declared.map(|d| format!(" (declared {d} does not fit)")).unwrap_or_default()
    )]
    Ambiguous {
        /// The encoding declared, when one was.
        declared: Option<&'static str>,
    },
    /// Nothing declared and the detected encoding does not fit either.
    #[error(
        "body declares no charset and is not valid in any detected encoding ({bad} malformed sequences in {best})"
    )]
    Undetectable {
        /// The encoding that fitted best.
        best: &'static str,
        /// Malformed sequences in it.
        bad: usize,
    },
}

/// The text of a document and how it was decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The document as UTF-8, without a BOM.
    pub text: String,
    /// The encoding used.
    pub encoding: &'static Encoding,
    /// Why that encoding.
    pub source: CharsetSource,
    /// The declaration that was overruled because the bytes contradicted it.
    pub overruled: Option<Declared>,
    /// Malformed sequences replaced with U+FFFD (only a handful are tolerated).
    pub replaced: usize,
}

/// The most malformed sequences tolerated in an otherwise clean decode (a character cut in
/// half at the end of a truncated body, a stray byte in a footer).
const MAX_TOLERATED_ERRORS: usize = 16;

/// Whether `errors` malformed sequences are few enough to decode with replacements: at most
/// [`MAX_TOLERATED_ERRORS`] and at most one per hundred non-ASCII bytes.
fn tolerable(errors: usize, bytes: &[u8]) -> bool {
    if errors == 0 {
        return true;
    }
    let non_ascii = bytes.iter().filter(|b| !b.is_ascii()).count();
    errors <= MAX_TOLERATED_ERRORS && errors.saturating_mul(100) <= non_ascii
}

/// Decodes a document to UTF-8.
///
/// Detection only ever picks UTF-8, Shift_JIS, EUC-JP or ISO-2022-JP: single-byte encodings
/// accept any byte sequence, so "detecting" one would turn garbage into plausible-looking
/// text. Other encodings are used when declared and the bytes fit them.
pub fn decode(
    bytes: &[u8],
    content_type: Option<&str>,
    kind: DocKind,
) -> Result<Decoded, CharsetError> {
    if let Some((enc, bom_len)) = Encoding::for_bom(bytes) {
        let (text, replaced) = decode_with(enc, &bytes[bom_len..]);
        return Ok(Decoded {
            text,
            encoding: enc,
            source: CharsetSource::Bom,
            overruled: None,
            replaced,
        });
    }
    if let Some(offset) = bytes.iter().take(PRESCAN_BYTES).position(|&b| b == 0) {
        return Err(CharsetError::Binary { offset });
    }
    let Some(decl) = declared_charset(bytes, content_type, kind) else {
        let (best, errors) =
            best_japanese_fit(bytes).ok_or(CharsetError::Ambiguous { declared: None })?;
        if tolerable(errors, bytes) {
            return Ok(lossy(bytes, best, CharsetSource::Detected, None));
        }
        return Err(CharsetError::Undetectable {
            best: best.name(),
            bad: errors,
        });
    };

    let errors = count_errors(decl.encoding, bytes);
    if decl.encoding != UTF_8 && !bytes.is_ascii() && std::str::from_utf8(bytes).is_ok() {
        // Japanese legacy text is practically never valid UTF-8, so valid UTF-8 with
        // multi-byte characters is UTF-8 whatever the label says (a transcoded feed that
        // kept its old declaration).
        return Ok(lossy(bytes, UTF_8, CharsetSource::Detected, Some(decl)));
    }
    if errors == 0 {
        // Shift_JIS and EUC-JP can each read the other's bytes as (wrong) text without an
        // error; when the detector is sure of the other one and it fits too, believe it.
        if let Some(other) = japanese_sibling(decl.encoding) {
            let (guess, sure) = detect(bytes);
            let fits = count_errors(other, bytes) == 0;
            // Or when only the other reading has hiragana: Japanese prose always does, and
            // neither encoding's bytes read as hiragana in the other.
            if fits
                && (sure && guess == other
                    || hiragana(other, bytes) > hiragana(decl.encoding, bytes))
            {
                return Ok(lossy(bytes, other, CharsetSource::Detected, Some(decl)));
            }
        }
        return Ok(lossy(bytes, decl.encoding, decl.source, None));
    }
    let (best, best_errors) = best_japanese_fit(bytes).ok_or(CharsetError::Ambiguous {
        declared: Some(decl.encoding.name()),
    })?;
    if best_errors < errors && tolerable(best_errors, bytes) {
        return Ok(lossy(bytes, best, CharsetSource::Detected, Some(decl)));
    }
    if tolerable(errors, bytes) {
        return Ok(lossy(bytes, decl.encoding, decl.source, None));
    }
    Err(CharsetError::Undecodable {
        declared: decl.encoding.name(),
        declared_by: decl.source,
        best: best.name(),
        bad: best_errors.min(errors),
    })
}

/// The detection candidates, in order of preference when they fit equally well.
const CANDIDATES: [&Encoding; 4] = [UTF_8, SHIFT_JIS, EUC_JP, ISO_2022_JP];

/// Hiragana characters in `bytes` read as `enc`. Japanese prose is full of them, and
/// neither Shift_JIS nor EUC-JP bytes read as hiragana in the other (Shift_JIS hiragana
/// need the lead byte 0x82, which EUC-JP never has; EUC-JP hiragana bytes are half-width
/// katakana to Shift_JIS), so this tells the two apart where byte validity cannot.
fn hiragana(enc: &'static Encoding, bytes: &[u8]) -> usize {
    let (text, _) = enc.decode_without_bom_handling(bytes);
    text.chars()
        .filter(|c| ('\u{3041}'..='\u{309f}').contains(c))
        .count()
}

/// The candidate with the fewest malformed sequences; between Shift_JIS and EUC-JP the one
/// whose reading has hiragana; other ties go to chardetng's guess (with a Japanese TLD
/// hint), then to the order of [`CANDIDATES`]. `None` when Shift_JIS and EUC-JP fit
/// equally (well enough to be used) and neither reading has more hiragana: either could be
/// mojibake.
fn best_japanese_fit(bytes: &[u8]) -> Option<(&'static Encoding, usize)> {
    let scored: Vec<(&'static Encoding, usize)> = CANDIDATES
        .iter()
        .map(|&e| (e, count_errors(e, bytes)))
        .collect();
    let min = scored.iter().map(|&(_, n)| n).min().unwrap_or(0);
    let tied: Vec<&'static Encoding> = scored
        .iter()
        .filter(|&&(_, n)| n == min)
        .map(|&(e, _)| e)
        .collect();
    if tolerable(min, bytes)
        && !tied.contains(&UTF_8)
        && tied.contains(&SHIFT_JIS)
        && tied.contains(&EUC_JP)
    {
        let (s, e) = (hiragana(SHIFT_JIS, bytes), hiragana(EUC_JP, bytes));
        return match s.cmp(&e) {
            std::cmp::Ordering::Greater => Some((SHIFT_JIS, min)),
            std::cmp::Ordering::Less => Some((EUC_JP, min)),
            std::cmp::Ordering::Equal => None,
        };
    }
    let pick = if tied.len() > 1 {
        let (guess, _) = detect(bytes);
        if tied.contains(&guess) {
            guess
        } else {
            tied[0]
        }
    } else {
        tied.first().copied().unwrap_or(UTF_8)
    };
    Some((pick, min))
}

/// Decodes an XML document and rewrites its declaration to say UTF-8, so that an XML
/// parser that honours the declaration reads the transcoded text correctly.
pub fn decode_xml(bytes: &[u8], content_type: Option<&str>) -> Result<Decoded, CharsetError> {
    let mut decoded = decode(bytes, content_type, DocKind::Xml)?;
    if let Cow::Owned(fixed) = rewrite_xml_declaration(&decoded.text) {
        decoded.text = fixed;
    }
    Ok(decoded)
}

/// Replaces the `encoding="..."` of a leading XML declaration with `encoding="UTF-8"`.
pub fn rewrite_xml_declaration(text: &str) -> Cow<'_, str> {
    let start = text.len() - text.trim_start().len();
    let rest = &text[start..];
    if !rest.starts_with("<?xml") {
        return Cow::Borrowed(text);
    }
    let Some(end) = rest.find("?>") else {
        return Cow::Borrowed(text);
    };
    let decl = &rest[..end];
    let Some((vstart, vend)) = pseudo_attr_value(decl.as_bytes(), b"encoding") else {
        return Cow::Borrowed(text);
    };
    if decl[vstart..vend].eq_ignore_ascii_case("utf-8") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..start + vstart]);
    out.push_str("UTF-8");
    out.push_str(&text[start + vend..]);
    Cow::Owned(out)
}

/// The charset a document declares: HTTP header first, then the document itself.
pub fn declared_charset(
    bytes: &[u8],
    content_type: Option<&str>,
    kind: DocKind,
) -> Option<Declared> {
    if let Some(enc) = content_type.and_then(header_charset) {
        return Some(Declared {
            encoding: enc,
            source: CharsetSource::Header,
        });
    }
    let head = &bytes[..bytes.len().min(PRESCAN_BYTES)];
    if matches!(kind, DocKind::Xml | DocKind::Unknown)
        && let Some(enc) = xml_declaration_charset(head)
    {
        return Some(Declared {
            encoding: enc,
            source: CharsetSource::XmlDeclaration,
        });
    }
    if matches!(kind, DocKind::Html | DocKind::Unknown) {
        return meta_charset(head);
    }
    None
}

/// The encoding named by `charset=` in a Content-Type value.
pub fn header_charset(content_type: &str) -> Option<&'static Encoding> {
    content_type.split(';').skip(1).find_map(|param| {
        let (k, v) = param.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("charset") {
            return None;
        }
        label_to_encoding(v.trim().trim_matches(|c| c == '"' || c == '\'').as_bytes())
    })
}

fn xml_declaration_charset(head: &[u8]) -> Option<&'static Encoding> {
    let start = head.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = &head[start..];
    if !rest.starts_with(b"<?xml") {
        return None;
    }
    let end = find(rest, b"?>")?;
    let decl = &rest[..end];
    let (s, e) = pseudo_attr_value(decl, b"encoding")?;
    label_to_encoding(&decl[s..e])
}

/// Finds `name = "value"` (or single-quoted) in a declaration; returns the value's range.
fn pseudo_attr_value(decl: &[u8], name: &[u8]) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(pos) = find(&decl[from..], name) {
        let mut i = from + pos + name.len();
        from = i;
        while decl.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        if decl.get(i) != Some(&b'=') {
            continue;
        }
        i += 1;
        while decl.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        let quote = *decl.get(i)?;
        if quote != b'"' && quote != b'\'' {
            continue;
        }
        let vstart = i + 1;
        let vlen = decl[vstart..].iter().position(|&b| b == quote)?;
        return Some((vstart, vstart + vlen));
    }
    None
}

/// `<meta charset>` or `<meta http-equiv content="...charset=...">` in the head bytes.
fn meta_charset(head: &[u8]) -> Option<Declared> {
    let lower: Vec<u8> = head.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = find(&lower[from..], b"<meta") {
        let tag_start = from + pos;
        let tag_end = lower[tag_start..]
            .iter()
            .position(|&b| b == b'>')
            .map_or(lower.len(), |e| tag_start + e);
        let tag = &lower[tag_start..tag_end];
        from = tag_end.max(tag_start + 5);
        let Some(cpos) = find(tag, b"charset") else {
            continue;
        };
        let mut i = cpos + b"charset".len();
        while tag.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        if tag.get(i) != Some(&b'=') {
            continue;
        }
        i += 1;
        while tag
            .get(i)
            .is_some_and(|b| b.is_ascii_whitespace() || *b == b'"' || *b == b'\'')
        {
            i += 1;
        }
        let label_len = tag[i..]
            .iter()
            .position(|b| !(b.is_ascii_alphanumeric() || b"-_:.".contains(b)))
            .unwrap_or(tag.len() - i);
        if let Some(enc) = label_to_encoding(&tag[i..i + label_len]) {
            let source = if find(tag, b"http-equiv").is_some() {
                CharsetSource::MetaHttpEquiv
            } else {
                CharsetSource::MetaCharset
            };
            return Some(Declared {
                encoding: enc,
                source,
            });
        }
    }
    None
}

/// Maps a charset label to an encoding, the way browsers do. A declaration of UTF-16 found
/// by reading ASCII bytes is a lie, so it means UTF-8; the "replacement" encoding is refused.
fn label_to_encoding(label: &[u8]) -> Option<&'static Encoding> {
    let enc = Encoding::for_label(label)?;
    if enc == UTF_16LE || enc == UTF_16BE {
        return Some(UTF_8);
    }
    if enc == encoding_rs::REPLACEMENT {
        return None;
    }
    Some(enc)
}

fn japanese_sibling(enc: &'static Encoding) -> Option<&'static Encoding> {
    if enc == SHIFT_JIS {
        Some(EUC_JP)
    } else if enc == EUC_JP {
        Some(SHIFT_JIS)
    } else {
        None
    }
}

/// chardetng's guess and whether it is confident.
fn detect(bytes: &[u8]) -> (&'static Encoding, bool) {
    let mut det = chardetng::EncodingDetector::new();
    let sample = &bytes[..bytes.len().min(DETECT_BYTES)];
    det.feed(sample, sample.len() == bytes.len());
    det.guess_assess(Some(b"jp"), true)
}

/// Counts malformed sequences when decoding `bytes` as `enc`, without building the text.
fn count_errors(enc: &'static Encoding, bytes: &[u8]) -> usize {
    if enc == UTF_8 && std::str::from_utf8(bytes).is_ok() {
        return 0;
    }
    let mut decoder = enc.new_decoder_without_bom_handling();
    let mut buf = [0u8; 8192];
    let mut input = bytes;
    let mut errors = 0;
    loop {
        let (result, read, _written) =
            decoder.decode_to_utf8_without_replacement(input, &mut buf, true);
        input = &input[read..];
        match result {
            encoding_rs::DecoderResult::InputEmpty => return errors,
            encoding_rs::DecoderResult::OutputFull => {}
            encoding_rs::DecoderResult::Malformed(_, _) => errors += 1,
        }
    }
}

fn decode_with(enc: &'static Encoding, bytes: &[u8]) -> (String, usize) {
    let (text, _had_errors) = enc.decode_without_bom_handling(bytes);
    let replaced = text.matches('\u{fffd}').count();
    (text.into_owned(), replaced)
}

fn lossy(
    bytes: &[u8],
    enc: &'static Encoding,
    source: CharsetSource,
    overruled: Option<Declared>,
) -> Decoded {
    let (text, replaced) = decode_with(enc, bytes);
    Decoded {
        text,
        encoding: enc,
        source,
        overruled,
        replaced,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const JA: &str = "セブン・ペイは4日、スマートフォン決済「7pay」で不正利用が発生したと発表した。\
        被害は約900人、総額約5500万円に上る。二要素認証を導入していなかったことが原因とみられる。\
        金融庁は資金移動業者に対し、本人確認の徹底を求めている。";

    fn enc(e: &'static Encoding, s: &str) -> Vec<u8> {
        let (b, _, unmappable) = e.encode(s);
        assert!(!unmappable);
        b.into_owned()
    }

    fn xml(encoding_label: Option<&str>, body: &str) -> String {
        let decl = match encoding_label {
            Some(l) => format!("<?xml version=\"1.0\" encoding=\"{l}\"?>\n"),
            None => String::new(),
        };
        format!("{decl}<rss version=\"2.0\"><channel><title>{body}</title></channel></rss>")
    }

    #[test]
    fn shift_jis_by_xml_declaration() {
        let bytes = enc(SHIFT_JIS, &xml(Some("Shift_JIS"), JA));
        let d = decode_xml(&bytes, Some("application/rdf+xml")).unwrap();
        assert_eq!(d.encoding, SHIFT_JIS);
        assert_eq!(d.source, CharsetSource::XmlDeclaration);
        assert!(d.text.contains(JA));
        assert!(
            d.text
                .starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        );
        assert_eq!(d.replaced, 0);
    }

    #[test]
    fn euc_jp_by_header_overrides_nothing_and_decodes() {
        let bytes = enc(EUC_JP, &xml(Some("EUC-JP"), JA));
        let d = decode_xml(&bytes, Some("application/atom+xml; charset=EUC-JP")).unwrap();
        assert_eq!(d.encoding, EUC_JP);
        assert_eq!(d.source, CharsetSource::Header);
        assert!(d.text.contains(JA));
        assert!(d.text.contains("encoding=\"UTF-8\""));
    }

    #[test]
    fn header_only_shift_jis_without_declaration() {
        let bytes = enc(SHIFT_JIS, &xml(None, JA));
        let d = decode_xml(&bytes, Some("text/xml; charset=\"shift_jis\"")).unwrap();
        assert_eq!(d.encoding, SHIFT_JIS);
        assert!(d.text.contains(JA));
    }

    #[test]
    fn shift_jis_claiming_utf8_is_detected() {
        let bytes = enc(SHIFT_JIS, &xml(Some("UTF-8"), JA));
        let d = decode_xml(&bytes, Some("application/rss+xml; charset=utf-8")).unwrap();
        assert_eq!(d.encoding, SHIFT_JIS);
        assert_eq!(d.source, CharsetSource::Detected);
        assert_eq!(d.overruled.unwrap().source, CharsetSource::Header);
        assert!(d.text.contains(JA));
    }

    #[test]
    fn utf8_claiming_shift_jis_is_utf8() {
        let bytes = xml(Some("Shift_JIS"), JA).into_bytes();
        let d = decode_xml(&bytes, None).unwrap();
        assert_eq!(d.encoding, UTF_8);
        assert!(d.overruled.is_some());
        assert!(d.text.contains(JA));
        assert!(d.text.contains("encoding=\"UTF-8\""));
    }

    #[test]
    fn euc_jp_claiming_shift_jis_is_caught() {
        let html = format!(
            "<html><head><meta charset=\"Shift_JIS\"></head><body><p>{JA}</p><p>{JA}</p></body></html>"
        );
        let bytes = enc(EUC_JP, &html);
        let d = decode(&bytes, None, DocKind::Html).unwrap();
        assert_eq!(d.encoding, EUC_JP);
        assert!(d.text.contains(JA));
    }

    #[test]
    fn meta_charset_and_http_equiv() {
        let html = format!("<html><head><META CHARSET=euc-jp></head><body>{JA}</body></html>");
        let d = decode(&enc(EUC_JP, &html), Some("text/html"), DocKind::Html).unwrap();
        assert_eq!((d.encoding, d.source), (EUC_JP, CharsetSource::MetaCharset));
        assert!(d.text.contains(JA));

        let html = format!(
            "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=Shift_JIS\"></head><body>{JA}</body></html>"
        );
        let d = decode(&enc(SHIFT_JIS, &html), None, DocKind::Html).unwrap();
        assert_eq!(
            (d.encoding, d.source),
            (SHIFT_JIS, CharsetSource::MetaHttpEquiv)
        );
        assert!(d.text.contains(JA));
    }

    #[test]
    fn undeclared_shift_jis_and_euc_jp_are_detected() {
        for e in [SHIFT_JIS, EUC_JP] {
            let html = format!("<html><body><div><p>{JA}</p></div></body></html>");
            let d = decode(&enc(e, &html), Some("text/html"), DocKind::Html).unwrap();
            assert_eq!(d.encoding, e);
            assert_eq!(d.source, CharsetSource::Detected);
            assert!(d.text.contains(JA));
        }
        // Even a short headline.
        let d = decode(
            &enc(SHIFT_JIS, "セブンペイで不正利用"),
            None,
            DocKind::Unknown,
        )
        .unwrap();
        assert_eq!(d.text, "セブンペイで不正利用");
    }

    #[test]
    fn bom_wins() {
        let mut bytes = vec![0xEF, 0xBB, 0xBF];
        bytes.extend_from_slice(xml(Some("Shift_JIS"), JA).as_bytes());
        let d = decode(&bytes, Some("text/xml; charset=euc-jp"), DocKind::Xml).unwrap();
        assert_eq!((d.encoding, d.source), (UTF_8, CharsetSource::Bom));
        assert!(d.text.starts_with("<?xml"));
        let (utf16, _, _) = UTF_16LE.encode("x");
        assert!(utf16.len() <= 1, "encoding_rs encodes UTF-16 as UTF-8");
        let mut bytes = vec![0xFF, 0xFE];
        for u in "<a>決済</a>".encode_utf16() {
            bytes.extend_from_slice(&u.to_le_bytes());
        }
        let d = decode(&bytes, None, DocKind::Xml).unwrap();
        assert_eq!(d.text, "<a>決済</a>");
    }

    #[test]
    fn binary_and_garbage_are_errors() {
        let bin = [0x89, b'P', b'N', b'G', 0, 0, 0, 13, 0xff, 0x00];
        assert!(matches!(
            decode(&bin, Some("text/xml"), DocKind::Xml),
            Err(CharsetError::Binary { offset: 4 })
        ));
        // Bytes that are malformed in every candidate (0x80/0xA0/0xFD-0xFF are invalid lead
        // bytes in Shift_JIS, EUC-JP and UTF-8 alike).
        let garbage: Vec<u8> = (0..2000)
            .map(|i| [0x80u8, 0xA0, 0xFD, 0xFF][i % 4])
            .collect();
        let err = decode(&garbage, Some("text/html; charset=utf-8"), DocKind::Html).unwrap_err();
        assert!(matches!(err, CharsetError::Undecodable { .. }), "{err}");
        assert!(err.to_string().contains("declared by HTTP Content-Type"));
        let err = decode(&garbage, None, DocKind::Html).unwrap_err();
        assert!(matches!(err, CharsetError::Undetectable { .. }), "{err}");
    }

    #[test]
    fn a_cut_character_is_tolerated_and_counted() {
        let mut bytes = enc(SHIFT_JIS, &format!("<p>{JA}</p>"));
        bytes.push(0x82); // a lead byte with no trail, as when a body is cut
        let d = decode(&bytes, Some("text/html; charset=Shift_JIS"), DocKind::Html).unwrap();
        assert_eq!(d.encoding, SHIFT_JIS);
        assert_eq!(d.replaced, 1);
    }

    #[test]
    fn declared_single_byte_is_honoured_but_never_guessed() {
        let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode("<p>Caf\u{e9} cr\u{e8}me</p>");
        let d = decode(&bytes, Some("text/html; charset=iso-8859-1"), DocKind::Html).unwrap();
        assert_eq!(d.text, "<p>Caf\u{e9} cr\u{e8}me</p>");
        assert!(decode(&bytes, None, DocKind::Html).is_err());
    }

    #[test]
    fn iso_2022_jp_is_detected() {
        let d = decode(&enc(ISO_2022_JP, JA), None, DocKind::Unknown).unwrap();
        assert_eq!(d.encoding, ISO_2022_JP);
        assert_eq!(d.text, JA);
    }

    #[test]
    fn unknown_labels_are_ignored() {
        let bytes = enc(SHIFT_JIS, &xml(Some("x-klingon"), JA));
        let d = decode_xml(&bytes, Some("text/xml; charset=bogus")).unwrap();
        assert_eq!((d.encoding, d.source), (SHIFT_JIS, CharsetSource::Detected));
        // The declaration is rewritten even though its label was unknown.
        assert!(d.text.contains("encoding=\"UTF-8\""));
    }

    #[test]
    fn declaration_rewrite_cases() {
        assert_eq!(
            rewrite_xml_declaration(
                "  <?xml version='1.0' encoding = 'EUC-JP' standalone='yes'?><a/>"
            ),
            "  <?xml version='1.0' encoding = 'UTF-8' standalone='yes'?><a/>"
        );
        assert!(matches!(
            rewrite_xml_declaration("<?xml version=\"1.0\"?><a/>"),
            Cow::Borrowed(_)
        ));
        assert!(matches!(
            rewrite_xml_declaration("<?xml encoding=\"utf-8\"?>"),
            Cow::Borrowed(_)
        ));
        assert!(matches!(
            rewrite_xml_declaration("<?xml encoding="),
            Cow::Borrowed(_)
        ));
        assert!(matches!(rewrite_xml_declaration("<a/>"), Cow::Borrowed(_)));
    }

    #[test]
    fn decoded_xml_parses_with_feed_rs() {
        for (e, label) in [(SHIFT_JIS, "Shift_JIS"), (EUC_JP, "EUC-JP")] {
            let doc = format!(
                "<?xml version=\"1.0\" encoding=\"{label}\"?><rss version=\"2.0\"><channel><title>t</title>\
                 <item><title>{JA}</title><link>http://127.0.0.1/a</link></item></channel></rss>"
            );
            let d = decode_xml(&enc(e, &doc), None).unwrap();
            let feed = feed_rs::parser::parse(d.text.as_bytes()).unwrap();
            assert_eq!(feed.entries[0].title.as_ref().unwrap().content, JA);
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048),
                                       ct in proptest::option::of("[ -~]{0,40}")) {
            for kind in [DocKind::Xml, DocKind::Html, DocKind::Json, DocKind::Unknown] {
                if let Ok(d) = decode(&bytes, ct.as_deref(), kind) {
                    prop_assert!(d.replaced <= MAX_TOLERATED_ERRORS || d.source == CharsetSource::Bom);
                }
            }
            let _ = decode_xml(&bytes, ct.as_deref());
        }

        /// Japanese text in Shift_JIS or EUC-JP whose header claims UTF-8 (or another of
        /// the two) is decoded to exactly the text, or refused: never stored as mojibake.
        /// A claim of the sibling encoding that the bytes happen to fit is only caught in
        /// prose (text with hiragana), which is what feeds carry.
        #[test]
        fn lying_declarations_decode_right_or_fail(
            words in proptest::collection::vec(
                proptest::sample::select(vec![
                    "決済", "不正利用", "セブンペイ", "二要素認証", "ｶﾀｶﾅ", "みずほ銀行", "、", "。",
                    "（", "）", "「", "」", "約1.8万件", "J-Coin Pay", " ", "が", "を", "発表した",
                    "ドコモ口座", "漏えい", "～", "高", "ー",
                ]),
                4..40,
            ),
            real in proptest::sample::select(vec!["Shift_JIS", "EUC-JP"]),
            claimed in proptest::sample::select(vec!["utf-8", "Shift_JIS", "EUC-JP", "iso-2022-jp"]),
            kind in proptest::sample::select(vec![DocKind::Xml, DocKind::Html, DocKind::Unknown]),
        ) {
            let text = format!("<p>{}</p>", words.concat());
            let prose = text.chars().any(|c| ('\u{3041}'..='\u{309f}').contains(&c));
            proptest::prop_assume!(prose || !matches!(claimed, "Shift_JIS" | "EUC-JP"));
            let encoding = Encoding::for_label(real.as_bytes()).unwrap();
            let (bytes, _, unmappable) = encoding.encode(&text);
            proptest::prop_assume!(!unmappable);
            let ct = format!("text/html; charset={claimed}");
            if let Ok(d) = decode(&bytes, Some(&ct), kind) {
                prop_assert_eq!(&d.text, &text, "{} claimed {} read as {}", real, claimed, d.encoding.name());
            }
            // With nothing declared: detected right, or refused.
            if let Ok(d) = decode(&bytes, None, kind) {
                prop_assert_eq!(&d.text, &text, "{} undeclared read as {}", real, d.encoding.name());
            }
        }

        #[test]
        fn declarations_anywhere_never_panic(prefix in "[ -~]{0,30}", label in "[ -~]{0,20}", tail in ".{0,50}") {
            let doc = format!("{prefix}<?xml encoding=\"{label}\"?><meta charset={label}>{tail}");
            let _ = decode(doc.as_bytes(), None, DocKind::Unknown);
            let _ = rewrite_xml_declaration(&doc);
        }
    }
}
