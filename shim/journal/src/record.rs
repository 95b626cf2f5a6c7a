//! The on-disk record: canonical serialisation, chain hash, and parsing.
//!
//! A record is one line: `{"v":1,"seq":..,"time":..,"host":..,"kind":..,"container":..,
//! "data":{..},"prev":"<hex>","hash":"<hex>"}\n`, fields in exactly this order, `data` keys
//! sorted bytewise at every depth, compact, serde_json string escaping. `hash` is
//! BLAKE3 over the same serialisation without the `hash` field (that is, the line up to
//! `,"hash":` followed by `}`); `prev` is the previous record's `hash` (64 zeros for the first
//! record), so the hash of each record commits to the whole chain before it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::entry::{Entry, Kind};

/// Current schema version, the `v` field of every record.
pub const SCHEMA_VERSION: u32 = 1;
/// The `prev` of the very first record.
pub const ZERO_HASH: [u8; 32] = [0; 32];
/// `,"hash":"` + 64 hex digits + `"}`.
pub(crate) const HASH_SUFFIX_LEN: usize = 9 + 64 + 2;
const HASH_MARK: &[u8] = b",\"hash\":\"";

/// A parsed record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub v: u32,
    pub seq: u64,
    pub time: String,
    pub host: String,
    pub kind: Kind,
    pub container: Option<String>,
    #[serde(default)]
    pub data: Map<String, Value>,
    pub prev: String,
    pub hash: String,
}

impl Record {
    /// A string field of `data`.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.data.get(key).and_then(Value::as_str)
    }

    /// A number field of `data`.
    pub fn u64(&self, key: &str) -> Option<u64> {
        self.data.get(key).and_then(Value::as_u64)
    }
}

/// Serialises a record (without its trailing newline), returning the line and its hash.
pub fn encode(
    seq: u64,
    time: &str,
    host: &str,
    entry: &Entry,
    prev: &[u8; 32],
    out: &mut Vec<u8>,
) -> [u8; 32] {
    let start = out.len();
    out.extend_from_slice(b"{\"v\":");
    write_u64(out, u64::from(SCHEMA_VERSION));
    out.extend_from_slice(b",\"seq\":");
    write_u64(out, seq);
    out.extend_from_slice(b",\"time\":");
    write_str(out, time);
    out.extend_from_slice(b",\"host\":");
    write_str(out, host);
    out.extend_from_slice(b",\"kind\":\"");
    out.extend_from_slice(entry.kind.as_str().as_bytes());
    out.extend_from_slice(b"\",\"container\":");
    match &entry.container {
        Some(c) => write_str(out, c),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"data\":");
    write_object(out, &entry.data);
    out.extend_from_slice(b",\"prev\":\"");
    out.extend_from_slice(blake3::Hash::from(*prev).to_hex().as_bytes());
    out.push(b'"');
    let mut h = blake3::Hasher::new();
    h.update(&out[start..]);
    h.update(b"}");
    let hash = *h.finalize().as_bytes();
    out.extend_from_slice(HASH_MARK);
    out.extend_from_slice(blake3::Hash::from(hash).to_hex().as_bytes());
    out.extend_from_slice(b"\"}");
    hash
}

/// Splits a line (without newline) into its hashed body and the stored hash, and recomputes
/// the hash of the body. Returns `(stored, computed)`, or `None` if the line does not end in a
/// well-formed `hash` field.
pub fn line_hashes(line: &[u8]) -> Option<([u8; 32], [u8; 32])> {
    if line.len() < HASH_SUFFIX_LEN + 2 || !line.ends_with(b"\"}") {
        return None;
    }
    let cut = line.len() - HASH_SUFFIX_LEN;
    if &line[cut..cut + HASH_MARK.len()] != HASH_MARK {
        return None;
    }
    let hex = &line[cut + HASH_MARK.len()..line.len() - 2];
    let stored = parse_hex32(hex)?;
    let mut h = blake3::Hasher::new();
    h.update(&line[..cut]);
    h.update(b"}");
    Some((stored, *h.finalize().as_bytes()))
}

/// Parses a record line (without newline).
pub fn parse(line: &[u8]) -> Result<Record, String> {
    let r: Record = serde_json::from_slice(line).map_err(|e| format!("not a record: {e}"))?;
    if r.v != SCHEMA_VERSION {
        return Err(format!("unsupported schema version {}", r.v));
    }
    Ok(r)
}

/// Parses 64 lowercase hex digits, the only form the writer produces: an uppercase digit in
/// a record means its bytes were changed, even if the value reads the same.
pub fn parse_hex32(hex: &[u8]) -> Option<[u8; 32]> {
    if hex.len() != 64 || hex.iter().any(u8::is_ascii_uppercase) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

/// Lowercase hex of 32 bytes.
pub fn hex32(b: &[u8; 32]) -> String {
    blake3::Hash::from(*b).to_hex().to_string()
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("writing a str to a Vec cannot fail");
}

fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn write_object(out: &mut Vec<u8>, m: &Map<String, Value>) {
    // serde_json's Map is a BTreeMap (sorted) unless some crate in the build enables its
    // `preserve_order` feature; sort only when needed.
    let sorted = m.keys().zip(m.keys().skip(1)).all(|(a, b)| a < b);
    if sorted {
        out.push(b'{');
        for (i, (k, v)) in m.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(out, k);
            out.push(b':');
            write_value(out, v);
        }
        out.push(b'}');
        return;
    }
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort_unstable();
    out.push(b'{');
    for (i, k) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, k);
        out.push(b':');
        write_value(out, &m[k.as_str()]);
    }
    out.push(b'}');
}

/// Writes a JSON value canonically: object keys sorted bytewise, compact.
pub fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Object(m) => write_object(out, m),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, x);
            }
            out.push(b']');
        }
        other => serde_json::to_writer(&mut *out, other).expect("writing to a Vec cannot fail"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_is_canonical_and_hash_checks() {
        let e = Entry::new(Kind::Note)
            .container("c1")
            .with("z", 1)
            .with("a", serde_json::json!({"y": [1, "x\n"], "b": null}));
        let mut line = Vec::new();
        let h = encode(
            7,
            "2026-01-01T00:00:00.000000Z",
            "h\"ost",
            &e,
            &ZERO_HASH,
            &mut line,
        );
        let text = String::from_utf8(line.clone()).unwrap();
        assert!(text.starts_with("{\"v\":1,\"seq\":7,\"time\":"), "{text}");
        assert!(
            text.contains("\"data\":{\"a\":{\"b\":null,\"y\":[1,\"x\\n\"]},\"z\":1}"),
            "{text}"
        );
        let (stored, computed) = line_hashes(&line).unwrap();
        assert_eq!(stored, h);
        assert_eq!(computed, h);
        let r = parse(&line).unwrap();
        assert_eq!(r.seq, 7);
        assert_eq!(r.host, "h\"ost");
        assert_eq!(r.hash, hex32(&h));
        assert_eq!(r.prev, "0".repeat(64));
        // One changed byte breaks the hash.
        let edited = text.replace("\"z\":1", "\"z\":2");
        let (s2, c2) = line_hashes(edited.as_bytes()).unwrap();
        assert_eq!(s2, h);
        assert_ne!(c2, h);
    }
}
