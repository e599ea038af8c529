//! URL-safe base64 as Qiniu's SDKs write it (`-` and `_`, `=` padding kept). Decoding also
//! takes unpadded input, which some SDKs send for keys.

use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;

const ENCODER: GeneralPurpose = GeneralPurpose::new(&URL_SAFE, GeneralPurposeConfig::new());
const DECODER: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// `urlsafe_base64_encode` of the SDKs.
pub fn encode(data: impl AsRef<[u8]>) -> String {
    ENCODER.encode(data)
}

/// Decodes URL-safe base64, padded or not; `None` for anything else. Inputs longer than
/// `max_len` characters are refused before decoding.
pub fn decode(text: &str, max_len: usize) -> Option<Vec<u8>> {
    if text.len() > max_len {
        return None;
    }
    DECODER.decode(text).ok()
}

/// Decodes URL-safe base64 that must hold UTF-8 text.
pub fn decode_str(text: &str, max_len: usize) -> Option<String> {
    String::from_utf8(decode(text, max_len)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_and_without_padding() {
        assert_eq!(encode("a"), "YQ==");
        assert_eq!(encode([0xfb, 0xff]), "-_8=");
        assert_eq!(decode("YQ==", 10).unwrap(), b"a");
        assert_eq!(decode("YQ", 10).unwrap(), b"a");
        assert_eq!(decode("-_8", 10).unwrap(), [0xfb, 0xff]);
        assert!(decode("+/8=", 10).is_none());
        assert!(decode("YQ==", 3).is_none());
        assert!(decode_str("_w==", 10).is_none());
    }
}
