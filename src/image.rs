//! RGB pixel buffers and the lossless orientation step (transpose and flips).
//!
//! Pure, safe Rust.

use crate::error::{zeroed, Error};
use crate::geometry::Orientation;

/// RGB24 rows of `stride` bytes (the scaler pads rows for its SIMD writes).
pub(crate) struct RgbImage {
    pub data: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub stride: usize,
}

impl RgbImage {
    /// Tightly packed RGB24 in `orientation`, with its new width and height.
    pub fn oriented(self, orientation: Orientation) -> Result<(Vec<u8>, u32, u32), Error> {
        let (w, h, stride) = (self.width as usize, self.height as usize, self.stride);
        if orientation == Orientation::IDENTITY {
            // The rows packed in place: each moves left, over bytes already moved.
            let mut data = self.data;
            if stride != w * 3 {
                for y in 1..h {
                    data.copy_within(y * stride..y * stride + w * 3, y * w * 3);
                }
            }
            data.truncate(w * h * 3);
            return Ok((data, self.width, self.height));
        }
        let (ow, oh) = if orientation.transpose { (h, w) } else { (w, h) };
        let mut out = zeroed(ow * oh * 3, "a turned picture")?;
        if !orientation.transpose {
            for (y, row) in out.chunks_exact_mut(ow * 3).enumerate() {
                let sy = if orientation.flip_v { h - 1 - y } else { y };
                let src = &self.data[sy * stride..sy * stride + w * 3];
                if orientation.flip_h {
                    for (d, s) in row.chunks_exact_mut(3).zip(src.chunks_exact(3).rev()) {
                        d.copy_from_slice(s);
                    }
                } else {
                    row.copy_from_slice(src);
                }
            }
        } else {
            // Output (x, y) comes from source (x = y', y = x') after undoing the flips.
            for (y, row) in out.chunks_exact_mut(ow * 3).enumerate() {
                let sx = if orientation.flip_v { oh - 1 - y } else { y };
                for (x, d) in row.chunks_exact_mut(3).enumerate() {
                    let sy = if orientation.flip_h { ow - 1 - x } else { x };
                    let at = sy * stride + sx * 3;
                    d.copy_from_slice(&self.data[at..at + 3]);
                }
            }
        }
        Ok((out, ow as u32, oh as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3x2 image whose pixels are numbered 0..6 (in the red channel).
    fn numbered() -> RgbImage {
        let stride = 16;
        let mut data = vec![0u8; stride * 2];
        for y in 0..2 {
            for x in 0..3 {
                data[y * stride + x * 3] = (y * 3 + x) as u8;
            }
        }
        RgbImage { data, width: 3, height: 2, stride }
    }

    fn reds(o: Orientation) -> (Vec<u8>, u32, u32) {
        let (px, w, h) = numbered().oriented(o).unwrap();
        (px.chunks(3).map(|p| p[0]).collect(), w, h)
    }

    #[test]
    fn rotations() {
        // 0 1 2      clockwise:  3 0
        // 3 4 5                  4 1
        //                        5 2
        assert_eq!(reds(Orientation::IDENTITY), (vec![0, 1, 2, 3, 4, 5], 3, 2));
        assert_eq!(reds(Orientation::CW90), (vec![3, 0, 4, 1, 5, 2], 2, 3));
        assert_eq!(reds(Orientation::CW180), (vec![5, 4, 3, 2, 1, 0], 3, 2));
        assert_eq!(reds(Orientation::CW270), (vec![2, 5, 1, 4, 0, 3], 2, 3));
        assert_eq!(reds(Orientation::TRANSPOSE), (vec![0, 3, 1, 4, 2, 5], 2, 3));
        assert_eq!(reds(Orientation::ANTI_TRANSPOSE), (vec![5, 2, 4, 1, 3, 0], 2, 3));
    }
}
