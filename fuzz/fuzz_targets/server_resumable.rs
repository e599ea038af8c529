//! The resumable-upload protocols' paths and bodies: never a panic; any context or upload id
//! accepted is 32 lowercase hex digits (they name files); keys accepted pass the key rules.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vframe_server::qiniu::key::check_key;
use vframe_server::qiniu::resumable::{self, Id};

fn is_hex_id(id: &Id) -> bool {
    id.as_str().len() == 32 && id.as_str().bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(size) = resumable::parse_mkblk(text) {
            assert!((1..=resumable::BLOCK_SIZE).contains(&size));
        }
        if let Ok((ctx, _)) = resumable::parse_bput(text) {
            assert!(is_hex_id(&ctx));
        }
        if let Ok((_, finish)) = resumable::parse_mkfile(text) {
            assert!(finish.key.as_deref().is_none_or(|k| check_key(k).is_ok()));
        }
        if let Ok(path) = resumable::parse_v2_path(text) {
            assert!(path.upload_id.as_ref().is_none_or(is_hex_id));
            assert!(path.key.as_deref().is_none_or(|k| check_key(k).is_ok()));
            assert!(path.part.is_none_or(|n| (1..=resumable::MAX_PARTS).contains(&n)));
        }
    }
    let fsize = data.len() as u64 * 1_000_003;
    if let Ok(ids) = resumable::parse_ctx_list(data, fsize) {
        assert!(ids.iter().all(is_hex_id));
    }
    if let Ok((parts, _)) = resumable::parse_complete(data) {
        assert!(parts.windows(2).all(|w| w[0].0 < w[1].0));
    }
});
