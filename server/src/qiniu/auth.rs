//! Credentials and the two management-request signatures Qiniu's SDKs send.
//!
//! Every signature is `urlsafe_base64(HMAC-SHA1(secret_key, data))`; what `data` is differs:
//! - **QBox** (`Authorization: QBox AK:sig`): `<path>[?<query>]\n`, then the body when the
//!   Content-Type is exactly `application/x-www-form-urlencoded`.
//! - **Qiniu v2** (`Authorization: Qiniu AK:sig`): `<METHOD> <path>[?<query>]\nHost: <host>`,
//!   `\nContent-Type: <ct>` when there is one, `\n<X-Qiniu-* headers>` (canonical names,
//!   sorted), `\n\n`, then the body when there is a Content-Type other than
//!   `application/octet-stream`.
//!
//! Requests are checked exactly as they arrived (the raw, still percent-encoded target), and
//! signatures are compared in constant time.

use std::collections::HashMap;

use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::{base64, ApiError};

type HmacSha1 = Hmac<Sha1>;

/// Access keys and secrets may be at most this long (Qiniu's are 40 characters).
pub const MAX_KEY_LEN: usize = 256;
/// The longest `Authorization` header looked at.
pub const MAX_AUTHORIZATION_LEN: usize = 1024;
/// Qiniu v2 requests whose `X-Qiniu-Date` is further than this from the server's clock are
/// refused (403), as Qiniu does.
pub const MAX_DATE_SKEW_SECONDS: i64 = 15 * 60;

/// The access/secret key pairs a server accepts.
#[derive(Clone, Default)]
pub struct Credentials {
    keys: HashMap<String, Vec<u8>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        let mut names: Vec<&String> = self.keys.keys().collect();
        names.sort();
        f.debug_struct("Credentials").field("access_keys", &names).finish()
    }
}

impl Credentials {
    pub fn new() -> Credentials {
        Credentials::default()
    }

    /// Adds a pair; both must be non-empty printable ASCII without `:` (it separates fields
    /// in tokens), at most [`MAX_KEY_LEN`] bytes.
    pub fn add(&mut self, access_key: &str, secret_key: &str) -> Result<(), String> {
        for (what, value) in [("access key", access_key), ("secret key", secret_key)] {
            if value.is_empty() || value.len() > MAX_KEY_LEN {
                return Err(format!("the {what} must be 1 to {MAX_KEY_LEN} characters"));
            }
            if !value.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
                return Err(format!("the {what} must be printable ASCII without ':'"));
            }
        }
        self.keys.insert(access_key.to_owned(), secret_key.as_bytes().to_vec());
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn secret(&self, access_key: &str) -> Option<&[u8]> {
        self.keys.get(access_key).map(Vec::as_slice)
    }

    /// `AK:sign(data)` with the pair of `access_key`, as the SDKs' `Auth.token(data)`.
    pub fn token(&self, access_key: &str, data: &[u8]) -> Option<String> {
        Some(format!("{access_key}:{}", sign(self.secret(access_key)?, data)))
    }

    /// Checks that `signature` (URL-safe base64) signs `data` with `access_key`'s secret.
    /// An unknown access key and a wrong signature are the same failure.
    pub fn verify(&self, access_key: &str, data: &[u8], signature: &str) -> Result<(), ApiError> {
        let secret = self.secret(access_key).ok_or_else(ApiError::bad_token)?;
        let given = base64::decode(signature, 64).ok_or_else(ApiError::bad_token)?;
        let mut mac = HmacSha1::new_from_slice(secret).expect("HMAC takes keys of any length");
        mac.update(data);
        mac.verify_slice(&given).map_err(|_| ApiError::bad_token())
    }
}

/// `urlsafe_base64(HMAC-SHA1(secret, data))`.
pub fn sign(secret: &[u8], data: &[u8]) -> String {
    let mut mac = HmacSha1::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(data);
    base64::encode(mac.finalize().into_bytes())
}

/// Splits `AK:signature` (the part after the scheme in an `Authorization` header).
pub fn split_token(token: &str) -> Option<(&str, &str)> {
    let (access_key, signature) = token.split_once(':')?;
    if access_key.is_empty() || access_key.len() > MAX_KEY_LEN || signature.is_empty() || signature.contains(':') {
        return None;
    }
    Some((access_key, signature))
}

/// What a management request's signature covers, as received.
#[derive(Clone, Debug)]
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The raw request target: path and, when present, `?` and the query.
    pub path_and_query: &'a str,
    /// The `Host` header.
    pub host: Option<&'a str>,
    pub content_type: Option<&'a str>,
    /// Every `X-Qiniu-*` header: (name in any case, value).
    pub qiniu_headers: Vec<(&'a str, &'a str)>,
    pub body: &'a [u8],
}

/// Whether a QBox signature covers the body: only with a Content-Type of exactly
/// `application/x-www-form-urlencoded` (no parameters, as the SDKs compare it).
pub fn qbox_signs_body(content_type: Option<&str>) -> bool {
    content_type == Some("application/x-www-form-urlencoded")
}

/// Whether a Qiniu v2 signature covers the body: with any Content-Type but
/// `application/octet-stream`.
pub fn qiniu_signs_body(content_type: Option<&str>) -> bool {
    matches!(content_type, Some(ct) if ct != "application/octet-stream")
}

/// The data a QBox signature covers.
pub fn qbox_data(request: &SignedRequest<'_>) -> Vec<u8> {
    let mut data = request.path_and_query.as_bytes().to_vec();
    data.push(b'\n');
    if qbox_signs_body(request.content_type) {
        data.extend_from_slice(request.body);
    }
    data
}

/// Go's `textproto.CanonicalMIMEHeaderKey` for the header names HTTP allows.
pub fn canonical_header_name(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() };
            upper = c == '-';
            out
        })
        .collect()
}

/// The data a Qiniu v2 signature covers.
pub fn qiniu_data(request: &SignedRequest<'_>) -> Vec<u8> {
    let mut text = format!("{} {}\nHost: {}", request.method, request.path_and_query, request.host.unwrap_or(""));
    if let Some(content_type) = request.content_type {
        text.push_str("\nContent-Type: ");
        text.push_str(content_type);
    }
    let prefix = "X-Qiniu-";
    let mut headers: Vec<(String, &str)> = request
        .qiniu_headers
        .iter()
        .map(|(name, value)| (canonical_header_name(name), *value))
        .filter(|(name, _)| name.len() > prefix.len() && name.starts_with(prefix))
        .collect();
    headers.sort();
    for (name, value) in headers {
        text.push('\n');
        text.push_str(&name);
        text.push_str(": ");
        text.push_str(value);
    }
    text.push_str("\n\n");
    let mut data = text.into_bytes();
    if qiniu_signs_body(request.content_type) {
        data.extend_from_slice(request.body);
    }
    data
}

/// Parses `X-Qiniu-Date` (`YYYYMMDDTHHMMSSZ`, UTC) into Unix seconds.
pub fn parse_qiniu_date(text: &str) -> Option<i64> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let parsed = time::PrimitiveDateTime::parse(text, &format).ok()?;
    Some(parsed.assume_utc().unix_timestamp())
}

/// The error for a request whose body its signature does not cover (`why`: which bodies the
/// scheme signs).
pub fn unsigned_body(why: &str) -> ApiError {
    ApiError::bad_request(format!(
        "the request body is not covered by the signature ({why}): send it as application/x-www-form-urlencoded"
    ))
}

/// Verifies a management request (pfop, and anything else that needs the secret key) signed
/// with QBox or Qiniu v2. Returns the access key. `now` is Unix seconds.
///
/// Every management endpoint acts on its body, so a non-empty body that the signature does
/// not cover (QBox without exactly `application/x-www-form-urlencoded`; v2 with
/// `application/octet-stream` or no Content-Type) is refused with 400: what is acted on is
/// always what was signed.
pub fn verify_management(
    credentials: &Credentials,
    authorization: Option<&str>,
    request: &SignedRequest<'_>,
    now: i64,
) -> Result<String, ApiError> {
    let authorization = authorization.ok_or_else(|| ApiError::unauthorized("no authorization"))?;
    if authorization.len() > MAX_AUTHORIZATION_LEN {
        return Err(ApiError::bad_token());
    }
    if let Some(token) = authorization.strip_prefix("QBox ") {
        let (access_key, signature) = split_token(token).ok_or_else(ApiError::bad_token)?;
        credentials.verify(access_key, &qbox_data(request), signature)?;
        if !request.body.is_empty() && !qbox_signs_body(request.content_type) {
            return Err(unsigned_body(
                "QBox signs a body only with Content-Type exactly application/x-www-form-urlencoded",
            ));
        }
        return Ok(access_key.to_owned());
    }
    if let Some(token) = authorization.strip_prefix("Qiniu ") {
        let (access_key, signature) = split_token(token).ok_or_else(ApiError::bad_token)?;
        credentials.verify(access_key, &qiniu_data(request), signature)?;
        if !request.body.is_empty() && !qiniu_signs_body(request.content_type) {
            return Err(unsigned_body("Qiniu signs no body without a Content-Type or with application/octet-stream"));
        }
        let date = request.qiniu_headers.iter().find(|(name, _)| name.eq_ignore_ascii_case("x-qiniu-date"));
        if let Some((_, date)) = date {
            let at = parse_qiniu_date(date).ok_or_else(|| ApiError::new(403, "invalid X-Qiniu-Date"))?;
            if (now - at).abs() > MAX_DATE_SKEW_SECONDS {
                return Err(ApiError::new(403, "request time is too skewed (X-Qiniu-Date)"));
            }
        }
        return Ok(access_key.to_owned());
    }
    Err(ApiError::bad_token())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        let mut c = Credentials::new();
        c.add("ak", "sk").unwrap();
        c
    }

    fn request<'a>(content_type: Option<&'a str>, body: &'a [u8]) -> SignedRequest<'a> {
        SignedRequest {
            method: "POST",
            path_and_query: "/pfop?x=1",
            host: Some("127.0.0.1:9"),
            content_type,
            qiniu_headers: vec![("x-qiniu-b", "2"), ("X-QINIU-A", "1"), ("x-qiniu-", "ignored")],
            body,
        }
    }

    #[test]
    fn signing_data_has_the_sdk_layout() {
        let form = request(Some("application/x-www-form-urlencoded"), b"a=b");
        assert_eq!(qbox_data(&form), b"/pfop?x=1\na=b");
        assert_eq!(qbox_data(&request(Some("application/json"), b"{}")), b"/pfop?x=1\n");
        assert_eq!(
            String::from_utf8(qiniu_data(&form)).unwrap(),
            "POST /pfop?x=1\nHost: 127.0.0.1:9\nContent-Type: application/x-www-form-urlencoded\nX-Qiniu-A: 1\nX-Qiniu-B: 2\n\na=b"
        );
        let octets = request(Some("application/octet-stream"), b"zz");
        assert!(String::from_utf8(qiniu_data(&octets)).unwrap().ends_with("X-Qiniu-B: 2\n\n"));
    }

    #[test]
    fn management_requests_verify_and_fail_closed() {
        let c = creds();
        let form = request(Some("application/x-www-form-urlencoded"), b"a=b");
        let qbox = format!("QBox {}", c.token("ak", &qbox_data(&form)).unwrap());
        assert_eq!(verify_management(&c, Some(&qbox), &form, 0).unwrap(), "ak");
        let v2 = format!("Qiniu {}", c.token("ak", &qiniu_data(&form)).unwrap());
        assert_eq!(verify_management(&c, Some(&v2), &form, 0).unwrap(), "ak");
        let tampered = request(Some("application/x-www-form-urlencoded"), b"a=c");
        assert_eq!(verify_management(&c, Some(&qbox), &tampered, 0).unwrap_err().status, 401);
        assert_eq!(verify_management(&c, Some(&v2), &tampered, 0).unwrap_err().status, 401);
        assert_eq!(verify_management(&c, None, &form, 0).unwrap_err().status, 401);
        for bad in ["QBox ", "QBox ak", "QBox :x", "QBox ak:", "QBox zz:abc", "Basic x", "QBox ak:a:b"] {
            assert_eq!(verify_management(&c, Some(bad), &form, 0).unwrap_err().status, 401, "{bad}");
        }
    }

    #[test]
    fn a_body_the_signature_does_not_cover_is_refused() {
        let c = creds();
        let body: &[u8] = b"bucket=b&key=k&fops=vframe/jpg/offset/1&force=1";
        let unsigned_types = [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            Some("application/json"),
        ];
        for content_type in unsigned_types {
            let r = request(content_type, body);
            // The signature is valid (it covers the path only), yet the body is refused.
            let qbox = format!("QBox {}", c.token("ak", &qbox_data(&r)).unwrap());
            assert_eq!(qbox_data(&r), b"/pfop?x=1\n");
            let e = verify_management(&c, Some(&qbox), &r, 0).unwrap_err();
            assert_eq!(e.status, 400, "{content_type:?}");
            assert!(e.message.contains("not covered by the signature"), "{}", e.message);
        }
        for content_type in [None, Some("application/octet-stream")] {
            let r = request(content_type, body);
            let v2 = format!("Qiniu {}", c.token("ak", &qiniu_data(&r)).unwrap());
            assert_eq!(verify_management(&c, Some(&v2), &r, 0).unwrap_err().status, 400, "{content_type:?}");
        }
        // v2 signs the body of any other type, charset included: accepted, and a changed body fails.
        let r = request(Some("application/x-www-form-urlencoded; charset=utf-8"), body);
        let v2 = format!("Qiniu {}", c.token("ak", &qiniu_data(&r)).unwrap());
        assert_eq!(verify_management(&c, Some(&v2), &r, 0).unwrap(), "ak");
        let other = request(Some("application/x-www-form-urlencoded; charset=utf-8"), b"bucket=b&key=other");
        assert_eq!(verify_management(&c, Some(&v2), &other, 0).unwrap_err().status, 401);
        // An empty body has nothing to cover.
        let empty = request(Some("application/json"), b"");
        let qbox = format!("QBox {}", c.token("ak", &qbox_data(&empty)).unwrap());
        assert_eq!(verify_management(&c, Some(&qbox), &empty, 0).unwrap(), "ak");
    }

    #[test]
    fn qiniu_date_is_checked() {
        let c = creds();
        let mut r = request(None, b"");
        r.qiniu_headers = vec![("x-qiniu-date", "20260101T000000Z")];
        let at = parse_qiniu_date("20260101T000000Z").unwrap();
        assert_eq!(at, 1_767_225_600);
        let auth = format!("Qiniu {}", c.token("ak", &qiniu_data(&r)).unwrap());
        assert!(verify_management(&c, Some(&auth), &r, at + 900).is_ok());
        assert_eq!(verify_management(&c, Some(&auth), &r, at + 901).unwrap_err().status, 403);
        r.qiniu_headers = vec![("x-qiniu-date", "yesterday")];
        let auth = format!("Qiniu {}", c.token("ak", &qiniu_data(&r)).unwrap());
        assert_eq!(verify_management(&c, Some(&auth), &r, at).unwrap_err().status, 403);
    }

    #[test]
    fn keys_are_checked_when_added() {
        let mut c = Credentials::new();
        assert!(c.add("", "x").is_err());
        assert!(c.add("a:b", "x").is_err());
        assert!(c.add("a b", "x").is_err());
        assert!(c.add("a", "x").is_ok());
        assert!(!format!("{c:?}").contains('x'));
    }
}
