//! The spec parser on arbitrary strings: it never panics, and whatever it accepts prints
//! back (`Display`) as a canonical string that parses to the same `Spec` and prints the same.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vframe::{Spec, Status};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match text.parse::<Spec>() {
        Ok(spec) => {
            let canonical = spec.to_string();
            let again: Spec = canonical.parse().unwrap_or_else(|e| panic!("{canonical:?} does not parse back: {e}"));
            assert_eq!(again, spec, "{text:?} -> {canonical:?}");
            assert_eq!(again.to_string(), canonical);
            assert!(spec.width.is_none_or(|w| (1..=vframe::spec::MAX_WIDTH).contains(&w)));
            assert!(spec.height.is_none_or(|h| (1..=vframe::spec::MAX_HEIGHT).contains(&h)));
            assert!(spec.offset_ms <= vframe::spec::MAX_OFFSET_MS);
        }
        Err(e) => {
            assert_eq!(e.status(), Status::InvalidSpec, "{text:?}: {e}");
            // Messages quote the bad part shortened: a long input never makes a long message.
            assert!(e.message().len() < 400, "a {}-byte message for {text:?}", e.message().len());
        }
    }
});
