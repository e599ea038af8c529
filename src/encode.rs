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
    // The encoders' own buffers (the colour planes, the filtered rows, the compressor's
    // window) come to about twice the picture, allocated by the crates unchecked: where
    // memory is short (an address-space limit), an allocation there would abort the
    // process. Room for them is asked first, and given back: the call fails with a
    // message instead. (Only address space: untouched pages cost nothing.)
    let mut room = Vec::new();
    crate::error::reserve(&mut room, rgb.len().saturating_mul(3), "encoding the image")?;
    drop(room);
    let mut out = Output { data: Vec::new(), ran_out: false };
    crate::error::reserve(&mut out.data, rgb.len() / 8, "an encoded image")?;
    let written = match format {
        Format::Jpeg => {
            let (w, h) = (u16::try_from(width), u16::try_from(height));
            let (Ok(w), Ok(h)) = (w, h) else {
                return Err(fail(&"image too large for JPEG"));
            };
            let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
            encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
            encoder.encode(rgb, w, h, jpeg_encoder::ColorType::Rgb).map_err(|e| e.to_string())
        }
        Format::Png => encode_png(&mut out, rgb, width, height).map_err(|e| e.to_string()),
        Format::Webp => return av::encode_webp(rgb, width, height, quality),
    };
    match written {
        Ok(()) => Ok(out.data),
        Err(_) if out.ran_out => {
            Err(Error::new(Status::Internal, format!("out of memory for the encoded {} image", format.as_str())))
        }
        Err(e) => Err(fail(&e)),
    }
}

fn encode_png(out: &mut Output, rgb: &[u8], width: u32, height: u32) -> Result<(), png::EncodingError> {
    let mut encoder = png::Encoder::new(out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()
}

/// The encoded bytes, grown as the encoder writes them; where memory runs out (an
/// address-space limit) the write fails, as any other write would, instead of the process
/// aborting, and `ran_out` says so.
struct Output {
    data: Vec<u8>,
    ran_out: bool,
}

impl std::io::Write for Output {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.write_all(data)?;
        Ok(data.len())
    }

    fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        if self.data.capacity() - self.data.len() < data.len() {
            // Doubling, as a Vec grows, but asked for rather than assumed.
            let more = data.len().max(self.data.len());
            if self.data.try_reserve(more).is_err() {
                self.ran_out = true;
                return Err(std::io::ErrorKind::OutOfMemory.into());
            }
        }
        self.data.extend_from_slice(data);
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
