//! The pure protocol functions against values computed by Qiniu's own Python SDK at test
//! time (`server/tests/vectors.py`, run by `make test-server`, which passes the file in
//! `VFRAME_QINIU_VECTORS`). Without the file the test says so and passes, except under
//! `CI=true`, where it fails.

use serde_json::Value;

use vframe_server::qiniu::auth::{qbox_signs_body, qiniu_signs_body, verify_management, Credentials, SignedRequest};
use vframe_server::qiniu::{base64, download, etag, fop, uptoken};

fn vectors() -> Option<Value> {
    let Some(path) = std::env::var_os("VFRAME_QINIU_VECTORS") else {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "VFRAME_QINIU_VECTORS is not set (CI=true)");
        eprintln!(
            "SKIPPED LOUDLY: VFRAME_QINIU_VECTORS is not set; `make test-server` generates it with the qiniu SDK"
        );
        return None;
    };
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    Some(serde_json::from_str(&text).expect("vectors are JSON"))
}

fn s<'a>(v: &'a Value, name: &str) -> &'a str {
    v[name].as_str().unwrap_or_else(|| panic!("{name} missing in {v}"))
}

fn credentials(v: &Value) -> Credentials {
    let mut c = Credentials::new();
    c.add(s(v, "access_key"), s(v, "secret_key")).unwrap();
    c
}

fn pattern(size: usize) -> Vec<u8> {
    (0..size).map(|i| ((i * 7 + 3) % 251) as u8).collect()
}

#[test]
fn signatures_tokens_and_hashes_match_the_qiniu_sdk() {
    let Some(v) = vectors() else { return };
    let creds = credentials(&v);
    let ak = s(&v, "access_key");
    eprintln!("vectors from qiniu {}", s(&v, "sdk"));

    for case in v["qbox"].as_array().unwrap() {
        let request = SignedRequest {
            method: "POST",
            path_and_query: s(case, "path_and_query"),
            host: None,
            content_type: case["content_type"].as_str(),
            qiniu_headers: vec![],
            body: s(case, "body").as_bytes(),
        };
        let ours = format!("QBox {}", creds.token(ak, &vframe_server::qiniu::auth::qbox_data(&request)).unwrap());
        assert_eq!(ours, s(case, "authorization"), "{case}");
        let verdict = verify_management(&creds, Some(s(case, "authorization")), &request, 0);
        if request.body.is_empty() || qbox_signs_body(request.content_type) {
            assert_eq!(verdict.unwrap(), ak);
        } else {
            // The signature is right, but it leaves out a body, which is never acted on.
            assert_eq!(verdict.unwrap_err().status, 400, "{case}");
        }
    }

    for case in v["qiniu"].as_array().unwrap() {
        let headers: Vec<(String, String)> = case["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap().to_owned()))
            .collect();
        let request = SignedRequest {
            method: s(case, "method"),
            path_and_query: s(case, "path_and_query"),
            host: Some(s(case, "host")),
            content_type: case["content_type"].as_str(),
            qiniu_headers: headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
            body: s(case, "body").as_bytes(),
        };
        let ours = format!("Qiniu {}", creds.token(ak, &vframe_server::qiniu::auth::qiniu_data(&request)).unwrap());
        assert_eq!(ours, s(case, "authorization"), "{case}");
        let date = vframe_server::qiniu::auth::parse_qiniu_date("20260101T000000Z").unwrap();
        let verdict = verify_management(&creds, Some(s(case, "authorization")), &request, date);
        if request.body.is_empty() || qiniu_signs_body(request.content_type) {
            assert!(verdict.is_ok(), "{case}");
        } else {
            assert_eq!(verdict.unwrap_err().status, 400, "{case}");
        }
    }

    let now = v["generated"].as_i64().unwrap();
    for case in v["upload_tokens"].as_array().unwrap() {
        let token = uptoken::verify(&creds, s(case, "token"), now).unwrap_or_else(|e| panic!("{case}: {e}"));
        let policy = &case["policy"];
        let scope = s(policy, "scope");
        assert_eq!(token.policy.bucket, scope.split(':').next().unwrap());
        assert_eq!(token.policy.scope_key.as_deref(), scope.split_once(':').map(|(_, k)| k));
        assert_eq!(token.policy.deadline, policy["deadline"].as_i64().unwrap());
        assert_eq!(token.policy.persistent_ops.as_deref(), policy["persistentOps"].as_str());
        assert_eq!(token.policy.insert_only, policy["insertOnly"].as_i64() == Some(1));
        let deadline = token.policy.deadline;
        assert_eq!(uptoken::verify(&creds, s(case, "token"), deadline + 1).unwrap_err().status, 401);
    }

    for case in v["downloads"].as_array().unwrap() {
        let url = download::parse_target(s(case, "target")).unwrap();
        download::verify(&creds, s(case, "host"), &url, now).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(download::verify(&creds, "other.host", &url, now).unwrap_err().status, 401);
    }

    for case in v["etags"].as_array().unwrap() {
        let size = case["size"].as_u64().unwrap() as usize;
        assert_eq!(etag::of(&pattern(size)), s(case, "etag"), "etag of {size} bytes");
    }
    for case in v["crc32"].as_array().unwrap() {
        let size = case["size"].as_u64().unwrap() as usize;
        assert_eq!(
            u64::from(crc32fast::hash(&pattern(size))),
            case["crc32"].as_u64().unwrap(),
            "crc32 of {size} bytes"
        );
    }
    for case in v["saveas"].as_array().unwrap() {
        let parsed = fop::parse_fop(s(case, "fop")).unwrap();
        let saveas = parsed.saveas.unwrap();
        assert_eq!((saveas.bucket.as_str(), saveas.key.as_deref()), (s(case, "bucket"), Some(s(case, "key"))));
        assert_eq!(base64::encode(format!("{}:{}", s(case, "bucket"), s(case, "key"))), s(case, "entry"));
    }
}
