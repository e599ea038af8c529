//! Form uploads (`multipart/form-data`) on arbitrary bodies: never a panic or a hang; the
//! file part never exceeds the limit; refusals are 4xx.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vframe_server::qiniu::form::{parse_pfop, read_form_upload_in_memory};

const LIMIT: u64 = 4096;

fuzz_target!(|data: &[u8]| {
    match read_form_upload_in_memory(data, "XX", LIMIT) {
        Ok((form, file_bytes)) => {
            assert!(file_bytes <= LIMIT && form.size == file_bytes);
            assert!(form.finish.key.as_deref().is_none_or(|k| vframe_server::qiniu::key::check_key(k).is_ok()));
        }
        Err(e) => assert!((400..500).contains(&e.status), "{e}"),
    }
    if let Err(e) = parse_pfop(data) {
        assert!((400..500).contains(&e.status), "{e}");
    }
});
