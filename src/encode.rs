//! SPEC §4 and its extensions: JPEG (baseline, 4:2:0, quality 85 unless `q` says
//! otherwise), PNG (8-bit RGB) and WebP (lossy, quality 80 unless `q` says otherwise) from
//! packed RGB24.
//!
//! Safe Rust over the `jpeg-encoder` and `png` crates and FFmpeg's libwebp encoder (`av`).

use crate::av;
use crate::error::{Error, Status};
use crate::spec::Format;

/// JPEG quality SPEC §4 prescribes.
pub const JPEG_QUALITY: u8 = crate::spec::DEFAULT_JPEG_QUALITY;

/// Encodes `width` x `height` packed RGB24 pixels; `quality` (1-100) applies to the lossy
/// formats, `None` giving the format's default.
pub(crate) fn encode(
    rgb: &[u8],
    width: u32,
    height: u32,
    format: Format,
    quality: Option<u8>,
) -> Result<Vec<u8>, Error> {
    let fail = |e: &dyn std::fmt::Display| Error::new(Status::EncodeError, format!("{} encoder: {e}", format.as_str()));
    let quality = quality.or(format.default_quality()).unwrap_or(JPEG_QUALITY).clamp(1, 100);
    let mut out = Vec::with_capacity(rgb.len() / 8);
    match format {
        Format::Jpeg => {
            let (w, h) = (u16::try_from(width), u16::try_from(height));
            let (Ok(w), Ok(h)) = (w, h) else {
                return Err(fail(&"image too large for JPEG"));
            };
            let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
            encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
            encoder.encode(rgb, w, h, jpeg_encoder::ColorType::Rgb).map_err(|e| fail(&e))?;
        }
        Format::Png => {
            let mut encoder = png::Encoder::new(&mut out, width, height);
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            encoder.set_compression(png::Compression::Fast);
            let mut writer = encoder.write_header().map_err(|e| fail(&e))?;
            writer.write_image_data(rgb).map_err(|e| fail(&e))?;
            writer.finish().map_err(|e| fail(&e))?;
        }
        Format::Webp => return av::encode_webp(rgb, width, height, quality),
    }
    Ok(out)
}
