//! SPEC §3: orientation (rotation and mirroring) and the output size.
//!
//! Pure, safe Rust. Knows nothing of FFmpeg except the display-matrix layout.

use crate::error::{Error, Status};
use crate::spec::{Rotate, MAX_HEIGHT, MAX_WIDTH};

/// One of the eight symmetries of a rectangle: an optional transpose (swap of the axes),
/// then optional horizontal and vertical flips.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Orientation {
    pub transpose: bool,
    pub flip_h: bool,
    pub flip_v: bool,
}

impl Orientation {
    pub const IDENTITY: Orientation = Orientation { transpose: false, flip_h: false, flip_v: false };
    pub const CW90: Orientation = Orientation { transpose: true, flip_h: true, flip_v: false };
    pub const CW180: Orientation = Orientation { transpose: false, flip_h: true, flip_v: true };
    pub const CW270: Orientation = Orientation { transpose: true, flip_h: false, flip_v: true };
    pub const TRANSPOSE: Orientation = Orientation { transpose: true, flip_h: false, flip_v: false };
    pub const ANTI_TRANSPOSE: Orientation = Orientation { transpose: true, flip_h: true, flip_v: true };

    /// The orientation a player applies for a display matrix, given the matrix and its
    /// rotation angle (FFmpeg's `av_display_rotation_get`, counter-clockwise degrees).
    /// Mirrored matrices are honoured, as in ffmpeg 6.1+'s autorotate; angles that are not
    /// a multiple of 90 are rounded to the nearest one.
    pub fn from_display_matrix(m: &[i32; 9], rotation_ccw: f64) -> Orientation {
        if !rotation_ccw.is_finite() {
            return Orientation::IDENTITY;
        }
        let theta = ((-rotation_ccw / 90.0).round() as i64).rem_euclid(4);
        match theta {
            1 if m[3] > 0 => Orientation::TRANSPOSE,
            1 => Orientation::CW90,
            2 => Orientation { transpose: false, flip_h: m[0] < 0, flip_v: m[4] < 0 },
            3 if m[3] < 0 => Orientation::ANTI_TRANSPOSE,
            3 => Orientation::CW270,
            _ => Orientation { flip_v: m[4] < 0, ..Orientation::IDENTITY },
        }
    }

    /// The orientation for a legacy `rotate` tag (clockwise degrees).
    pub fn from_rotate_tag(degrees: i32) -> Orientation {
        match (degrees.rem_euclid(360) + 45) / 90 % 4 {
            1 => Orientation::CW90,
            2 => Orientation::CW180,
            3 => Orientation::CW270,
            _ => Orientation::IDENTITY,
        }
    }

    /// The orientation for an explicit `rotate/<deg>`.
    pub fn from_rotate(rotate: Rotate) -> Option<Orientation> {
        match rotate {
            Rotate::Cw90 => Some(Orientation::CW90),
            Rotate::Cw180 => Some(Orientation::CW180),
            Rotate::Cw270 => Some(Orientation::CW270),
            Rotate::Auto => None,
        }
    }
}

/// Sample aspect ratios within this fraction of 1:1 are encoder rounding, not anamorphic
/// video (real anamorphic SARs such as 12:11, 10:11, 16:15 or 32:27 are 6% or more away).
const SQUARE_TOLERANCE: f64 = 0.01;

/// Where each pixel goes: the size to scale the decoded frame to, then the orientation
/// that turns it into the final `width` x `height` image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    pub scaled_width: u32,
    pub scaled_height: u32,
    pub orientation: Orientation,
    pub width: u32,
    pub height: u32,
}

/// `a * b / c`, rounded half up, at least 1 (exact in integers).
fn ratio_round(a: u64, b: u64, c: u64) -> u32 {
    let v = (2 * u128::from(a) * u128::from(b) + u128::from(c)) / (2 * u128::from(c));
    v.clamp(1, u128::from(u32::MAX)) as u32
}

/// The sample aspect ratio as used: `(1, 1)` for anything not positive or within
/// `SQUARE_TOLERANCE` of square.
fn effective_sar(sar: (i32, i32)) -> (u64, u64) {
    let (num, den) = sar;
    if num <= 0 || den <= 0 || (f64::from(num) / f64::from(den) - 1.0).abs() < SQUARE_TOLERANCE {
        (1, 1)
    } else {
        (num as u64, den as u64)
    }
}

/// Display width of a frame `width` pixels wide with sample aspect ratio `sar`
/// (`(num, den)`; anything not positive counts as square).
pub fn display_width(width: u32, sar: (i32, i32)) -> u32 {
    let (num, den) = effective_sar(sar);
    ratio_round(u64::from(width), num, den)
}

/// Plans the output of SPEC §3 for a coded `width` x `height` frame.
///
/// The display aspect ratio is kept as the exact rational `width·sar_num : height·sar_den`
/// (swapped when the orientation transposes) and every derived side is rounded once, at
/// the end: 720x480 at SAR 32:27 (exactly 16:9) with `h/1080` is 1920x1080.
pub fn plan(
    width: u32,
    height: u32,
    sar: (i32, i32),
    orientation: Orientation,
    want_width: Option<u32>,
    want_height: Option<u32>,
) -> Result<Plan, Error> {
    if width == 0 || height == 0 {
        return Err(Error::new(Status::DecodeError, "decoded frame has no size"));
    }
    let (num, den) = effective_sar(sar);
    // The display aspect as an exact ratio aspect_w : aspect_h, and the display size.
    let (mut aspect_w, mut aspect_h) = (u64::from(width) * num, u64::from(height) * den);
    let (mut dw, mut dh) = (display_width(width, sar), height);
    if orientation.transpose {
        (aspect_w, aspect_h) = (aspect_h, aspect_w);
        (dw, dh) = (dh, dw);
    }
    let (mut w, mut h) = match (want_width, want_height) {
        (None, None) => (dw, dh),
        (Some(w), None) => (w, ratio_round(u64::from(w), aspect_h, aspect_w)),
        (None, Some(h)) => (ratio_round(u64::from(h), aspect_w, aspect_h), h),
        (Some(w), Some(h)) => (w, h),
    };
    if w > MAX_WIDTH || h > MAX_HEIGHT {
        // Only a size derived from the display aspect can be too large (w and h given are
        // within the limits): scale it down by the tighter limit, keeping that aspect.
        if u128::from(aspect_w) * u128::from(MAX_HEIGHT) >= u128::from(aspect_h) * u128::from(MAX_WIDTH) {
            (w, h) = (MAX_WIDTH, ratio_round(u64::from(MAX_WIDTH), aspect_h, aspect_w).min(MAX_HEIGHT));
        } else {
            (w, h) = (ratio_round(u64::from(MAX_HEIGHT), aspect_w, aspect_h).min(MAX_WIDTH), MAX_HEIGHT);
        }
    }
    let (sw, sh) = if orientation.transpose { (h, w) } else { (w, h) };
    Ok(Plan { scaled_width: sw, scaled_height: sh, orientation, width: w, height: h })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anamorphic_display_size() {
        assert_eq!(display_width(1440, (4, 3)), 1920);
        assert_eq!(display_width(1920, (3201, 3200)), 1920);
        assert_eq!(display_width(720, (32, 27)), 853);
        assert_eq!(display_width(720, (0, 1)), 720);
        assert_eq!(display_width(720, (-4, 3)), 720);
        // Narrow pixels make the picture narrower.
        assert_eq!(display_width(768, (187, 200)), 718);
        assert_eq!(display_width(1, (1, 1000)), 1);
        assert_eq!(display_width(u32::MAX, (i32::MAX, 1)), u32::MAX);
    }

    #[test]
    fn aspect_is_corrected_before_rotation() {
        // 480x360 at SAR 4:3 displays 640x360; turned, 360x640. The decoded frame is
        // scaled to 640x360 and then transposed.
        let p = plan(480, 360, (4, 3), Orientation::CW90, None, None).unwrap();
        assert_eq!((p.width, p.height, p.scaled_width, p.scaled_height), (360, 640, 640, 360));
        let p = plan(480, 360, (4, 3), Orientation::CW270, None, Some(320)).unwrap();
        assert_eq!((p.width, p.height, p.scaled_width, p.scaled_height), (180, 320, 320, 180));
    }

    #[test]
    fn both_sides_given_are_taken_as_they_are() {
        let p = plan(1920, 1080, (1, 1), Orientation::CW90, Some(100), Some(50)).unwrap();
        assert_eq!((p.width, p.height, p.scaled_width, p.scaled_height), (100, 50, 50, 100));
        let p = plan(1920, 1080, (4, 3), Orientation::IDENTITY, Some(MAX_WIDTH), Some(MAX_HEIGHT)).unwrap();
        assert_eq!((p.width, p.height), (3840, 2160));
        assert!(plan(0, 1080, (1, 1), Orientation::IDENTITY, None, None).is_err());
    }

    #[test]
    fn one_side_follows_aspect() {
        let p = plan(1920, 1080, (1, 1), Orientation::IDENTITY, Some(480), None).unwrap();
        assert_eq!((p.width, p.height), (480, 270));
        let p = plan(1920, 1080, (1, 1), Orientation::CW90, Some(480), None).unwrap();
        assert_eq!((p.width, p.height, p.scaled_width, p.scaled_height), (480, 853, 853, 480));
        let p = plan(10, 2000, (1, 1), Orientation::IDENTITY, None, Some(1)).unwrap();
        assert_eq!((p.width, p.height), (1, 1));
    }

    #[test]
    fn one_side_follows_the_exact_rational_aspect() {
        // 720x480 at SAR 32:27 is exactly 16:9 (its rounded display width, 853, is not).
        let p = plan(720, 480, (32, 27), Orientation::IDENTITY, None, Some(1080)).unwrap();
        assert_eq!((p.width, p.height), (1920, 1080));
        let p = plan(720, 480, (32, 27), Orientation::IDENTITY, Some(1920), None).unwrap();
        assert_eq!((p.width, p.height), (1920, 1080));
        // Turned: 9:16.
        let p = plan(720, 480, (32, 27), Orientation::CW90, Some(1080), None).unwrap();
        assert_eq!((p.width, p.height, p.scaled_width, p.scaled_height), (1080, 1920, 1920, 1080));
        // Neither side given: the display size, its width rounded once.
        let p = plan(720, 480, (32, 27), Orientation::IDENTITY, None, None).unwrap();
        assert_eq!((p.width, p.height), (853, 480));
        // The cap keeps the exact aspect too: w/3840 gives 2160 high, not 2161 then 3838 wide.
        let p = plan(720, 480, (32, 27), Orientation::IDENTITY, Some(3840), None).unwrap();
        assert_eq!((p.width, p.height), (3840, 2160));
        // 1440x1080 at 4:3 is 16:9; asked 2160 wide when turned, the height caps at 2160.
        let p = plan(1440, 1080, (4, 3), Orientation::CW90, Some(2160), None).unwrap();
        assert_eq!((p.width, p.height), (1215, 2160));
    }

    #[test]
    fn caps_keep_aspect() {
        let p = plan(3840, 2160, (1, 1), Orientation::CW90, None, None).unwrap();
        assert_eq!((p.width, p.height), (1215, 2160));
        let p = plan(7680, 4320, (1, 1), Orientation::IDENTITY, None, None).unwrap();
        assert_eq!((p.width, p.height), (3840, 2160));
        let p = plan(1000, 100, (1, 1), Orientation::IDENTITY, None, Some(2160)).unwrap();
        assert_eq!((p.width, p.height), (3840, 384));
    }

    #[test]
    fn display_matrices() {
        // Phone portrait: QuickTime matrix [0 1; -1 0], rotation -90.
        let phone = [0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30];
        assert_eq!(Orientation::from_display_matrix(&phone, -90.0), Orientation::CW90);
        // Transpose [0 1; 1 0]: rotation -90 plus a mirror.
        let mirrored = [0, 65536, 0, 65536, 0, 0, 0, 0, 1 << 30];
        assert_eq!(Orientation::from_display_matrix(&mirrored, -90.0), Orientation::TRANSPOSE);
        let upside_down = [-65536, 0, 0, 0, -65536, 0, 0, 0, 1 << 30];
        assert_eq!(Orientation::from_display_matrix(&upside_down, 180.0), Orientation::CW180);
        // Mirrors without rotation: [-1 0; 0 1] and [1 0; 0 -1].
        let mirror_h = [-65536, 0, 0, 0, 65536, 0, 0, 0, 1 << 30];
        assert_eq!(
            Orientation::from_display_matrix(&mirror_h, 180.0),
            Orientation { flip_h: true, ..Orientation::IDENTITY }
        );
        let mirror_v = [65536, 0, 0, 0, -65536, 0, 0, 0, 1 << 30];
        assert_eq!(
            Orientation::from_display_matrix(&mirror_v, 0.0),
            Orientation { flip_v: true, ..Orientation::IDENTITY }
        );
        // An all-zero matrix gives NaN: no rotation rather than a guess.
        assert_eq!(Orientation::from_display_matrix(&[0; 9], f64::NAN), Orientation::IDENTITY);
        assert_eq!(Orientation::from_rotate_tag(90), Orientation::CW90);
        assert_eq!(Orientation::from_rotate_tag(-90), Orientation::CW270);
        assert_eq!(Orientation::from_rotate_tag(450), Orientation::CW90);
        assert_eq!(Orientation::from_rotate_tag(0), Orientation::IDENTITY);
    }
}
