//! Value encodings: JSON for articles, analyses and feed state (tolerant of fields added to
//! the model later), fixed-width big-endian integers for counters, one byte for flags.

use crate::model::{Family, Flags};

use super::keys;

/// Flags as one byte: bit 0 read, bit 1 starred.
pub fn flags_byte(f: Flags) -> [u8; 1] {
    [u8::from(f.read) | (u8::from(f.starred) << 1)]
}

/// Flags from their byte; `None` for anything else.
pub fn flags_from(bytes: &[u8]) -> Option<Flags> {
    match bytes {
        [b] if *b <= 3 => Some(Flags {
            read: b & 1 != 0,
            starred: b & 2 != 0,
        }),
        _ => None,
    }
}

/// A big-endian u64 value.
pub fn u64_from(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// A big-endian u32 value.
pub fn u32_from(bytes: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

/// Total and unread counts of a feed or family.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pair {
    /// Articles.
    pub total: u64,
    /// Of which unread.
    pub unread: u64,
}

impl Pair {
    /// 16 bytes.
    pub fn bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.total.to_be_bytes());
        b[8..].copy_from_slice(&self.unread.to_be_bytes());
        b
    }
    /// From 16 bytes.
    pub fn from(bytes: &[u8]) -> Option<Pair> {
        if bytes.len() != 16 {
            return None;
        }
        Some(Pair {
            total: u64_from(&bytes[..8])?,
            unread: u64_from(&bytes[8..])?,
        })
    }
}

/// A tag's counters with its family.
pub fn tag_count_bytes(family: Family, p: Pair) -> Vec<u8> {
    let mut v = Vec::with_capacity(17);
    v.push(keys::family_code(family));
    v.extend_from_slice(&p.bytes());
    v
}

/// Reads a tag's counters.
pub fn tag_count_from(bytes: &[u8]) -> Option<(Family, Pair)> {
    let (&f, rest) = bytes.split_first()?;
    Some((keys::family_from_code(f)?, Pair::from(rest)?))
}

/// Global counters: total, unread, starred.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Articles.
    pub total: u64,
    /// Unread articles.
    pub unread: u64,
    /// Starred articles.
    pub starred: u64,
}

impl Totals {
    /// 24 bytes.
    pub fn bytes(self) -> [u8; 24] {
        let mut b = [0u8; 24];
        b[..8].copy_from_slice(&self.total.to_be_bytes());
        b[8..16].copy_from_slice(&self.unread.to_be_bytes());
        b[16..].copy_from_slice(&self.starred.to_be_bytes());
        b
    }
    /// From 24 bytes.
    pub fn from(bytes: &[u8]) -> Option<Totals> {
        if bytes.len() != 24 {
            return None;
        }
        Some(Totals {
            total: u64_from(&bytes[..8])?,
            unread: u64_from(&bytes[8..16])?,
            starred: u64_from(&bytes[16..])?,
        })
    }
}

/// Adds a signed delta, never wrapping (a drifted counter is for `check` to find).
pub fn add(v: u64, d: i64) -> u64 {
    if d >= 0 {
        v.saturating_add(d as u64)
    } else {
        v.saturating_sub(d.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip_and_reject_garbage() {
        for read in [false, true] {
            for starred in [false, true] {
                let f = Flags { read, starred };
                assert_eq!(flags_from(&flags_byte(f)), Some(f));
            }
        }
        assert_eq!(flags_from(&[4]), None);
        assert_eq!(flags_from(&[]), None);
        assert_eq!(flags_from(&[0, 0]), None);
    }

    #[test]
    fn counters_round_trip_and_saturate() {
        let p = Pair {
            total: 5,
            unread: 2,
        };
        assert_eq!(Pair::from(&p.bytes()), Some(p));
        assert_eq!(Pair::from(&[1, 2, 3]), None);
        let (f, q) = tag_count_from(&tag_count_bytes(Family::Incident, p)).unwrap();
        assert_eq!((f, q), (Family::Incident, p));
        assert_eq!(tag_count_from(&[0; 17]), None);
        let t = Totals {
            total: 1,
            unread: 2,
            starred: 3,
        };
        assert_eq!(Totals::from(&t.bytes()), Some(t));
        assert_eq!(add(0, -1), 0);
        assert_eq!(add(u64::MAX, 1), u64::MAX);
        assert_eq!(add(3, -2), 1);
    }
}
