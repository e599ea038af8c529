//! `vframe::Source`, the handle: a video opened once gives, for any offsets in any order,
//! exactly the images and frames that fresh one-shot calls give; each call has its own
//! time limit; a failed call leaves the handle usable; memory is borrowed, shared or
//! read from a path; the handle moves between threads.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::fixture;
use vframe::{Input, Options, Source, Spec, Status};

fn spec(s: &str) -> Spec {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// Offsets (ms) in an order that makes the handle decode on, seek forward, seek back,
/// repeat, and go past the end and back.
const ORDER: &[u64] = &[2000, 2010, 2500, 9950, 60_000, 0, 7000, 7010, 4567, 2000, 1000, 3300, 3250, 100_000, 40];

/// Every offset of `offsets_ms`, through one handle in the order given, as PNG and as the
/// raw decoded frame, equals a fresh call's.
fn assert_handle_matches_fresh_calls(name: &str, offsets_ms: &[u64]) {
    let path = fixture(name);
    let options = Options::default();
    let mut source = Source::open(Input::Path(&path), &options).unwrap_or_else(|e| panic!("{name}: {e}"));
    for &ms in offsets_ms {
        let spec = spec(&format!("vframe/png/offset/{}.{:03}", ms / 1000, ms % 1000));
        let fresh =
            vframe::extract(Input::Path(&path), &spec, &options).unwrap_or_else(|e| panic!("{name} {spec}: {e}"));
        let warm = source.extract(&spec).unwrap_or_else(|e| panic!("{name} {spec} through the handle: {e}"));
        assert!(warm == fresh, "{name} {spec}: the handle's image differs from a fresh call's");
        let fresh = vframe::decode_frame(Input::Path(&path), ms, &options).unwrap();
        let warm = source.decode_frame(ms).unwrap();
        assert!(warm.data == fresh.data, "{name} at {ms} ms: the handle decoded another frame");
        assert_eq!(warm.time, fresh.time, "{name} at {ms} ms: frame time");
    }
}

#[test]
fn long_gop_with_b_frames() {
    assert_handle_matches_fresh_calls("bframes_gop250.mp4", ORDER);
}

#[test]
fn short_gops() {
    assert_handle_matches_fresh_calls("gop25_25fps.mp4", ORDER);
}

#[test]
fn transport_streams() {
    assert_handle_matches_fresh_calls("start600.ts", ORDER);
    assert_handle_matches_fresh_calls("audio_first.ts", &[3950, 0, 1300, 2010, 2000, 100_000, 1999]);
}

#[test]
fn matroska_webm_avi_and_edit_lists() {
    assert_handle_matches_fresh_calls("vfr.mkv", &[77_700, 10_001, 10_000, 500_000, 0, 128_000, 2000]);
    assert_handle_matches_fresh_calls("vp9.webm", &[2950, 1000, 1010, 10_000, 0, 1500]);
    assert_handle_matches_fresh_calls("mpeg4.avi", &[2030, 2000, 2010, 2020, 1300, 10_000, 0]);
    assert_handle_matches_fresh_calls("editlist.mp4", &[4950, 1234, 2010, 2000, 0, 99_000]);
}

#[test]
fn frames_without_timestamps() {
    // Untimed frames at a Matroska stream's head are reached from the start: the handle
    // opens the file again for them after it has moved on.
    assert_handle_matches_fresh_calls("cut_untimed_head.mkv", &[2500, 200, 1300, 40, 1200, 3200, 800, 0]);
    // An elementary stream without timestamps: every target is decoded from the start.
    assert_handle_matches_fresh_calls("bframes_annexb.h264", &[3500, 1000, 4567, 0, 60_000]);
}

#[test]
fn memory_is_borrowed_or_shared() {
    let path = fixture("gop25_25fps.mp4");
    let bytes = std::fs::read(&path).unwrap();
    let options = Options::default();
    let specs = [spec("vframe/jpg/offset/3.5/w/200"), spec("vframe/png/offset/1.04"), spec("vframe/jpg/offset/0.5")];
    let fresh: Vec<_> = specs.iter().map(|s| vframe::extract(Input::Path(&path), s, &options).unwrap()).collect();
    let mut borrowed = Source::open(Input::Memory(&bytes), &options).unwrap();
    let mut shared = Source::open_bytes(bytes.clone(), &options).unwrap();
    for (spec, want) in specs.iter().zip(&fresh) {
        assert!(borrowed.extract(spec).unwrap() == *want, "{spec}: borrowed memory");
        assert!(shared.extract(spec).unwrap() == *want, "{spec}: shared memory");
    }
    drop(borrowed);
    drop(bytes);
    // The shared source owns its bytes and may move to another thread.
    let moved = std::thread::spawn(move || shared.extract(&spec("vframe/png/offset/1.04")).unwrap()).join().unwrap();
    assert!(moved == fresh[1]);
}

#[test]
fn extract_many_through_a_handle() {
    let path = fixture("bframes_gop250.mp4");
    let options = Options::default();
    let mut source = Source::open_path(&path, &options).unwrap();
    // One extraction first, so the batch starts from a handle that has moved on.
    source.extract(&spec("vframe/jpg/offset/8")).unwrap();
    let specs: Vec<Spec> =
        ["vframe/png/offset/7.01", "vframe/png/offset/2", "vframe/jpg/offset/60", "vframe/png/offset/7"]
            .iter()
            .map(|s| spec(s))
            .collect();
    let batch = source.extract_many(&specs);
    for (spec, got) in specs.iter().zip(batch) {
        let want = vframe::extract(Input::Path(&path), spec, &options).unwrap();
        assert!(got.unwrap() == want, "{spec}: batch through a handle differs");
    }
}

#[test]
fn each_call_has_the_whole_time_limit() {
    let path = fixture("gop25_25fps.mp4");
    let options = Options { timeout: Some(Duration::from_millis(1500)), ..Options::default() };
    let mut source = Source::open_path(&path, &options).unwrap();
    source.extract(&spec("vframe/jpg/offset/1")).unwrap();
    // Past the limit counted from the open: a later call still has its own.
    std::thread::sleep(Duration::from_millis(1700));
    source.extract(&spec("vframe/jpg/offset/4")).expect("a call after the open's limit has its own limit");
    // A limit of zero stops the open itself.
    let none = Options { timeout: Some(Duration::ZERO), ..Options::default() };
    assert_eq!(Source::open_path(&path, &none).unwrap_err().status(), Status::Timeout);
}

#[test]
fn a_failed_call_leaves_the_handle_usable() {
    // 20 frames of decoding cannot reach 8 s into a one-keyframe file.
    let path = fixture("bframes_gop250.mp4");
    let options = Options { max_decoded_frames: 20, ..Options::default() };
    let mut source = Source::open_path(&path, &options).unwrap();
    let err = source.extract(&spec("vframe/jpg/offset/8")).unwrap_err();
    assert_eq!(err.status(), Status::LimitExceeded, "{err}");
    // A frame the limit allows still comes out, the same as a fresh call's.
    let near = spec("vframe/png/offset/0.3");
    let want = vframe::extract(Input::Path(&path), &near, &options).unwrap();
    assert!(source.extract(&near).unwrap() == want);
    let again = source.extract(&spec("vframe/jpg/offset/8")).unwrap_err();
    assert_eq!(again.status(), Status::LimitExceeded);
}

#[test]
fn cancelling_stops_every_call() {
    let cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let options = Options { cancel: Some(Arc::clone(&cancel)), ..Options::default() };
    let mut source = Source::open_path(fixture("gop25_25fps.mp4"), &options).unwrap();
    source.extract(&spec("vframe/jpg/offset/1")).unwrap();
    cancel.store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(source.extract(&spec("vframe/jpg/offset/2")).unwrap_err().status(), Status::Cancelled);
    cancel.store(false, std::sync::atomic::Ordering::Relaxed);
    source.extract(&spec("vframe/jpg/offset/2")).expect("usable again once the flag is cleared");
}

#[test]
fn opening_fails_as_a_one_shot_call_does() {
    let options = Options::default();
    let err = Source::open_path(fixture("audio_only.m4a"), &options).unwrap_err();
    assert_eq!(err.status(), Status::NoVideoStream);
    let err = Source::open(Input::Memory(b"not a video at all"), &options).unwrap_err();
    assert_eq!(err.status(), Status::CannotOpen);
    let err = Source::open_path("/nonexistent/video.mp4", &options).unwrap_err();
    assert_eq!(err.status(), Status::CannotOpen);
}

#[test]
fn truncated_files_answer_as_fresh_calls_do() {
    // A cut AVI has no index: once the handle has read to the end, the demuxer knows the
    // last keyframe, and a seek lands on it; the frame that keyframe gives alone has no
    // timestamp, and was placed at the stream's start and taken as the answer (a grey
    // picture at 0 s where a fresh call gives the last frame).
    let mut failures = Vec::new();
    for (name, percent) in [("tiny_mpeg4.avi", 80), ("tiny_mpeg4.avi", 90), ("tiny_h264_faststart.mp4", 65)] {
        let full = std::fs::read(fixture(name)).unwrap();
        let cut = &full[..full.len() * percent / 100];
        let options = Options::default();
        let mut source = Source::open(Input::Memory(cut), &options).unwrap();
        for ms in [3000, 2980, 6000, 500, 2980, 100] {
            let fresh = vframe::decode_frame(Input::Memory(cut), ms, &options).unwrap();
            let warm = source.decode_frame(ms).unwrap();
            if warm.data != fresh.data || warm.time != fresh.time {
                failures
                    .push(format!("{name} cut at {percent}%, {ms} ms: {} s, a fresh call {} s", warm.time, fresh.time));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn a_source_reads_the_file_it_opened_whatever_its_path_names_later() {
    // A raw H.264 stream is read again from its start for an earlier offset: the handle
    // must read the file it opened, not whatever the path names by then. It read the path
    // again, and gave frames of the file renamed over it, or failed on one deleted.
    let (first, earlier) = (spec("vframe/png/offset/2"), spec("vframe/png/offset/0.5"));
    let want = vframe::extract(Input::Path(&fixture("bframes_annexb.h264")), &earlier, &Options::default()).unwrap();
    for change in ["renamed over", "deleted", "overwritten in place by a new file"] {
        let path = common::TempPath::new(&format!("reopened-{}.h264", change.replace(' ', "-")));
        std::fs::copy(fixture("bframes_annexb.h264"), &path.0).unwrap();
        let mut source = Source::open_path(&path.0, &Options::default()).unwrap();
        source.extract(&first).unwrap();
        match change {
            "renamed over" => {
                let other = common::TempPath::new("reopened-other.h264");
                std::fs::copy(fixture("tiny_h264.h264"), &other.0).unwrap();
                std::fs::rename(&other.0, &path.0).unwrap();
            }
            "deleted" => std::fs::remove_file(&path.0).unwrap(),
            _ => {
                std::fs::remove_file(&path.0).unwrap();
                std::fs::copy(fixture("tiny_h264.h264"), &path.0).unwrap();
            }
        }
        let got = source.extract(&earlier).unwrap_or_else(|e| panic!("the file {change}: {e}"));
        assert!(got == want, "the file {change}: the handle read another file ({}x{})", got.width, got.height);
    }
}

/// A FIFO fed with `video`'s bytes by a thread, and a source open on it.
fn source_on_a_pipe(
    video: &std::path::Path,
    name: &str,
) -> (Source<'static>, std::thread::JoinHandle<()>, common::TempPath) {
    let fifo = common::TempPath::new(name);
    let _ = std::fs::remove_file(&fifo.0);
    assert!(std::process::Command::new("mkfifo").arg(&fifo.0).status().unwrap().success());
    let writer = {
        let (fifo, video) = (fifo.0.clone(), video.to_path_buf());
        std::thread::spawn(move || {
            let mut out = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
            // The reader may stop before the end: a broken pipe is its answer.
            let _ = std::io::copy(&mut std::fs::File::open(video).unwrap(), &mut out);
        })
    };
    (Source::open_path(&fifo.0, &Options::default()).unwrap(), writer, fifo)
}

#[test]
fn on_a_pipe_an_earlier_offset_is_refused_and_later_ones_go_on() {
    // A pipe is read once: an offset before the last one answered cannot be found. It was
    // refused only after the search had reset the source, so that every later offset
    // failed as well.
    let video = fixture("start600.ts");
    let options = Options::default();
    let (mut source, writer, _fifo) = source_on_a_pipe(&video, "source-pipe.fifo");
    let fresh = |s: &str| vframe::extract(Input::Path(&video), &spec(s), &options).unwrap();
    for s in ["vframe/png/offset/1", "vframe/png/offset/5"] {
        assert!(source.extract(&spec(s)).unwrap() == fresh(s), "{s}");
    }
    let err = source.extract(&spec("vframe/png/offset/2")).unwrap_err();
    assert_eq!(err.status(), Status::InvalidArgument, "{err}");
    assert!(err.message().contains("time order"), "{err}");
    assert!(source.extract(&spec("vframe/png/offset/7")).unwrap() == fresh("vframe/png/offset/7"));
    drop(source);
    writer.join().unwrap();
    // With an index (Matroska, MP4 with its index first), a keyframe between two offsets
    // sent the search to a seek, which a pipe cannot do: the later offset was refused.
    for name in ["tiny_h264.mkv", "tiny_h264_faststart.mp4"] {
        let video = fixture(name);
        let (mut source, writer, _fifo) = source_on_a_pipe(&video, &format!("{name}.fifo"));
        for s in ["vframe/png/offset/0.1", "vframe/png/offset/0.7"] {
            let want = vframe::extract(Input::Path(&video), &spec(s), &options).unwrap();
            assert!(source.extract(&spec(s)).unwrap_or_else(|e| panic!("{name} {s}: {e}")) == want, "{name} {s}");
        }
        drop(source);
        writer.join().unwrap();
    }
}
