//! Object URLs on a download domain: `/<key>[?<fop>][&e=<deadline>&token=<AK>:<sig>]`.
//!
//! A private bucket's URLs are signed over the whole URL up to `&token=` (scheme and host
//! included, as `Auth.private_download_url` builds it). The server sees only the host and
//! the request target, so it checks the signature for both `http` and `https`, on the raw
//! target and, since HTTP clients re-encode some characters (`|` as `%7C`), on the target
//! percent-decoded, but only when the decoded form names the same key, fop and deadline as
//! the request (the key is decoded exactly once, from the target as received).

use percent_encoding::percent_decode_str;

use super::auth::{split_token, Credentials};
use super::{quote, ApiError};

/// The longest request target looked at.
pub const MAX_TARGET_LEN: usize = 8 * 1024;

/// A download request's target, split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectUrl {
    /// The object key (the path without its `/`, percent-decoded).
    pub key: String,
    /// The processing operation, percent-decoded (`vframe/jpg/offset/7`), if any.
    pub fop: Option<String>,
    /// `e=` (Unix seconds), if present.
    pub deadline: Option<i64>,
    /// `token=`, if present: (the target before `&token=`, the token).
    pub signed: Option<(String, String)>,
}

/// Splits a request target (`/key?query`).
pub fn parse_target(target: &str) -> Result<ObjectUrl, ApiError> {
    if target.len() > MAX_TARGET_LEN {
        return Err(ApiError::new(414, "request target too long"));
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let raw_key = path.strip_prefix('/').ok_or_else(|| ApiError::bad_request("bad request target"))?;
    let key =
        percent_decode_str(raw_key).decode_utf8().map_err(|_| ApiError::bad_request("key is not UTF-8"))?.into_owned();
    let mut url = ObjectUrl { key, fop: None, deadline: None, signed: None };
    let Some(query) = query else { return Ok(url) };
    let query_start = target.len() - query.len();
    let found = (query.rfind("&token=").map(|at| (query_start + at, query_start + at + 7)))
        .or_else(|| query.starts_with("token=").then(|| (query_start - 1, query_start + 6)));
    if let Some((end, token_start)) = found {
        let token = percent_decode_str(&target[token_start..]).decode_utf8().map_err(|_| ApiError::bad_token())?;
        url.signed = Some((target[..end].to_owned(), token.into_owned()));
    }
    for (index, part) in query.split('&').enumerate() {
        if let Some(e) = part.strip_prefix("e=") {
            url.deadline = Some(e.parse().map_err(|_| ApiError::unauthorized(format!("invalid e= {}", quote(e))))?);
        } else if part.starts_with("token=") || part.starts_with("attname=") || part.is_empty() {
        } else if index == 0 {
            let fop = percent_decode_str(part).decode_utf8().map_err(|_| ApiError::bad_request("fop is not UTF-8"))?;
            url.fop = Some(fop.into_owned());
        } else {
            return Err(ApiError::bad_request(format!("unexpected query parameter {}", quote(part))));
        }
    }
    Ok(url)
}

/// The strings a signature over the target `before` `&token=` may cover: the target as
/// received, and the forms with the query, or the path and the query, percent-decoded (clients
/// re-encode `|` as `%7C`, or a key the signer left unencoded). A decoded form counts only when
/// it names the same key, fop and deadline as the request: the key is decoded exactly once,
/// from the target as received, so `/my%2520file` (key `my%20file`) is never served on a
/// signature for `/my%20file` (key `my file`).
fn signed_candidates(before: &str, url: &ObjectUrl) -> Vec<String> {
    let mut candidates = vec![before.to_owned()];
    let (path, query) = match before.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (before, None),
    };
    let decode = |s: &str| percent_decode_str(s).decode_utf8().ok().map(|d| d.into_owned());
    let join = |path: &str, query: Option<&str>| match query {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let decoded_query = query.and_then(decode);
    let mut forms = Vec::new();
    if let Some(q) = &decoded_query {
        forms.push(join(path, Some(q)));
    }
    if let Some(p) = decode(path) {
        forms.push(join(&p, decoded_query.as_deref().or(query)));
    }
    for form in forms {
        if candidates.contains(&form) {
            continue;
        }
        let same = parse_target(&form)
            .is_ok_and(|read| read.key == url.key && read.fop == url.fop && read.deadline == url.deadline);
        if same {
            candidates.push(form);
        }
    }
    candidates
}

/// Checks a private URL's token (see the module doc) at `now` (Unix seconds).
pub fn verify(credentials: &Credentials, host: &str, url: &ObjectUrl, now: i64) -> Result<(), ApiError> {
    let (before, token) = url
        .signed
        .as_ref()
        .ok_or_else(|| ApiError::unauthorized("this bucket is private: a signed URL is required"))?;
    let (access_key, signature) = split_token(token).ok_or_else(ApiError::bad_token)?;
    let verified = signed_candidates(before, url).iter().any(|target| {
        ["http", "https"].iter().any(|scheme| {
            let signed = format!("{scheme}://{host}{target}");
            credentials.verify(access_key, signed.as_bytes(), signature).is_ok()
        })
    });
    if !verified {
        return Err(ApiError::bad_token());
    }
    // The deadline is inside what was signed, so it is trusted only now.
    match url.deadline {
        Some(deadline) if deadline >= now => Ok(()),
        Some(_) => Err(ApiError::expired()),
        None => Err(ApiError::unauthorized("a signed URL needs e=<deadline>")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        let mut c = Credentials::new();
        c.add("ak", "sk").unwrap();
        c
    }

    fn signed(url: &str) -> String {
        format!("{url}&token={}", creds().token("ak", url.as_bytes()).unwrap())
    }

    #[test]
    fn parses_targets() {
        let u = parse_target("/a%20b/c.mp4?vframe/jpg/offset/7%7Csaveas/x&e=5&token=ak:s").unwrap();
        assert_eq!(u.key, "a b/c.mp4");
        assert_eq!(u.fop.as_deref(), Some("vframe/jpg/offset/7|saveas/x"));
        assert_eq!(u.deadline, Some(5));
        assert_eq!(u.signed, Some(("/a%20b/c.mp4?vframe/jpg/offset/7%7Csaveas/x&e=5".into(), "ak:s".into())));
        let plain = parse_target("/k").unwrap();
        assert_eq!((plain.fop, plain.deadline, plain.signed), (None, None, None));
        assert!(parse_target("/k?vframe/jpg/offset/1&x=1").is_err());
        assert!(parse_target("/k?e=z&token=a:b").is_err());
        assert!(parse_target("k").is_err());
        assert!(parse_target("/%ff").is_err());
    }

    #[test]
    fn verifies_private_urls() {
        let url = signed("http://h:1/k.mp4?vframe/jpg/offset/1&e=100");
        let target = url.strip_prefix("http://h:1").unwrap();
        let parsed = parse_target(target).unwrap();
        assert!(verify(&creds(), "h:1", &parsed, 100).is_ok());
        assert_eq!(verify(&creds(), "h:1", &parsed, 101).unwrap_err(), ApiError::expired());
        assert_eq!(verify(&creds(), "other:1", &parsed, 0).unwrap_err().status, 401);
        let https = signed("https://h/k.mp4?e=100");
        let parsed = parse_target(https.strip_prefix("https://h").unwrap()).unwrap();
        assert!(verify(&creds(), "h", &parsed, 0).is_ok());
        // A client that re-encodes `|` still verifies.
        let piped = signed("http://h/k?vframe/jpg/offset/1|x&e=100");
        let reencoded = piped.strip_prefix("http://h").unwrap().replace('|', "%7C");
        assert!(verify(&creds(), "h", &parse_target(&reencoded).unwrap(), 0).is_ok());
        // Moving the deadline breaks the signature.
        let moved = url.strip_prefix("http://h:1").unwrap().replace("e=100", "e=999");
        assert_eq!(verify(&creds(), "h:1", &parse_target(&moved).unwrap(), 0).unwrap_err().status, 401);
        assert_eq!(verify(&creds(), "h", &parse_target("/k").unwrap(), 0).unwrap_err().status, 401);
    }

    #[test]
    fn a_signed_url_opens_only_the_key_it_names() {
        // Signed for the key `my file.mp4`.
        let url = signed("http://h/my%20file.mp4?e=100");
        let target = url.strip_prefix("http://h").unwrap();
        let parsed = parse_target(target).unwrap();
        assert_eq!(parsed.key, "my file.mp4");
        assert!(verify(&creds(), "h", &parsed, 0).is_ok());
        // The same signature on `/my%2520file.mp4` (the key `my%20file.mp4`) is refused.
        let other = parse_target(&target.replace("my%20file", "my%2520file")).unwrap();
        assert_eq!(other.key, "my%20file.mp4");
        assert_eq!(verify(&creds(), "h", &other, 0).unwrap_err().status, 401);
        // A key signed unencoded and sent encoded by the client still names the same key.
        let raw = signed("http://h/my file.mp4?e=100");
        let sent = raw.strip_prefix("http://h").unwrap().replace(' ', "%20");
        let parsed = parse_target(&sent).unwrap();
        assert_eq!(parsed.key, "my file.mp4");
        assert!(verify(&creds(), "h", &parsed, 0).is_ok());
    }
}
