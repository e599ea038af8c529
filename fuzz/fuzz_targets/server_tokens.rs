//! vframe-server's credentials checks on arbitrary input: upload tokens (as given, and as a
//! policy the fuzzer writes and the target signs, to reach the policy parser), management
//! `Authorization` headers over arbitrary bodies, and download URLs. None may panic; nothing
//! unsigned may verify; every refusal is a 4xx.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vframe_server::qiniu::auth::{verify_management, Credentials, SignedRequest};
use vframe_server::qiniu::{download, uptoken};

fuzz_target!(|data: &[u8]| {
    let mut credentials = Credentials::new();
    credentials.add("ak", "sk").unwrap();
    let Ok(text) = std::str::from_utf8(data) else { return };

    // Unsigned input never verifies (forging HMAC-SHA1 is not what a fuzzer finds).
    if let Err(e) = uptoken::verify(&credentials, text, 0) {
        assert!((400..500).contains(&e.status), "{e}");
    }
    // Signed policies: whatever the JSON, a clear answer.
    if let Some(token) = uptoken::sign(&credentials, "ak", text) {
        match uptoken::verify(&credentials, &token, 0) {
            Ok(verified) => {
                let policy = verified.policy;
                assert!(!policy.bucket.is_empty());
                let _ = policy.resolve_key(None, "FhashFhash");
                let _ = policy.resolve_key(Some(text), "Fh");
            }
            Err(e) => assert!((400..500).contains(&e.status), "{e}"),
        }
    }
    // Management requests: the input as the Authorization header and as the body.
    let request = SignedRequest {
        method: "POST",
        path_and_query: "/pfop/",
        host: Some("127.0.0.1:1"),
        content_type: Some("application/x-www-form-urlencoded"),
        qiniu_headers: vec![("x-qiniu-date", text)],
        body: data,
    };
    assert!(verify_management(&credentials, Some(text), &request, 0).is_err());
    // Download targets.
    if let Ok(url) = download::parse_target(text) {
        if url.signed.is_some() {
            assert!(download::verify(&credentials, "h", &url, 0).is_err(), "an unsigned URL verified: {text:?}");
        }
    }
});
