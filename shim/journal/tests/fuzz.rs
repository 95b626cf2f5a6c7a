//! Property tests: the reader and verifier never panic, whatever the bytes.

mod common;

use proptest::prelude::*;
use vigil_journal::verify_bytes;

fn valid_segments() -> Vec<(u64, Vec<u8>)> {
    static SEGS: std::sync::OnceLock<Vec<(u64, Vec<u8>)>> = std::sync::OnceLock::new();
    SEGS.get_or_init(|| {
        let (_t, dir, _k) = common::build(15);
        vigil_journal::segment::list_segments(&dir)
            .unwrap()
            .into_iter()
            .map(|(n, p)| (n, std::fs::read(p).unwrap()))
            .collect()
    })
    .clone()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(segs in proptest::collection::vec((0u64..5, proptest::collection::vec(any::<u8>(), 0..600)), 0..4),
                                   key in proptest::option::of(any::<[u8; 32]>())) {
        let r = verify_bytes(&segs, key.as_ref());
        prop_assert!(r.records <= 600);
    }

    #[test]
    fn json_like_lines_never_panic(lines in proptest::collection::vec("\\{\"v\":1,\"seq\":[0-9]{1,3},\"kind\":\"(seal|init|retention|gap|note)\",\"data\":\\{\\},\"prev\":\"[0-9a-f]{0,64}\",\"hash\":\"[0-9a-f]{64}\"\\}", 0..8)) {
        let bytes = lines.join("\n").into_bytes();
        let r = verify_bytes(&[(1, bytes)], Some(&[1; 32]));
        prop_assert!(r.records <= 8);
    }

    #[test]
    fn any_changed_byte_is_detected(seg_pick in any::<prop::sample::Index>(), pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut segs = valid_segments();
        let i = seg_pick.index(segs.len());
        let at = pos.index(segs[i].1.len());
        prop_assume!(segs[i].1[at] != byte);
        segs[i].1[at] = byte;
        let r = verify_bytes(&segs, None);
        // Garbling the newest segment's last record looks like a crash: reported, not silent.
        prop_assert!(!r.ok() || r.torn_tail.is_some(), "undetected change at segment {} byte {}: {:?}", i, at, r);
    }

    #[test]
    fn truncation_anywhere_never_panics_and_is_reported(seg_pick in any::<prop::sample::Index>(), pos in any::<prop::sample::Index>()) {
        let mut segs = valid_segments();
        let i = seg_pick.index(segs.len());
        let at = pos.index(segs[i].1.len());
        segs[i].1.truncate(at);
        let r = verify_bytes(&segs, None);
        let newest = i + 1 == segs.len();
        if !newest {
            prop_assert!(!r.ok(), "truncating an older segment at {} went unnoticed", at);
        }
    }

    #[test]
    fn tail_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..3000)) {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("00000001.jsonl");
        std::fs::write(&p, &bytes).unwrap();
        let t = vigil_journal::segment::read_tail(&p).unwrap();
        prop_assert!(t.valid_len <= bytes.len() as u64);
    }
}

type Segments = Vec<(u64, Vec<u8>)>;

fn keyed_journal() -> (Segments, [u8; 32]) {
    static J: std::sync::OnceLock<(Segments, [u8; 32])> = std::sync::OnceLock::new();
    J.get_or_init(|| {
        let (_t, dir, key) = common::build(40);
        let segs = vigil_journal::segment::list_segments(&dir)
            .unwrap()
            .into_iter()
            .map(|(n, p)| (n, std::fs::read(p).unwrap()))
            .collect();
        (segs, key)
    })
    .clone()
}

fn write_dir(segs: &[(u64, Vec<u8>)]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for (n, b) in segs {
        std::fs::write(tmp.path().join(vigil_journal::segment::segment_name(*n)), b).unwrap();
    }
    tmp
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The keyed (bulk) path on disk: any changed byte is caught or reported as a torn tail,
    /// and the verdict matches the record-by-record path.
    #[test]
    fn keyed_verify_catches_any_changed_byte(seg_pick in any::<prop::sample::Index>(), pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let (mut segs, key) = keyed_journal();
        let i = seg_pick.index(segs.len());
        let at = pos.index(segs[i].1.len());
        prop_assume!(segs[i].1[at] != byte);
        segs[i].1[at] = byte;
        let tmp = write_dir(&segs);
        let r = vigil_journal::verify(tmp.path(), Some(&key)).unwrap();
        prop_assert!(!r.ok() || r.torn_tail.is_some(), "undetected change at segment {} byte {}: {:?}", i, at, r);
        let slow = vigil_journal::verify_slow(tmp.path(), Some(&key), vigil_journal::segment::list_segments(tmp.path()).unwrap()).unwrap();
        prop_assert_eq!(r.ok(), slow.ok());
    }

    #[test]
    fn keyed_verify_on_cut_or_shuffled_segments_never_panics(seg_pick in any::<prop::sample::Index>(), pos in any::<prop::sample::Index>(), swap in any::<bool>()) {
        let (mut segs, key) = keyed_journal();
        let i = seg_pick.index(segs.len());
        if swap && segs.len() > 1 {
            let j = (i + 1) % segs.len();
            let (a, b) = (segs[i].1.clone(), segs[j].1.clone());
            segs[i].1 = b;
            segs[j].1 = a;
            let tmp = write_dir(&segs);
            let r = vigil_journal::verify(tmp.path(), Some(&key)).unwrap();
            prop_assert!(!r.ok(), "swapped segments went unnoticed");
        } else {
            let at = pos.index(segs[i].1.len());
            segs[i].1.truncate(at);
            let tmp = write_dir(&segs);
            let r = vigil_journal::verify(tmp.path(), Some(&key)).unwrap();
            if i + 1 < segs.len() {
                prop_assert!(!r.ok(), "cutting segment {} at {} went unnoticed", i, at);
            }
        }
    }
}
