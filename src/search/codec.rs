//! Byte encodings of the index: varints, posting blocks and document tables.
//!
//! A posting is one document's occurrences of one token: per field (title, lead, body) the
//! token positions. A block is the postings of one token for the documents of one id bucket,
//! in id order:
//!
//! ```text
//! block   := posting*
//! posting := varint(id - previous id, the first relative to the bucket's first id)
//!            mask(1 byte: bit f set when field f has occurrences)
//!            for each field in mask: varint(count) varint(position delta)*count
//! ```
//!
//! A document table holds, for the documents of one bucket, what ranking and date filters
//! need without touching the articles: `varint(id delta) zigzag(published seconds)
//! varint(len title) varint(len lead) varint(len body)` per document.
//!
//! Decoding never panics: truncated or corrupt bytes give [`Corrupt`].

/// Bytes that do not decode (a damaged index; `kessai reindex` rebuilds it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the search index holds bytes that do not decode (run `kessai reindex`)")]
pub struct Corrupt;

/// Appends `v` as a LEB128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a LEB128 varint at `*at`, advancing it.
pub fn get_varint(bytes: &[u8], at: &mut usize) -> Result<u64, Corrupt> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at).ok_or(Corrupt)?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(Corrupt)
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Appends the body of one posting (without its id): mask and per-field positions.
/// `fields[f]` must be ascending.
pub fn put_occurrences(out: &mut Vec<u8>, fields: &[Vec<u32>; 3]) {
    let mask = fields
        .iter()
        .enumerate()
        .fold(0u8, |m, (f, p)| if p.is_empty() { m } else { m | (1 << f) });
    out.push(mask);
    for positions in fields.iter().filter(|p| !p.is_empty()) {
        put_varint(out, positions.len() as u64);
        let mut prev = 0u32;
        for &p in positions {
            put_varint(out, u64::from(p - prev));
            prev = p;
        }
    }
}

/// Skips one posting body (as written by [`put_occurrences`]) without decoding it.
pub fn skip_occurrences(bytes: &[u8], at: &mut usize) -> Result<(), Corrupt> {
    let mask = *bytes.get(*at).ok_or(Corrupt)?;
    *at += 1;
    if mask == 0 || mask > 0b111 {
        return Err(Corrupt);
    }
    for _ in 0..mask.count_ones() {
        let n = get_varint(bytes, at)?;
        if n == 0 || n > (bytes.len() - (*at).min(bytes.len())) as u64 {
            return Err(Corrupt);
        }
        for _ in 0..n {
            get_varint(bytes, at)?;
        }
    }
    Ok(())
}

/// Postings of one token decoded from one or more blocks: ids ascending, and per posting
/// its positions per field, kept flat to avoid an allocation per posting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Postings {
    /// Document ids, ascending.
    pub ids: Vec<u64>,
    /// Per posting: occurrence counts in title, lead, body.
    pub counts: Vec<[u32; 3]>,
    /// Per posting: where its positions start in `positions`.
    starts: Vec<u32>,
    /// All positions, posting after posting, field after field.
    positions: Vec<u32>,
}

impl Postings {
    /// No postings.
    pub fn new() -> Postings {
        Postings::default()
    }

    /// How many documents.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The positions of posting `i` in field `f`.
    pub fn positions(&self, i: usize, f: usize) -> &[u32] {
        let c = self.counts[i];
        let start = self.starts[i] as usize + c[..f].iter().sum::<u32>() as usize;
        &self.positions[start..start + c[f] as usize]
    }

    /// The index of document `id`, by binary search.
    pub fn find(&self, id: u64) -> Option<usize> {
        self.ids.binary_search(&id).ok()
    }

    /// Appends one posting (ids must come in ascending order).
    #[cfg(test)]
    pub fn push(&mut self, id: u64, fields: &[Vec<u32>; 3]) {
        self.ids.push(id);
        self.counts.push([0, 1, 2].map(|f| fields[f].len() as u32));
        self.starts.push(self.positions.len() as u32);
        for positions in fields {
            self.positions.extend_from_slice(positions);
        }
    }

    /// Appends posting `i` of `other` (ids must stay ascending).
    pub fn push_from(&mut self, other: &Postings, i: usize) {
        let start = other.starts[i] as usize;
        let n: u32 = other.counts[i].iter().sum();
        self.ids.push(other.ids[i]);
        self.counts.push(other.counts[i]);
        self.starts.push(self.positions.len() as u32);
        self.positions
            .extend_from_slice(&other.positions[start..start + n as usize]);
    }

    /// Decodes one posting body (as written by [`put_occurrences`]) for document `id`. On
    /// error nothing is appended.
    pub fn push_encoded(&mut self, id: u64, bytes: &[u8], at: &mut usize) -> Result<(), Corrupt> {
        let before = self.positions.len();
        match self.decode_occurrences(bytes, at) {
            Ok(counts) => {
                self.ids.push(id);
                self.counts.push(counts);
                self.starts.push(before as u32);
                Ok(())
            }
            Err(e) => {
                self.positions.truncate(before);
                Err(e)
            }
        }
    }

    fn decode_occurrences(&mut self, bytes: &[u8], at: &mut usize) -> Result<[u32; 3], Corrupt> {
        let mask = *bytes.get(*at).ok_or(Corrupt)?;
        *at += 1;
        if mask == 0 || mask > 0b111 {
            return Err(Corrupt);
        }
        let mut counts = [0u32; 3];
        for (f, count) in counts.iter_mut().enumerate() {
            if mask & (1 << f) == 0 {
                continue;
            }
            let n = get_varint(bytes, at)?;
            // Each position takes at least one byte: a count beyond the bytes left is corrupt
            // (and would otherwise make us reserve absurd amounts of memory).
            if n == 0 || n > (bytes.len() - *at) as u64 {
                return Err(Corrupt);
            }
            let mut p = 0u64;
            for _ in 0..n {
                p = p.checked_add(get_varint(bytes, at)?).ok_or(Corrupt)?;
                self.positions.push(u32::try_from(p).map_err(|_| Corrupt)?);
            }
            *count = n as u32;
        }
        Ok(counts)
    }

    /// Decodes a block whose ids start at `base` and appends its postings. Blocks must be
    /// appended in id order.
    pub fn extend_from_block(&mut self, base: u64, bytes: &[u8]) -> Result<(), Corrupt> {
        let mut at = 0;
        let mut id = base;
        let mut first = true;
        while at < bytes.len() {
            let delta = get_varint(bytes, &mut at)?;
            if !first && delta == 0 {
                return Err(Corrupt);
            }
            id = id.checked_add(delta).ok_or(Corrupt)?;
            if self.ids.last().is_some_and(|&last| last >= id) {
                return Err(Corrupt);
            }
            first = false;
            self.push_encoded(id, bytes, &mut at)?;
        }
        Ok(())
    }
}

/// What ranking and date filters need to know about one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocInfo {
    /// The article id.
    pub id: u64,
    /// Publication time, seconds since the Unix epoch.
    pub published: i64,
    /// Token counts of title, lead and body.
    pub lens: [u32; 3],
}

/// Appends one document record with its id relative to `prev`.
pub fn put_doc(out: &mut Vec<u8>, prev: u64, doc: &DocInfo) {
    put_varint(out, doc.id - prev);
    put_doc_body(out, doc);
}

/// Appends a document record without its id.
pub fn put_doc_body(out: &mut Vec<u8>, doc: &DocInfo) {
    put_varint(out, zigzag(doc.published));
    for len in doc.lens {
        put_varint(out, u64::from(len));
    }
}

/// Reads a document record body for `id`.
pub fn get_doc_body(id: u64, bytes: &[u8], at: &mut usize) -> Result<DocInfo, Corrupt> {
    let published = unzigzag(get_varint(bytes, at)?);
    let mut lens = [0u32; 3];
    for len in &mut lens {
        *len = u32::try_from(get_varint(bytes, at)?).map_err(|_| Corrupt)?;
    }
    Ok(DocInfo {
        id,
        published,
        lens,
    })
}

/// Decodes a document table whose ids start at `base`, appending in id order.
pub fn get_docs(base: u64, bytes: &[u8], out: &mut Vec<DocInfo>) -> Result<(), Corrupt> {
    let mut at = 0;
    let mut id = base;
    let mut first = true;
    while at < bytes.len() {
        let delta = get_varint(bytes, &mut at)?;
        if !first && delta == 0 {
            return Err(Corrupt);
        }
        first = false;
        id = id.checked_add(delta).ok_or(Corrupt)?;
        out.push(get_doc_body(id, bytes, &mut at)?);
    }
    Ok(())
}

/// Encodes a document table (docs in ascending id order, every id >= base).
pub fn encode_docs(base: u64, docs: &[DocInfo]) -> Vec<u8> {
    let mut out = Vec::with_capacity(docs.len() * 8);
    let mut prev = base;
    for d in docs {
        put_doc(&mut out, prev, d);
        prev = d.id;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block as the index writes it: id deltas and occurrences.
    fn encode(p: &Postings, base: u64) -> Vec<u8> {
        let mut out = Vec::new();
        let mut prev = base;
        for i in 0..p.len() {
            put_varint(&mut out, p.ids[i] - prev);
            prev = p.ids[i];
            put_occurrences(&mut out, &[0, 1, 2].map(|f| p.positions(i, f).to_vec()));
        }
        out
    }

    #[test]
    fn varints_round_trip_and_reject_truncation() {
        for v in [0, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut at = 0;
            assert_eq!(get_varint(&b, &mut at), Ok(v));
            assert_eq!(at, b.len());
            if b.len() > 1 {
                assert_eq!(get_varint(&b[..b.len() - 1], &mut 0), Err(Corrupt));
            }
        }
        assert_eq!(get_varint(&[0xff; 11], &mut 0), Err(Corrupt));
        for v in [0i64, -1, 1, i64::MIN, i64::MAX, 1_700_000_000] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }

    #[test]
    fn blocks_round_trip() {
        let mut p = Postings::new();
        p.push(1030, &[vec![0], vec![], vec![3, 9, 200]]);
        p.push(1031, &[vec![], vec![5], vec![]]);
        p.push(2000, &[vec![], vec![], vec![70000]]);
        let block = encode(&p, 1024);
        let mut q = Postings::new();
        q.extend_from_block(1024, &block).unwrap();
        assert_eq!(p, q);
        assert_eq!(q.positions(0, 2), &[3, 9, 200]);
        assert_eq!(q.positions(1, 1), &[5]);
        assert_eq!(q.counts[0], [1, 0, 3]);
        assert_eq!(q.find(2000), Some(2));
        let mut r = Postings::new();
        r.push_from(&q, 2);
        assert_eq!(r.ids, vec![2000]);
        assert_eq!(r.positions(0, 2), &[70000]);
    }

    #[test]
    fn corrupt_blocks_are_errors_not_panics() {
        let mut p = Postings::new();
        p.push(5, &[vec![1, 2], vec![], vec![]]);
        p.push(9, &[vec![], vec![], vec![4]]);
        let block = encode(&p, 0);
        for cut in 0..block.len() {
            let mut q = Postings::new();
            // Any prefix either decodes to fewer postings or is reported corrupt.
            if q.extend_from_block(0, &block[..cut]).is_ok() {
                assert!(q.len() < 2);
            }
        }
        assert_eq!(Postings::new().extend_from_block(0, &[0, 0]), Err(Corrupt));
        assert_eq!(
            Postings::new().extend_from_block(0, &[0, 1, 0xff, 0xff, 0xff, 0x0f]),
            Err(Corrupt)
        );
        // Out-of-order blocks.
        let mut q = Postings::new();
        q.extend_from_block(0, &block).unwrap();
        assert_eq!(q.extend_from_block(0, &block), Err(Corrupt));
    }

    #[test]
    fn doc_tables_round_trip() {
        let docs = vec![
            DocInfo {
                id: 256,
                published: 1_567_000_000,
                lens: [12, 40, 800],
            },
            DocInfo {
                id: 300,
                published: -5,
                lens: [0, 0, 0],
            },
        ];
        let bytes = encode_docs(256, &docs);
        let mut out = Vec::new();
        get_docs(256, &bytes, &mut out).unwrap();
        assert_eq!(out, docs);
        assert!(get_docs(256, &bytes[..bytes.len() - 1], &mut Vec::new()).is_err());
    }

    proptest::proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = Postings::new().extend_from_block(0, &bytes);
            let _ = get_docs(0, &bytes, &mut Vec::new());
        }
    }
}
