//! Upload tokens: `<AK>:<urlsafe_base64(HMAC-SHA1(SK, encoded))>:<encoded>`, where `encoded`
//! is the URL-safe base64 of the put-policy JSON. The signature is checked over `encoded`
//! exactly as received, then the deadline, then the policy's fields.
//!
//! Scope rules (Qiniu's): `bucket` may upload any key but never replaces an object with
//! different content (insert-only, 614); `bucket:key` may upload only that key and may
//! replace it (unless `insertOnly` is set); with `isPrefixalScope` the key must start with
//! the scope's key, and the upload never replaces an object with different content (Qiniu:
//! "isPrefixalScope 为 1 时无法覆盖上传"; such tokens are what an app hands its end users,
//! each under a prefix, so one cannot overwrite what is already stored there).

use serde_json::{Map, Value};

use super::auth::{split_token, Credentials};
use super::{base64, key, ApiError};

/// The longest upload token accepted (the policy carries `persistentOps`).
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Put-policy fields that change what an upload does and that this server does not
/// implement: a token that sets one is refused rather than half-honoured.
const UNSUPPORTED: &[&str] = &[
    "callbackUrl",
    "callbackBody",
    "callbackHost",
    "callbackBodyType",
    "callbackFetchKey",
    "returnUrl",
    "returnBody",
    "saveKey",
    "forceSaveKey",
    "keylimit",
    "mimeLimit",
    "persistentWorkflowTemplateID",
    "transform",
    "transformFallbackKey",
    "transformFallbackMode",
];
/// Fields accepted and ignored: they describe storage classes, life cycles or callback
/// identities that a local disk store has no use for.
const IGNORED: &[&str] = &["endUser", "detectMime", "deleteAfterDays", "fileType"];

/// A verified put-policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PutPolicy {
    pub bucket: String,
    /// The key of a `bucket:key` scope (or the prefix with `isPrefixalScope`).
    pub scope_key: Option<String>,
    pub prefixal: bool,
    /// Unix seconds.
    pub deadline: i64,
    pub insert_only: bool,
    pub fsize_limit: Option<u64>,
    pub fsize_min: Option<u64>,
    pub persistent_ops: Option<String>,
    pub persistent_notify_url: Option<String>,
    pub persistent_pipeline: Option<String>,
    pub persistent_type: i64,
}

/// What an upload may do to an existing object under its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overwrite {
    /// Only when the content is the same (then nothing changes); otherwise 614.
    Never,
    /// The new content replaces the old.
    Allowed,
}

/// A token that verified: who signed it and what it allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadToken {
    pub access_key: String,
    pub policy: PutPolicy,
}

/// Verifies an upload token at time `now` (Unix seconds).
pub fn verify(credentials: &Credentials, token: &str, now: i64) -> Result<UploadToken, ApiError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(ApiError::bad_token());
    }
    let (signed, encoded) = token.rsplit_once(':').ok_or_else(ApiError::bad_token)?;
    let (access_key, signature) = split_token(signed).ok_or_else(ApiError::bad_token)?;
    credentials.verify(access_key, encoded.as_bytes(), signature)?;
    let json =
        base64::decode(encoded, MAX_TOKEN_LEN).ok_or_else(|| ApiError::bad_request("invalid put policy encoding"))?;
    let policy = parse_policy(&json)?;
    if policy.deadline < now {
        return Err(ApiError::expired());
    }
    Ok(UploadToken { access_key: access_key.to_owned(), policy })
}

fn parse_policy(json: &[u8]) -> Result<PutPolicy, ApiError> {
    let bad = |what: &str| ApiError::bad_request(format!("invalid put policy: {what}"));
    let value: Value = serde_json::from_slice(json).map_err(|_| bad("not JSON"))?;
    let Value::Object(map) = value else { return Err(bad("not a JSON object")) };
    for name in map.keys() {
        if UNSUPPORTED.contains(&name.as_str()) {
            return Err(ApiError::bad_request(format!("put policy field {name} is not supported by this server")));
        }
    }
    let known = [
        "scope",
        "deadline",
        "isPrefixalScope",
        "insertOnly",
        "fsizeLimit",
        "fsizeMin",
        "persistentOps",
        "persistentNotifyUrl",
        "persistentPipeline",
        "persistentType",
    ];
    if let Some(name) = map.keys().find(|n| !known.contains(&n.as_str()) && !IGNORED.contains(&n.as_str())) {
        return Err(ApiError::bad_request(format!("unknown put policy field {}", super::quote(name))));
    }
    let scope = string(&map, "scope")?.ok_or_else(|| bad("no scope"))?;
    let (bucket, scope_key) = match scope.split_once(':') {
        Some((bucket, key)) => (bucket.to_owned(), Some(key.to_owned())),
        None => (scope.clone(), None),
    };
    key::check_bucket(&bucket)?;
    let prefixal = integer(&map, "isPrefixalScope")?.unwrap_or(0) != 0;
    match (&scope_key, prefixal) {
        (Some(k), false) => key::check_key(k)?,
        (None, true) => return Err(bad("isPrefixalScope without a key prefix in scope")),
        _ => {}
    }
    let deadline = integer(&map, "deadline")?.ok_or_else(|| bad("no deadline"))?;
    let size = |name: &str| -> Result<Option<u64>, ApiError> {
        integer(&map, name)?.map(|v| u64::try_from(v).map_err(|_| bad(name))).transpose()
    };
    let persistent_ops = string(&map, "persistentOps")?.filter(|s| !s.is_empty());
    Ok(PutPolicy {
        bucket,
        scope_key,
        prefixal,
        deadline,
        insert_only: integer(&map, "insertOnly")?.unwrap_or(0) != 0,
        fsize_limit: size("fsizeLimit")?,
        fsize_min: size("fsizeMin")?,
        persistent_ops,
        persistent_notify_url: string(&map, "persistentNotifyUrl")?.filter(|s| !s.is_empty()),
        persistent_pipeline: string(&map, "persistentPipeline")?.filter(|s| !s.is_empty()),
        persistent_type: integer(&map, "persistentType")?.unwrap_or(0),
    })
}

fn string(map: &Map<String, Value>, name: &str) -> Result<Option<String>, ApiError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad_request(format!("invalid put policy: {name} must be a string"))),
    }
}

fn integer(map: &Map<String, Value>, name: &str) -> Result<Option<i64>, ApiError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            n.as_i64().map(Some).ok_or_else(|| ApiError::bad_request(format!("invalid put policy: {name}")))
        }
        Some(Value::Bool(b)) => Ok(Some(i64::from(*b))),
        Some(_) => Err(ApiError::bad_request(format!("invalid put policy: {name} must be a number"))),
    }
}

impl PutPolicy {
    /// The key an upload is stored under, and whether it may replace an existing object:
    /// the request's key (or, when it gave none, the scope's key, else `hash`) checked
    /// against the scope. `hash` is the uploaded content's etag.
    pub fn resolve_key(&self, requested: Option<&str>, hash: &str) -> Result<(String, Overwrite), ApiError> {
        let overwrite = if self.insert_only { Overwrite::Never } else { Overwrite::Allowed };
        let key = match (requested, &self.scope_key) {
            (Some(k), _) => k.to_owned(),
            (None, Some(k)) if !self.prefixal => k.clone(),
            (None, _) => hash.to_owned(),
        };
        key::check_key(&key)?;
        match &self.scope_key {
            None => Ok((key, Overwrite::Never)),
            Some(prefix) if self.prefixal => {
                if key.starts_with(prefix.as_str()) {
                    Ok((key, Overwrite::Never))
                } else {
                    Err(ApiError::new(403, "key doesn't match with scope"))
                }
            }
            Some(scoped) => {
                if &key == scoped {
                    Ok((key, overwrite))
                } else {
                    Err(ApiError::new(403, "key doesn't match with scope"))
                }
            }
        }
    }

    /// Checks a request's key before the body arrives (when the request names one).
    pub fn check_requested_key(&self, requested: Option<&str>) -> Result<(), ApiError> {
        match requested {
            Some(k) => self.resolve_key(Some(k), "").map(|_| ()),
            None => Ok(()),
        }
    }

    /// Checks an upload's size against `fsizeLimit`/`fsizeMin`.
    pub fn check_size(&self, size: u64) -> Result<(), ApiError> {
        if self.fsize_limit.is_some_and(|limit| size > limit) {
            return Err(ApiError::new(413, "file exceeds the put policy's fsizeLimit"));
        }
        if self.fsize_min.is_some_and(|min| size < min) {
            return Err(ApiError::new(403, "file is smaller than the put policy's fsizeMin"));
        }
        Ok(())
    }
}

/// Builds a token (the SDK's `Auth.upload_token`), for tests and tools.
pub fn sign(credentials: &Credentials, access_key: &str, policy_json: &str) -> Option<String> {
    let encoded = base64::encode(policy_json);
    let signed = credentials.token(access_key, encoded.as_bytes())?;
    Some(format!("{signed}:{encoded}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        let mut c = Credentials::new();
        c.add("ak", "sk").unwrap();
        c
    }

    fn token(policy: &str) -> String {
        sign(&creds(), "ak", policy).unwrap()
    }

    #[test]
    fn verifies_signature_deadline_and_policy() {
        let t = token(r#"{"scope":"videos","deadline":100,"persistentOps":"vframe/jpg/offset/1"}"#);
        let ok = verify(&creds(), &t, 100).unwrap();
        assert_eq!(ok.access_key, "ak");
        assert_eq!(ok.policy.bucket, "videos");
        assert_eq!(ok.policy.persistent_ops.as_deref(), Some("vframe/jpg/offset/1"));
        assert_eq!(verify(&creds(), &t, 101).unwrap_err(), ApiError::expired());
        let mut other = Credentials::new();
        other.add("ak", "other").unwrap();
        assert_eq!(verify(&other, &t, 0).unwrap_err().status, 401);
        let forged = format!("{}:{}", t.rsplit_once(':').unwrap().0, base64::encode(r#"{"scope":"x","deadline":1}"#));
        assert_eq!(verify(&creds(), &forged, 0).unwrap_err().status, 401);
        for bad in ["", "ak", "ak:sig", "::", "ak::x", &"a".repeat(MAX_TOKEN_LEN + 1)] {
            assert!(verify(&creds(), bad, 0).is_err(), "{bad}");
        }
    }

    #[test]
    fn policy_fields_are_checked() {
        for (policy, what) in [
            (r#"{"deadline":1}"#, "no scope"),
            (r#"{"scope":"b"}"#, "no deadline"),
            (r#"{"scope":"b","deadline":1,"returnBody":"x"}"#, "not supported"),
            (r#"{"scope":"b","deadline":1,"surprise":1}"#, "unknown"),
            (r#"{"scope":"b","deadline":"1"}"#, "number"),
            (r#"{"scope":"b:../x","deadline":1}"#, "key"),
            (r#"{"scope":"b/c","deadline":1}"#, "bucket"),
            (r#"[1]"#, "object"),
        ] {
            let e = verify(&creds(), &token(policy), 0).unwrap_err();
            assert_eq!(e.status, 400, "{policy}");
            assert!(e.message.contains(what), "{policy}: {}", e.message);
        }
    }

    #[test]
    fn scope_rules() {
        let p = |json: &str| verify(&creds(), &token(json), 0).unwrap().policy;
        let bucket = p(r#"{"scope":"b","deadline":1}"#);
        assert_eq!(bucket.resolve_key(Some("a.mp4"), "H").unwrap(), ("a.mp4".into(), Overwrite::Never));
        assert_eq!(bucket.resolve_key(None, "Fhash").unwrap(), ("Fhash".into(), Overwrite::Never));
        let keyed = p(r#"{"scope":"b:a.mp4","deadline":1}"#);
        assert_eq!(keyed.resolve_key(None, "H").unwrap(), ("a.mp4".into(), Overwrite::Allowed));
        assert_eq!(keyed.resolve_key(Some("b.mp4"), "H").unwrap_err().status, 403);
        let insert = p(r#"{"scope":"b:a.mp4","deadline":1,"insertOnly":1}"#);
        assert_eq!(insert.resolve_key(None, "H").unwrap().1, Overwrite::Never);
        let prefix = p(r#"{"scope":"b:in/","deadline":1,"isPrefixalScope":1}"#);
        assert_eq!(prefix.resolve_key(Some("in/x"), "H").unwrap().1, Overwrite::Never);
        assert_eq!(prefix.resolve_key(Some("out/x"), "H").unwrap_err().status, 403);
        assert_eq!(bucket.resolve_key(Some("../x"), "H").unwrap_err().status, 400);
    }
}
