//! Memory stays bounded for a 2-hour video sampled at one frame per second (SPEC §8):
//! frames stream out one at a time and storyboard tiles go into the sheet being filled,
//! so the peak resident set of a 7200-frame PNG sample and of a 72-sheet storyboard stays
//! within a few tens of MiB of where it started — while holding the decoded frames would
//! take over 600 MiB and the PNG outputs alone about 200 MiB.
//!
//! One test in its own binary: the peak (`VmHWM`) is the process's, and no other test
//! may run beside it.

mod common;

use vframe::{Input, Options, SampleSpec, StoryboardSpec};

/// A field of /proc/self/status, in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// Runs `work` and returns how far the peak resident set rose above the resident set
/// before it, in MiB (Linux: writing 5 to clear_refs resets the peak).
fn peak_growth_mib(work: impl FnOnce()) -> f64 {
    std::fs::write("/proc/self/clear_refs", "5").expect("the peak resident set can be reset");
    let before = status_kib("VmRSS");
    work();
    (status_kib("VmHWM").saturating_sub(before)) as f64 / 1024.0
}

const BOUND_MIB: f64 = 48.0;

#[test]
fn a_two_hour_video_at_one_frame_per_second_streams_in_bounded_memory() {
    let path = common::two_hour_video();
    let options = Options { timeout: None, ..Options::default() };

    let spec: SampleSpec = "vsample/png/interval/1".parse().unwrap();
    let (mut frames, mut bytes) = (0u64, 0usize);
    let growth = peak_growth_mib(|| {
        let sample = vframe::Sample::open(Input::Path(&path), &spec, &options).unwrap();
        assert_eq!(sample.planned(), Some(7200));
        for frame in sample {
            let frame = frame.unwrap();
            assert_eq!(frame.offset_ms, frames * 1000);
            frames += 1;
            bytes += frame.image.data.len();
        }
    });
    let held = bytes as f64 / 1048576.0;
    eprintln!("vsample: {frames} frames, {held:.1} MiB of PNG, peak RSS +{growth:.1} MiB");
    assert_eq!(frames, 7200);
    assert!(held > 2.0 * BOUND_MIB, "the test must tell streaming from holding: only {held:.1} MiB of images");
    assert!(growth < BOUND_MIB, "a 7200-frame sample raised the peak RSS by {growth:.1} MiB");

    let spec: StoryboardSpec = "storyboard/jpg/interval/1/s/160x90".parse().unwrap();
    let (mut sheets, mut tiles) = (0, 0);
    let growth = peak_growth_mib(|| {
        let mut board = vframe::Storyboard::open(Input::Path(&path), &spec, &options).unwrap();
        for sheet in board.by_ref() {
            let sheet = sheet.unwrap();
            assert_eq!((sheet.image.width, sheet.image.height), (1600, 900));
            sheets += 1;
            tiles += sheet.tile_count;
        }
        assert_eq!(board.index().tiles.len(), 7200);
        assert!(board.index().vtt().ends_with("02:00:00.000\nstoryboard-000072.jpg#xywh=1440,810,160,90\n"));
    });
    eprintln!("storyboard: {sheets} sheets, {tiles} tiles, peak RSS +{growth:.1} MiB");
    assert_eq!((sheets, tiles), (72, 7200));
    assert!(growth < BOUND_MIB, "a 72-sheet storyboard raised the peak RSS by {growth:.1} MiB");
}
