//! What an HEVC access unit's NAL unit headers say, read without decoding: whether it
//! starts a picture the decoder can rebuild on its own. Containers' keyframe marks cannot
//! be trusted for this (an MP4 without a sync-sample table marks every sample, an MPEG-TS
//! seek lands on any packet), and FFmpeg's HEVC decoder, unlike its H.264 one, shows the
//! pictures it predicts from references it never had.

/// NAL unit types 16-23: BLA, IDR, CRA and the reserved IRAP types.
const IRAP: std::ops::RangeInclusive<u8> = 16..=23;
/// NAL unit types below 32 carry slices (VCL); the others are parameter sets, SEI, ...
const FIRST_NON_VCL: u8 = 32;

/// How an HEVC stream's packets delimit their NAL units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NalFraming {
    /// Each NAL unit after a big-endian length of this many bytes (`hvcC`: MP4, Matroska).
    Length(u8),
    /// Start codes `00 00 01` (Annex B: MPEG-TS, elementary streams).
    StartCodes,
}

impl NalFraming {
    /// The framing a stream's extradata declares: an `hvcC` record (its first bytes are not
    /// a start code, as FFmpeg tells them apart) gives its length size, anything else
    /// start codes.
    pub fn from_extradata(extradata: &[u8]) -> NalFraming {
        match extradata {
            [a, b, c, ..] if extradata.len() >= 23 && (*a != 0 || *b != 0 || *c > 1) => {
                NalFraming::Length((extradata[21] & 3) + 1)
            }
            _ => NalFraming::StartCodes,
        }
    }
}

/// Whether the access unit in `data` is an IRAP picture, from the type of its first slice's
/// NAL unit; `None` when no slice can be found (then the container's mark is all there is).
pub(crate) fn starts_irap(data: &[u8], framing: NalFraming) -> Option<bool> {
    let is_irap = |header: u8| {
        let kind = (header >> 1) & 0x3f;
        (kind < FIRST_NON_VCL).then(|| IRAP.contains(&kind))
    };
    match framing {
        NalFraming::Length(size) => {
            let size = usize::from(size);
            let mut at = 0;
            while let Some(prefix) = data.get(at..at + size) {
                let len = prefix.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b));
                at += size;
                let nal = data.get(at..at.checked_add(len)?)?;
                if let Some(answer) = nal.first().and_then(|&h| is_irap(h)) {
                    return Some(answer);
                }
                at += len;
            }
            None
        }
        NalFraming::StartCodes => {
            let mut at = 0;
            while at + 3 < data.len() {
                if data[at] == 0 && data[at + 1] == 0 && data[at + 2] == 1 {
                    if let Some(answer) = is_irap(data[at + 3]) {
                        return Some(answer);
                    }
                    at += 3;
                } else {
                    at += 1;
                }
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{starts_irap, NalFraming};

    /// A NAL unit header byte pair for `kind`.
    fn header(kind: u8) -> [u8; 2] {
        [kind << 1, 1]
    }

    #[test]
    fn the_first_slice_decides() {
        // VPS (32), SPS (33), PPS (34), then an IDR_W_RADL slice (19): IRAP.
        let mut annex_b = Vec::new();
        for kind in [32, 33, 34, 19] {
            annex_b.extend_from_slice(&[0, 0, 0, 1]);
            annex_b.extend_from_slice(&header(kind));
            annex_b.extend_from_slice(&[0xAA, 0xBB]);
        }
        assert_eq!(starts_irap(&annex_b, NalFraming::StartCodes), Some(true));
        // An SEI (39) then a TRAIL_R slice (1): not IRAP.
        let mut lengths = Vec::new();
        for kind in [39, 1] {
            lengths.extend_from_slice(&[0, 0, 0, 4]);
            lengths.extend_from_slice(&header(kind));
            lengths.extend_from_slice(&[0xAA, 0xBB]);
        }
        assert_eq!(starts_irap(&lengths, NalFraming::Length(4)), Some(false));
        // CRA (21) and RASL (8) with 2-byte lengths.
        assert_eq!(starts_irap(&[0, 2, 21 << 1, 1], NalFraming::Length(2)), Some(true));
        assert_eq!(starts_irap(&[0, 2, 8 << 1, 1], NalFraming::Length(2)), Some(false));
    }

    #[test]
    fn no_slice_or_a_cut_unit_says_nothing() {
        assert_eq!(starts_irap(&[], NalFraming::StartCodes), None);
        assert_eq!(starts_irap(&[0, 0, 1, 32 << 1, 1], NalFraming::StartCodes), None);
        // A length running past the end.
        assert_eq!(starts_irap(&[0, 0, 0, 9, 19 << 1, 1], NalFraming::Length(4)), None);
        assert_eq!(starts_irap(&[0, 0, 0], NalFraming::Length(4)), None);
    }

    #[test]
    fn framing_from_extradata() {
        let mut hvcc = vec![1u8; 23];
        hvcc[21] = 0xF3;
        assert_eq!(NalFraming::from_extradata(&hvcc), NalFraming::Length(4));
        assert_eq!(NalFraming::from_extradata(&[0, 0, 0, 1, 0x40, 1]), NalFraming::StartCodes);
        assert_eq!(NalFraming::from_extradata(&[]), NalFraming::StartCodes);
    }
}
