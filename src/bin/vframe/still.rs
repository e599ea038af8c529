//! Whether a file that begins like a JPEG, PNG or WebP image holds one whole still
//! picture and nothing else, as vframe writes, and not pictures in sequence: a raw
//! Motion-JPEG stream (JPEGs one after another, with or without their end markers;
//! `ffmpeg -f mjpeg`, many webcams), PNGs or WebPs one after another (`-f image2pipe`), an
//! animated PNG or WebP, or a picture with more after it (a phone's motion photo with its
//! video, a multi-picture file). Those are someone's videos and photos, and vframe never
//! replaces them; its own images are one picture and nothing after it, never cut short. A
//! file that ends before its picture does (or claims more than it holds) is judged the
//! same way: not what vframe writes.

use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};

/// Whether `head` (a file's first bytes) begins a JPEG, a PNG or a WebP image.
pub fn is_image(head: &[u8]) -> bool {
    head.starts_with(JPEG) || head.starts_with(PNG) || is_webp(head)
}

const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF];
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";

fn is_webp(head: &[u8]) -> bool {
    head.len() >= 12 && head.starts_with(b"RIFF") && &head[8..12] == b"WEBP"
}

/// Whether `file`, whose first bytes [`is_image`], holds one whole still picture and
/// nothing after it.
pub fn is_still(file: impl Read + Seek) -> io::Result<bool> {
    let mut r = BufReader::new(file);
    let mut walk = || {
        r.seek(SeekFrom::Start(0))?;
        let mut head = [0u8; 8];
        r.read_exact(&mut head)?;
        if head.starts_with(JPEG) {
            jpeg_is_still(&mut r)
        } else if head.starts_with(PNG) {
            png_is_still(&mut r)
        } else {
            webp_is_still(&mut r)
        }
    };
    // A file that ends before its picture does.
    match walk() {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        other => other,
    }
}

/// Whether nothing follows.
fn at_end(r: &mut impl Read) -> io::Result<bool> {
    let mut rest = [0u8; 1];
    Ok(r.read(&mut rest)? == 0)
}

fn byte(r: &mut impl BufRead) -> io::Result<u8> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b)?;
    Ok(b[0])
}

/// A JPEG (read from just after its SOI and the first 0xFF of the next marker) is one
/// picture when its markers, walked segment by segment and through each scan's
/// entropy-coded data, end at an EOI with nothing after it. Inside a segment (an EXIF
/// thumbnail, say) nothing is read; inside a scan 0xFF is followed only by 0x00 or a
/// restart marker, so the first other marker there is the scan's end.
fn jpeg_is_still(r: &mut BufReader<impl Read + Seek>) -> io::Result<bool> {
    // `head` took SOI (FF D8), the next marker's FF and 5 more bytes: start again after SOI.
    r.seek(SeekFrom::Start(2))?;
    let mut marker = next_marker(r)?;
    loop {
        match marker {
            // Not a marker where one must be, or another picture's start (a Motion-JPEG
            // stream whose frames have no end marker): not one picture.
            0x00 | 0xD8 => return Ok(false),
            0xD9 => return at_end(r),
            0x01 | 0xD0..=0xD7 => marker = next_marker(r)?,
            0xDA => {
                skip_segment(r)?;
                marker = end_of_scan(r)?;
            }
            _ => {
                skip_segment(r)?;
                marker = next_marker(r)?;
            }
        }
    }
}

/// The next marker's code: a 0xFF (and any fill 0xFFs), then the code; 0x00 when
/// something else stands where a marker must.
fn next_marker(r: &mut impl BufRead) -> io::Result<u8> {
    if byte(r)? != 0xFF {
        return Ok(0x00);
    }
    loop {
        match byte(r)? {
            0xFF => {}
            code => return Ok(code),
        }
    }
}

/// Skips a segment whose two-byte length (counting itself) comes next.
fn skip_segment(r: &mut BufReader<impl Read + Seek>) -> io::Result<()> {
    let mut len = [0u8; 2];
    r.read_exact(&mut len)?;
    let len = u16::from_be_bytes(len);
    r.seek_relative(i64::from(len.saturating_sub(2)))
}

/// Reads a scan's entropy-coded data up to the marker that ends it, and returns its code.
fn end_of_scan(r: &mut impl BufRead) -> io::Result<u8> {
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        match buf.iter().position(|&b| b == 0xFF) {
            None => {
                let n = buf.len();
                r.consume(n);
            }
            Some(at) => {
                r.consume(at + 1);
                let mut code = byte(r)?;
                while code == 0xFF {
                    code = byte(r)?;
                }
                if code != 0x00 && !(0xD0..=0xD7).contains(&code) {
                    return Ok(code);
                }
            }
        }
    }
}

/// A PNG is one still picture when its chunks, walked to `IEND`, hold no `acTL` (APNG's
/// animation control) and nothing follows `IEND`.
fn png_is_still(r: &mut BufReader<impl Read + Seek>) -> io::Result<bool> {
    loop {
        let mut chunk = [0u8; 8];
        r.read_exact(&mut chunk)?;
        let len = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        match &chunk[4..8] {
            b"acTL" => return Ok(false),
            b"IEND" => {
                r.seek_relative(i64::from(len) + 4)?;
                return at_end(r);
            }
            _ => r.seek_relative(i64::from(len) + 4)?,
        }
    }
}

/// A WebP is one still picture when its RIFF chunks, walked to the end its header gives,
/// hold no animation (`VP8X` with the animation flag 0x02, `ANIM` or `ANMF` chunks), and
/// nothing follows that end.
fn webp_is_still(r: &mut BufReader<impl Read + Seek>) -> io::Result<bool> {
    r.seek(SeekFrom::Start(4))?;
    let mut size = [0u8; 4];
    r.read_exact(&mut size)?;
    let end = 8 + u64::from(u32::from_le_bytes(size));
    let mut at = 12u64;
    r.seek(SeekFrom::Start(at))?;
    loop {
        if at >= end {
            // Chunks claiming more than the RIFF holds end past it.
            return Ok(at == end && at_end(r)?);
        }
        let mut chunk = [0u8; 8];
        r.read_exact(&mut chunk)?;
        let len = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
        match &chunk[0..4] {
            b"ANIM" | b"ANMF" => return Ok(false),
            b"VP8X" => {
                if byte(r)? & 0x02 != 0 {
                    return Ok(false);
                }
                r.seek_relative(i64::from(len) - 1 + i64::from(len & 1))?;
            }
            // The picture (`VP8 `, `VP8L`) and its metadata.
            _ => r.seek_relative(i64::from(len) + i64::from(len & 1))?,
        }
        at += 8 + u64::from(len) + u64::from(len & 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn still(bytes: &[u8]) -> bool {
        assert!(is_image(bytes));
        is_still(Cursor::new(bytes)).unwrap()
    }

    /// A minimal JPEG: SOI, an APP1 holding a whole JPEG thumbnail (SOI..EOI inside a
    /// segment is not the end), a scan with stuffed 0xFF00, a restart marker and a fill
    /// byte, then EOI.
    fn jpeg() -> Vec<u8> {
        let thumb = [0xFF, 0xD8, 0xFF, 0xD9, 0xFF, 0xD8];
        let mut j = vec![0xFF, 0xD8, 0xFF, 0xE1, 0x00, (thumb.len() + 2) as u8];
        j.extend_from_slice(&thumb);
        j.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x03, 0x01, 0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]);
        j.extend_from_slice(&[0xFF, 0xFF, 0xD9]);
        j
    }

    #[test]
    fn a_jpeg_is_still_and_a_motion_jpeg_stream_is_not() {
        assert!(still(&jpeg()));
        let mut two = jpeg();
        two.extend_from_slice(&jpeg());
        assert!(!still(&two));
        let mut trailer = jpeg();
        trailer.extend_from_slice(b"\0\0\0\x18ftypmp42");
        assert!(!still(&trailer), "a motion photo: a video after the picture");
        let cut = &jpeg()[..9];
        assert!(!still(cut), "a picture cut short is not what vframe writes");
        // Motion-JPEG frames without their end markers: the next frame's SOI.
        let mut no_eoi = jpeg();
        no_eoi.truncate(no_eoi.len() - 3);
        no_eoi.extend_from_slice(&jpeg());
        assert!(!still(&no_eoi));
        let mut zeros = jpeg();
        zeros.extend_from_slice(&[0; 16]);
        assert!(!still(&zeros), "anything after the picture");
    }

    fn png(chunks: &[&[u8; 4]]) -> Vec<u8> {
        let mut p = PNG.to_vec();
        for name in chunks {
            p.extend_from_slice(&2u32.to_be_bytes());
            p.extend_from_slice(*name);
            p.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        }
        p
    }

    #[test]
    fn a_png_is_still_and_an_apng_is_not() {
        assert!(still(&png(&[b"IHDR", b"IDAT", b"IEND"])));
        assert!(!still(&png(&[b"IHDR", b"acTL", b"IDAT", b"fcTL", b"fdAT", b"IEND"])));
        let one = png(&[b"IHDR", b"IDAT", b"IEND"]);
        let mut two = one.clone();
        two.extend_from_slice(&one);
        assert!(!still(&two), "PNGs one after another (image2pipe)");
        let mut video = one.clone();
        video.extend_from_slice(b"\0\0\0\x18ftypmp42");
        assert!(!still(&video), "a video after the picture");
        assert!(!still(&png(&[b"IHDR", b"IDAT"])), "no IEND: cut short");
    }

    fn webp(chunks: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
        let mut w = b"RIFF\0\0\0\0WEBP".to_vec();
        for (name, data) in chunks {
            w.extend_from_slice(*name);
            w.extend_from_slice(&(data.len() as u32).to_le_bytes());
            w.extend_from_slice(data);
            if data.len() % 2 == 1 {
                w.push(0);
            }
        }
        let size = (w.len() - 8) as u32;
        w[4..8].copy_from_slice(&size.to_le_bytes());
        w
    }

    #[test]
    fn a_webp_is_still_and_an_animated_one_is_not() {
        assert!(still(&webp(&[(b"VP8 ", b"abc")])));
        assert!(still(&webp(&[(b"VP8X", &[0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0]), (b"VP8L", b"xy")])));
        assert!(!still(&webp(&[(b"VP8X", &[0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0]), (b"ANIM", &[0; 6])])));
        assert!(!still(&webp(&[(b"VP8 ", b"abc"), (b"ANMF", b"q")])));
        let one = webp(&[(b"VP8 ", b"abc")]);
        let mut two = one.clone();
        two.extend_from_slice(&one);
        assert!(!still(&two), "WebPs one after another (image2pipe)");
        let mut video = one.clone();
        video.extend_from_slice(b"\0\0\0\x18ftypmp42");
        assert!(!still(&video), "a video after the picture");
        let mut short = one.clone();
        short[4] += 2;
        assert!(!still(&short), "a RIFF claiming more than the file holds");
    }
}
