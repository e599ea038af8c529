//! `vframe::extract` on arbitrary bytes in memory: it never panics, crashes, leaks (the
//! fuzzer's leak check) or hangs (libFuzzer's -timeout, above the call's own time limit),
//! and never fails with `Status::Internal` (a bug). A success is a real, decodable image.

#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use vframe::{Format, Input, Options, Spec, Status};

fuzz_target!(|data: &[u8]| {
    // The offset varies with the input, so seeking and reading to the end are both fuzzed.
    let offset_ms = [0, 550, 30_000][data.len() % 3];
    let format = if data.len() % 2 == 0 { Format::Jpeg } else { Format::Png };
    let spec = Spec { width: (data.len() % 5 == 0).then_some(33), ..Spec::new(format, offset_ms) };
    let options = Options {
        timeout: Some(Duration::from_secs(10)),
        max_decoded_frames: 2_000,
        // Keeps one call's memory under the fuzzer's RSS limit.
        max_input_pixels: 4096 * 4096,
        threads: 1,
        cancel: None,
    };
    match vframe::extract(Input::Memory(data), &spec, &options) {
        Ok(image) => {
            assert!(image.width >= 1 && image.height >= 1);
            assert!(image.width <= vframe::spec::MAX_WIDTH && image.height <= vframe::spec::MAX_HEIGHT);
            let magic: &[u8] = if format == Format::Jpeg { b"\xff\xd8\xff" } else { b"\x89PNG" };
            assert!(image.data.starts_with(magic), "not a {format:?} file");
        }
        Err(e) => {
            assert_ne!(e.status(), Status::Internal, "internal error: {e}");
            assert!(!e.message().is_empty(), "{:?} without a message", e.status());
        }
    }
});
