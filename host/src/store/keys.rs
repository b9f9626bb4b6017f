//! Byte layout of the fact tree. Everything that must change atomically with a batch of facts
//! (observations, change points, the id index, dirty-day stamps, the sequence number) lives in
//! one sled tree under one-letter prefixes, so one `apply_batch` commits a whole ingest.

/// Raw observations: `o kind \0 key \0 at id` → observation JSON.
pub const OBSERVATION: u8 = b'o';
/// Change points (observations whose state differs from the previous one): same key layout,
/// the state in the binary encoding of `state.rs` (older stores: observation JSON).
pub const CHANGE: u8 = b'c';
/// Id index: `i id` → observation key (without the prefix byte).
pub const ID: u8 = b'i';
/// Dirty stamps: `d kind \0 day` → sequence number of the last ingest touching that UTC day.
pub const STAMP: u8 = b'd';
/// Interval index: `x kind \0 day key` → empty (intervals.rs).
pub const INTERVAL: u8 = b'x';
/// Per source and kind: `s source \0 kind` → facts stored (u64) and the last batch's time
/// (epoch ms, i64), both big-endian (sources.rs).
pub const SOURCE: u8 = b's';
/// The committed ingest sequence number.
pub const SEQUENCE: &[u8] = b"m/seq";

/// Order-preserving encoding of an instant.
pub fn instant(at: i64) -> [u8; 8] {
    ((at as u64) ^ (1 << 63)).to_be_bytes()
}

/// Decodes [`instant`].
pub fn decode_instant(bytes: &[u8]) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[..8]);
    (u64::from_be_bytes(b) ^ (1 << 63)) as i64
}

/// `prefix kind \0 key \0`: every observation (or change point) of one entity.
pub fn entity(prefix: u8, kind: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(kind.len() + key.len() + 3);
    k.push(prefix);
    k.extend_from_slice(kind.as_bytes());
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k.push(0);
    k
}

/// `prefix kind \0`: every entity of one kind.
pub fn kind(prefix: u8, kind: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(kind.len() + 2);
    k.push(prefix);
    k.extend_from_slice(kind.as_bytes());
    k.push(0);
    k
}

/// The full key of one observation.
pub fn observation(prefix: u8, kind: &str, key: &str, at: i64, id: &str) -> Vec<u8> {
    let mut k = entity(prefix, kind, key);
    k.extend_from_slice(&instant(at));
    k.extend_from_slice(id.as_bytes());
    k
}

/// The entity key (`kind \0 key \0`) part and the instant of an observation key without its
/// prefix byte.
pub fn split_observation(k: &[u8]) -> (&[u8], i64) {
    // kind \0 key \0 at(8) id: the second NUL ends the entity part.
    let first = k.iter().position(|&b| b == 0).unwrap_or(0);
    let second = first + 1 + k[first + 1..].iter().position(|&b| b == 0).unwrap_or(0);
    let entity = &k[..second + 1];
    (entity, decode_instant(&k[second + 1..second + 9]))
}

/// `d kind \0 day`.
pub fn stamp(kind: &str, day: i64) -> Vec<u8> {
    let mut k = self::kind(STAMP, kind);
    k.extend_from_slice(&instant(day));
    k
}
