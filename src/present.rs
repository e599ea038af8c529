//! Presentation (SPEC §3, §4): a located frame, tone-mapped to SDR if it is HDR, scaled
//! to the output size with its sample aspect ratio corrected, oriented, and encoded.
//!
//! Safe Rust over the `av` scaler and tone mapper and the pure `geometry`, `image` and
//! `encode` modules. Knows nothing of how the frame was found.

use crate::av::{self, Scaler, ToneMapper};
use crate::encode::encode;
use crate::error::Error;
use crate::geometry::{self, Orientation};
use crate::select::Located;
use crate::spec::{Rotate, Spec};
use crate::{DecodedFrame, Image};

/// Presents located frames; keeps the scaler between frames of one call (swscale reuses
/// its context while the sizes and formats stay the same).
pub(crate) struct Presenter {
    scaler: Scaler,
}

/// Packed RGB24 pixels of the final image (scaled and oriented), before encoding.
pub(crate) struct Picture {
    pub pixels: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

impl Presenter {
    pub fn new() -> Presenter {
        Presenter { scaler: Scaler::new() }
    }

    /// The image `spec` asks for, of `located`.
    pub fn present(&mut self, located: &Located, spec: &Spec) -> Result<Image, Error> {
        let picture = self.render(located, spec.rotate, spec.width, spec.height)?;
        let data = encode(&picture.pixels, picture.width, picture.height, spec.format, spec.quality)?;
        Ok(Image { data, width: picture.width, height: picture.height, format: spec.format })
    }

    /// The RGB picture of `located`, turned as `rotate` asks and sized by SPEC §3 from
    /// `width` and `height` (each optional; they describe the final, rotated image).
    pub fn render(
        &mut self,
        located: &Located,
        rotate: Option<Rotate>,
        width: Option<u32>,
        height: Option<u32>,
    ) -> Result<Picture, Error> {
        let sar = located.sample_aspect_ratio;
        let plan = geometry::plan(
            located.frame.width(),
            located.frame.height(),
            (sar.num, sar.den),
            orientation(rotate, located),
            width,
            height,
        )?;
        // HDR is tone-mapped to SDR first; where FFmpeg lacks the filters (no zimg) the
        // BT.2020 matrix alone still gives the right hues, only flatter.
        let sdr = if located.frame.colour().is_hdr() {
            ToneMapper::new(&located.frame).and_then(|mut mapper| mapper.run(&located.frame)).ok()
        } else {
            None
        };
        let rgb = self.scaler.convert_to_rgb(
            sdr.as_ref().unwrap_or(&located.frame),
            plan.scaled_width,
            plan.scaled_height,
        )?;
        let (pixels, width, height) = rgb.oriented(plan.orientation)?;
        Ok(Picture { pixels, width, height })
    }
}

/// The located frame's planes exactly as decoded, unconverted.
pub(crate) fn decoded_frame(located: &Located) -> Result<DecodedFrame, Error> {
    let frame = &located.frame;
    Ok(DecodedFrame {
        width: frame.width(),
        height: frame.height(),
        pixel_format: frame.pixel_format_name(),
        data: frame.packed_bytes()?,
        time: located.seconds(),
    })
}

/// The orientation `rotate` asks for, given what the stream and frame say.
fn orientation(rotate: Option<Rotate>, located: &Located) -> Orientation {
    match rotate {
        None => Orientation::IDENTITY,
        Some(Rotate::Auto) => {
            let matrix = located.frame.display_matrix().or(located.stream.display_matrix);
            match (matrix, located.stream.rotate_tag) {
                (Some(m), _) => Orientation::from_display_matrix(&m, av::display_rotation(&m)),
                (None, Some(deg)) => Orientation::from_rotate_tag(deg),
                (None, None) => Orientation::IDENTITY,
            }
        }
        Some(r) => Orientation::from_rotate(r).unwrap_or_default(),
    }
}
