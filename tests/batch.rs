//! `vframe::extract_many`: many offsets of one file in one call give exactly the images
//! that one `extract` call per offset gives, in the order asked, whatever the order of the
//! offsets, with repeats, past the end, and with per-spec failures kept apart.

mod common;

use common::fixture;
use vframe::{Input, Options, Spec, Status};

fn specs(list: &[&str]) -> Vec<Spec> {
    list.iter().map(|s| s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))).collect()
}

/// Asserts that every spec succeeds, in the batch and alone, with byte-identical images.
/// (Two failures with the same status are not agreement: these specs must all work.)
fn assert_same_as_single_calls(name: &str, list: &[&str]) {
    let path = fixture(name);
    let specs = specs(list);
    let options = Options::default();
    let batch = vframe::extract_many(Input::Path(&path), &specs, &options);
    assert_eq!(batch.len(), specs.len());
    for (spec, got) in specs.iter().zip(&batch) {
        let got = got.as_ref().unwrap_or_else(|e| panic!("{name} {spec}: the batch failed: {e}"));
        let single = vframe::extract(Input::Path(&path), spec, &options)
            .unwrap_or_else(|e| panic!("{name} {spec}: a single call failed: {e}"));
        assert!(*got == single, "{name} {spec}: batch image differs from a single call");
    }
}

#[test]
fn long_gop_with_b_frames_in_any_order() {
    // Offsets inside one 250-frame GOP, out of order, repeated, a frame boundary and just
    // after it, and past the end (the last frame).
    assert_same_as_single_calls(
        "bframes_gop250.mp4",
        &[
            "vframe/png/offset/7.01",
            "vframe/png/offset/2",
            "vframe/jpg/offset/7/w/160",
            "vframe/png/offset/7",
            "vframe/png/offset/2",
            "vframe/png/offset/0",
            "vframe/png/offset/9.99",
            "vframe/png/offset/60/rotate/90",
            "vframe/png/offset/3.5",
        ],
    );
}

#[test]
fn short_gops_seek_between_offsets() {
    assert_same_as_single_calls(
        "gop25_25fps.mp4",
        &["vframe/png/offset/0.5", "vframe/png/offset/5.5", "vframe/png/offset/1.04", "vframe/png/offset/1.08"],
    );
}

#[test]
fn transport_stream_and_vfr() {
    assert_same_as_single_calls(
        "start600.ts",
        &["vframe/png/offset/1", "vframe/png/offset/1.5", "vframe/png/offset/6.9"],
    );
    assert_same_as_single_calls("vfr.mkv", &["vframe/png/offset/0.3", "vframe/png/offset/2", "vframe/png/offset/4.4"]);
}

#[test]
fn faulty_timestamps() {
    // Decoded from the start, every frame: later offsets decode on, earlier ones start again.
    assert_same_as_single_calls(
        "xvid.mp4",
        &[
            "vframe/png/offset/3.9",
            "vframe/png/offset/1.2",
            "vframe/png/offset/0",
            "vframe/png/offset/1.2",
            "vframe/png/offset/2.41",
            "vframe/png/offset/1.19",
            "vframe/png/offset/3.6",
            "vframe/png/offset/2.4",
        ],
    );
}

#[test]
fn untimed_frames_at_the_head() {
    // Frames without timestamps before a cut are placed from their neighbours, in a batch
    // (decoding on from one offset to the next) as in single calls.
    assert_same_as_single_calls(
        "cut_untimed_head.mkv",
        &[
            "vframe/png/offset/0.2",
            "vframe/png/offset/0.8",
            "vframe/png/offset/1.2",
            "vframe/png/offset/1.3",
            "vframe/png/offset/0.04",
            "vframe/png/offset/2.5",
        ],
    );
}

#[test]
fn input_failures_reach_every_spec() {
    let path = fixture("audio_only.m4a");
    let specs = specs(&["vframe/jpg/offset/1", "vframe/png/offset/0"]);
    let results = vframe::extract_many(Input::Path(&path), &specs, &Options::default());
    assert_eq!(results.len(), 2);
    for r in results {
        assert_eq!(r.expect_err("no video").status(), Status::NoVideoStream);
    }
    let results = vframe::extract_many(Input::Memory(b"not a video at all"), &specs, &Options::default());
    assert!(results.iter().all(|r| r.as_ref().is_err_and(|e| e.status() == Status::CannotOpen)), "{results:?}");
    assert!(vframe::extract_many(Input::Path(&path), &[], &Options::default()).is_empty());
}
