//! Byte encodings of the index: varints, occurrences, posting blocks, document tables.
//!
//! An occurrence list is one document's occurrences of one token:
//!
//! ```text
//! occ     := mask(1 byte: bit f set when field f — title, lead, body — has occurrences)
//!            varint(count) for each field in mask
//!            varint(position delta)*count for each field in mask
//! ```
//!
//! Counts come first so that ranking reads them without decoding positions; positions are
//! decoded only where a phrase needs them. A posting block holds one token's postings for
//! ascending ids:
//!
//! ```text
//! block   := last id (u64 BE) posting*
//! posting := varint(id − previous id; the first relative to the block's first id)
//!            varint(len) occ[len]
//! ```
//!
//! A document table holds, for the 256 ids of one bucket, whether each is indexed and what
//! ranking and date filters need: a presence bitmap (32 bytes), then per slot the
//! publication time (i64 milliseconds, BE) and the token counts of title, lead and body
//! (u32 BE each): fixed width, so a slot is read without decoding the others.
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

/// Appends an occurrence list (without a length). `fields[f]` must be ascending.
pub fn put_occurrences(out: &mut Vec<u8>, fields: &[Vec<u32>; 3]) {
    let mask = fields
        .iter()
        .enumerate()
        .fold(0u8, |m, (f, p)| if p.is_empty() { m } else { m | (1 << f) });
    out.push(mask);
    for positions in fields.iter().filter(|p| !p.is_empty()) {
        put_varint(out, positions.len() as u64);
    }
    for positions in fields.iter().filter(|p| !p.is_empty()) {
        let mut prev = 0u32;
        for &p in positions {
            put_varint(out, u64::from(p - prev));
            prev = p;
        }
    }
}

/// Appends an occurrence list with its length first (as postings carry it).
#[cfg(test)]
pub fn put_sized_occurrences(out: &mut Vec<u8>, fields: &[Vec<u32>; 3]) {
    let mut occ = Vec::with_capacity(8);
    put_occurrences(&mut occ, fields);
    put_varint(out, occ.len() as u64);
    out.extend_from_slice(&occ);
}

/// Reads a length-prefixed occurrence list at `*at`, returning its bytes.
pub fn get_sized<'a>(bytes: &'a [u8], at: &mut usize) -> Result<&'a [u8], Corrupt> {
    let len = get_varint(bytes, at)? as usize;
    let end = at.checked_add(len).ok_or(Corrupt)?;
    let occ = bytes.get(*at..end).ok_or(Corrupt)?;
    *at = end;
    Ok(occ)
}

/// The counts per field of an occurrence list, and where its positions start.
fn occ_header(occ: &[u8]) -> Result<([u32; 3], usize), Corrupt> {
    let mask = *occ.first().ok_or(Corrupt)?;
    if mask == 0 || mask > 0b111 {
        return Err(Corrupt);
    }
    let mut at = 1;
    let mut counts = [0u32; 3];
    for (f, c) in counts.iter_mut().enumerate() {
        if mask & (1 << f) != 0 {
            let n = get_varint(occ, &mut at)?;
            // Each position takes at least one byte.
            if n == 0 || n > occ.len() as u64 {
                return Err(Corrupt);
            }
            *c = n as u32;
        }
    }
    Ok((counts, at))
}

/// One token's postings for a range of documents: ids ascending, counts per field, and the
/// raw position bytes, decoded only when asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Postings {
    /// Document ids, ascending.
    pub ids: Vec<u64>,
    /// Per posting: occurrence counts in title, lead, body.
    pub counts: Vec<[u32; 3]>,
    /// Per posting: where its position bytes start in `data`.
    pos_at: Vec<u32>,
    /// Position bytes of every posting, back to back.
    data: Vec<u8>,
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

    /// Empties the list, keeping its memory.
    pub fn clear(&mut self) {
        self.ids.clear();
        self.counts.clear();
        self.pos_at.clear();
        self.data.clear();
    }

    /// The index of document `id`, by binary search.
    pub fn find(&self, id: u64) -> Option<usize> {
        self.ids.binary_search(&id).ok()
    }

    /// Appends a posting from its occurrence list (ids must come in ascending order).
    pub fn push_occ(&mut self, id: u64, occ: &[u8]) -> Result<(), Corrupt> {
        let (counts, start) = occ_header(occ)?;
        self.ids.push(id);
        self.counts.push(counts);
        self.pos_at.push(self.data.len() as u32);
        self.data.extend_from_slice(&occ[start..]);
        Ok(())
    }

    /// Decodes the positions of posting `i` in field `f` into `out` (cleared first).
    pub fn positions_into(&self, i: usize, f: usize, out: &mut Vec<u32>) -> Result<(), Corrupt> {
        out.clear();
        let counts = self.counts.get(i).ok_or(Corrupt)?;
        let mut at = *self.pos_at.get(i).ok_or(Corrupt)? as usize;
        for &skip in &counts[..f.min(3)] {
            for _ in 0..skip {
                get_varint(&self.data, &mut at)?;
            }
        }
        let mut p = 0u64;
        for _ in 0..counts[f] {
            p = p
                .checked_add(get_varint(&self.data, &mut at)?)
                .ok_or(Corrupt)?;
            out.push(u32::try_from(p).map_err(|_| Corrupt)?);
        }
        Ok(())
    }

    /// The occurrence list of posting `i`, re-encoded (for rewriting blocks).
    pub fn occ(&self, i: usize) -> Result<Vec<u8>, Corrupt> {
        let mut fields: [Vec<u32>; 3] = Default::default();
        for (f, field) in fields.iter_mut().enumerate() {
            self.positions_into(i, f, field)?;
        }
        let mut out = Vec::new();
        put_occurrences(&mut out, &fields);
        Ok(out)
    }

    /// Appends every posting of a block value (`last id ‖ postings`) whose first id is
    /// `first`. Blocks must be appended in id order.
    #[cfg(test)]
    pub fn extend_from_block(&mut self, first: u64, value: &[u8]) -> Result<(), Corrupt> {
        let mut reader = BlockReader::new(first, value)?;
        while let Some((id, occ)) = reader.next_posting()? {
            if self.ids.last().is_some_and(|&last| last >= id) {
                return Err(Corrupt);
            }
            self.push_occ(id, occ)?;
        }
        Ok(())
    }

    /// Builds postings from positions (tests).
    #[cfg(test)]
    pub fn push(&mut self, id: u64, fields: &[Vec<u32>; 3]) {
        let mut occ = Vec::new();
        put_occurrences(&mut occ, fields);
        self.push_occ(id, &occ).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Reads the postings of one block in order.
#[derive(Debug, Clone)]
pub struct BlockReader<'a> {
    bytes: &'a [u8],
    at: usize,
    id: u64,
    first: bool,
}

impl<'a> BlockReader<'a> {
    /// A reader over a block value whose key says it starts at `first`.
    pub fn new(first: u64, value: &'a [u8]) -> Result<BlockReader<'a>, Corrupt> {
        if value.len() < 8 {
            return Err(Corrupt);
        }
        Ok(BlockReader {
            bytes: value,
            at: 8,
            id: first,
            first: true,
        })
    }

    /// The next posting: its id and occurrence list.
    pub fn next_posting(&mut self) -> Result<Option<(u64, &'a [u8])>, Corrupt> {
        if self.at >= self.bytes.len() {
            return Ok(None);
        }
        let delta = get_varint(self.bytes, &mut self.at)?;
        if !self.first && delta == 0 {
            return Err(Corrupt);
        }
        self.first = false;
        self.id = self.id.checked_add(delta).ok_or(Corrupt)?;
        let occ = get_sized(self.bytes, &mut self.at)?;
        Ok(Some((self.id, occ)))
    }
}

/// Ids per document table (one bucket).
pub const SLOTS: usize = 256;
const PRESENT: usize = SLOTS / 8;
const RECORD: usize = 20;
/// Bytes of an encoded document table.
pub const TABLE_BYTES: usize = PRESENT + SLOTS * RECORD;

/// What ranking and date filters need to know about one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DocInfo {
    /// Publication time, milliseconds since the Unix epoch.
    pub published: i64,
    /// Token counts of title, lead and body.
    pub lens: [u32; 3],
}

/// The documents of one bucket: ids `base .. base + 256`, each slot present or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocTable {
    /// The first id of the bucket.
    pub base: u64,
    bytes: Vec<u8>,
}

impl DocTable {
    /// An empty table for the bucket starting at `base`.
    pub fn empty(base: u64) -> DocTable {
        DocTable {
            base,
            bytes: vec![0; TABLE_BYTES],
        }
    }

    /// A table from its stored bytes.
    pub fn from_bytes(base: u64, bytes: &[u8]) -> Result<DocTable, Corrupt> {
        if bytes.len() != TABLE_BYTES {
            return Err(Corrupt);
        }
        Ok(DocTable {
            base,
            bytes: bytes.to_vec(),
        })
    }

    /// The bytes to store.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The slot of an id of this bucket.
    pub fn slot(&self, id: u64) -> Option<usize> {
        let s = id.checked_sub(self.base)? as usize;
        (s < SLOTS).then_some(s)
    }

    /// Whether slot `s` holds a document.
    pub fn present(&self, s: usize) -> bool {
        s < SLOTS && self.bytes[s / 8] & (1 << (s % 8)) != 0
    }

    /// How many documents.
    pub fn count(&self) -> usize {
        self.bytes[..PRESENT]
            .iter()
            .map(|b| b.count_ones() as usize)
            .sum()
    }

    /// The record of slot `s` (zeros when absent).
    pub fn info(&self, s: usize) -> DocInfo {
        let at = PRESENT + s.min(SLOTS - 1) * RECORD;
        let r = &self.bytes[at..at + RECORD];
        let word = |i: usize| u32::from_be_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]);
        let mut p = [0u8; 8];
        p.copy_from_slice(&r[..8]);
        DocInfo {
            published: i64::from_be_bytes(p),
            lens: [word(8), word(12), word(16)],
        }
    }

    /// Puts a document in slot `s`.
    pub fn set(&mut self, s: usize, info: &DocInfo) {
        if s >= SLOTS {
            return;
        }
        self.bytes[s / 8] |= 1 << (s % 8);
        let at = PRESENT + s * RECORD;
        self.bytes[at..at + 8].copy_from_slice(&info.published.to_be_bytes());
        for (k, len) in info.lens.iter().enumerate() {
            let o = at + 8 + 4 * k;
            self.bytes[o..o + 4].copy_from_slice(&len.to_be_bytes());
        }
    }

    /// Empties slot `s`.
    pub fn clear(&mut self, s: usize) {
        if s >= SLOTS {
            return;
        }
        self.bytes[s / 8] &= !(1 << (s % 8));
        let at = PRESENT + s * RECORD;
        self.bytes[at..at + RECORD].fill(0);
    }
}

/// Appends a document record (for pending documents): published, lens.
pub fn put_doc(out: &mut Vec<u8>, doc: &DocInfo) {
    out.extend_from_slice(&doc.published.to_be_bytes());
    for len in doc.lens {
        put_varint(out, u64::from(len));
    }
}

/// Reads a document record written by [`put_doc`].
pub fn get_doc(bytes: &[u8], at: &mut usize) -> Result<DocInfo, Corrupt> {
    let end = at.checked_add(8).ok_or(Corrupt)?;
    let p: [u8; 8] = bytes
        .get(*at..end)
        .ok_or(Corrupt)?
        .try_into()
        .map_err(|_| Corrupt)?;
    *at = end;
    let mut lens = [0u32; 3];
    for len in &mut lens {
        *len = u32::try_from(get_varint(bytes, at)?).map_err(|_| Corrupt)?;
    }
    Ok(DocInfo {
        published: i64::from_be_bytes(p),
        lens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(first: u64, postings: &[(u64, [Vec<u32>; 3])]) -> Vec<u8> {
        let mut out = postings
            .last()
            .map_or(first, |p| p.0)
            .to_be_bytes()
            .to_vec();
        let mut prev = first;
        for (id, fields) in postings {
            put_varint(&mut out, id - prev);
            prev = *id;
            put_sized_occurrences(&mut out, fields);
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
    }

    #[test]
    fn blocks_round_trip_with_lazy_positions() {
        let postings = vec![
            (1030u64, [vec![0], vec![], vec![3, 9, 200]]),
            (1031, [vec![], vec![5], vec![]]),
            (2000, [vec![], vec![], vec![70000]]),
        ];
        let b = block(1030, &postings);
        let mut p = Postings::new();
        p.extend_from_block(1030, &b).unwrap();
        assert_eq!(p.ids, vec![1030, 1031, 2000]);
        assert_eq!(p.counts, vec![[1, 0, 3], [0, 1, 0], [0, 0, 1]]);
        let mut buf = Vec::new();
        p.positions_into(0, 2, &mut buf).unwrap();
        assert_eq!(buf, vec![3, 9, 200]);
        p.positions_into(0, 0, &mut buf).unwrap();
        assert_eq!(buf, vec![0]);
        p.positions_into(1, 2, &mut buf).unwrap();
        assert!(buf.is_empty());
        p.positions_into(2, 2, &mut buf).unwrap();
        assert_eq!(buf, vec![70000]);
        assert_eq!(p.find(2000), Some(2));
        let mut again = Postings::new();
        again.push_occ(1030, &p.occ(0).unwrap()).unwrap();
        again.positions_into(0, 2, &mut buf).unwrap();
        assert_eq!(buf, vec![3, 9, 200]);
    }

    #[test]
    fn corrupt_blocks_are_errors_not_panics() {
        let b = block(
            5,
            &[
                (5, [vec![1, 2], vec![], vec![]]),
                (9, [vec![], vec![], vec![4]]),
            ],
        );
        for cut in 0..b.len() {
            let mut q = Postings::new();
            if q.extend_from_block(5, &b[..cut]).is_ok() {
                assert!(q.len() < 2 || cut == b.len());
            }
        }
        // A repeated id, a zero mask, an absurd count.
        let mut bad = 9u64.to_be_bytes().to_vec();
        bad.extend_from_slice(&[0, 2, 1, 1, 0, 2, 1, 1]);
        assert_eq!(Postings::new().extend_from_block(0, &bad), Err(Corrupt));
        let mut bad = 9u64.to_be_bytes().to_vec();
        bad.extend_from_slice(&[0, 1, 0]);
        assert_eq!(Postings::new().extend_from_block(0, &bad), Err(Corrupt));
        let mut bad = 9u64.to_be_bytes().to_vec();
        bad.extend_from_slice(&[0, 4, 1, 0xff, 0xff, 0x0f]);
        assert_eq!(Postings::new().extend_from_block(0, &bad), Err(Corrupt));
        assert!(BlockReader::new(0, &[1, 2]).is_err());
    }

    #[test]
    fn doc_tables_hold_fixed_slots() {
        let mut t = DocTable::empty(512);
        assert_eq!(t.count(), 0);
        let d = DocInfo {
            published: -1_567_000_000_123,
            lens: [12, 0, u32::MAX],
        };
        t.set(3, &d);
        t.set(255, &d);
        assert!(t.present(3) && t.present(255) && !t.present(4));
        assert_eq!(t.info(3), d);
        assert_eq!(t.slot(512 + 255), Some(255));
        assert_eq!(t.slot(512 + 256), None);
        assert_eq!(t.slot(3), None);
        let u = DocTable::from_bytes(512, t.as_bytes()).unwrap();
        assert_eq!(u.count(), 2);
        let mut u = u;
        u.clear(3);
        assert_eq!(u.count(), 1);
        assert_eq!(u.info(3), DocInfo::default());
        assert!(DocTable::from_bytes(0, &[0; 10]).is_err());
    }

    #[test]
    fn doc_records_round_trip() {
        let d = DocInfo {
            published: 1_567_000_000_123,
            lens: [1, 2, 3],
        };
        let mut b = Vec::new();
        put_doc(&mut b, &d);
        assert_eq!(get_doc(&b, &mut 0).unwrap(), d);
        assert!(get_doc(&b[..5], &mut 0).is_err());
    }

    proptest::proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let mut p = Postings::new();
            if p.extend_from_block(0, &bytes).is_ok() {
                let mut buf = Vec::new();
                for i in 0..p.len() {
                    for f in 0..3 {
                        let _ = p.positions_into(i, f, &mut buf);
                    }
                }
            }
            let _ = get_doc(&bytes, &mut 0);
        }
    }
}
