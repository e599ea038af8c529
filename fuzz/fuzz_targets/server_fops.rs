//! `fops` strings (pfop and persistentOps): never a panic; an accepted string has 1 to
//! MAX_FOPS items, at least one valid, and every saveas target a valid bucket and key.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vframe_server::qiniu::{fop, key};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match fop::parse_fops(text) {
        Ok(items) => {
            assert!(!items.is_empty() && items.len() <= fop::MAX_FOPS);
            assert!(items.iter().any(|(_, parsed)| parsed.is_ok()));
            for (_, parsed) in items {
                let Ok(parsed) = parsed else { continue };
                if let Some(saveas) = parsed.saveas {
                    assert!(key::check_bucket(&saveas.bucket).is_ok());
                    assert!(saveas.key.as_deref().is_none_or(|k| key::check_key(k).is_ok()));
                }
                let _ = fop::default_output_key(&parsed.op_text, "Fh");
            }
        }
        Err(e) => assert_eq!(e.status, 400, "{e}"),
    }
    let _ = fop::Op::parse(text);
});
