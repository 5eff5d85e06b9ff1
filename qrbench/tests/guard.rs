//! Guards the QR reading rate without timing anything: on fixed seeds, `scan_frame`'s pipeline
//! reads at least what `qrbench` established, never a wrong payload, and nothing from frames
//! without a code. (Speed is shown by `qrbench`, not here.)
#![allow(clippy::expect_used, clippy::unwrap_used)]

use latchkey_core::read_codes;
use latchkey_qrbench::corpus;

/// (seed, width, height, frames, frames with a code that must be read)
const GUARDS: [(u64, usize, usize, usize, usize); 2] =
    [(7, 1280, 720, 40, MIN_720P), (7, 1920, 1080, 20, MIN_1080P)];
const MIN_720P: usize = 24;
const MIN_1080P: usize = 12;

#[test]
fn scan_frame_reads_the_established_share_of_hard_frames() {
    for (seed, w, h, count, minimum) in GUARDS {
        let frames = corpus(seed, w, h, "guard", count);
        let (mut read, mut with_code, mut wrong, mut false_positives) = (0, 0, 0, 0);
        for f in &frames {
            let found = read_codes(&f.luma, f.width, f.height, f.width).expect("valid frame");
            match (&f.expected, found.first()) {
                (Some(e), Some(t)) if e == t => read += 1,
                (Some(_), Some(t)) => {
                    wrong += 1;
                    eprintln!("{}: wrong payload {t:?} ({})", f.name, f.traits);
                }
                (None, Some(t)) => {
                    false_positives += 1;
                    eprintln!("{}: read {t:?} from a frame without a code", f.name);
                }
                _ => {}
            }
            with_code += usize::from(f.expected.is_some());
        }
        eprintln!("{w}x{h} seed {seed}: read {read} of {with_code} frames with a code");
        assert_eq!(wrong, 0, "wrong payloads at {w}x{h}");
        assert_eq!(
            false_positives, 0,
            "codes read from empty frames at {w}x{h}"
        );
        assert!(
            read >= minimum,
            "{w}x{h}: read {read} of {with_code}; qrbench established {minimum}"
        );
    }
}

#[test]
fn corpus_is_deterministic() {
    let a = latchkey_qrbench::frame(3, 5, 320, 240, "d");
    let b = latchkey_qrbench::frame(3, 5, 320, 240, "d");
    assert_eq!(a.luma, b.luma);
    assert_eq!(a.expected, b.expected);
    let c = latchkey_qrbench::frame(4, 5, 320, 240, "d");
    assert_ne!(a.luma, c.luma, "another seed gives another frame");
}
