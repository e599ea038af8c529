//! Storyboards: the frames of a span tiled into sheets (`columns` x `rows` tiles each, as
//! many sheets as needed), with a WebVTT index whose cues point into the sheets with
//! `#xywh=` (what video.js, Plyr and Vidstack read for scrubbing previews) and a JSON index.
//!
//! Tiles are rendered into the sheet as their frames come (only one sheet and one frame
//! are held at a time) and each sheet is encoded and handed out as soon as it is full.
//! Every tile is, pixel for pixel, the image a single `vframe/png/offset/T/w/W/h/H` call
//! gives at its moment T (the tile size is fixed by the first frame).
//!
//! Safe Rust over `sample` (the moments and their frames) and `present`.

use std::fmt::Write as _;

use crate::av::WEBP_MAX_SIDE;
use crate::encode::encode;
use crate::error::{Error, Status};
use crate::present::{Picture, Presenter};
use crate::sample::{Moments, Visits};
use crate::spec::{Format, StoryboardSpec};
use crate::{Image, Input, Options};

/// The largest side of a sheet (WebP's limit, for every format alike).
pub const MAX_SHEET_SIDE: u32 = WEBP_MAX_SIDE;
/// The most pixels of one sheet (192 MiB of RGB while it is filled).
pub const MAX_SHEET_PIXELS: u64 = 1 << 26;

/// One encoded sheet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sheet {
    /// Its number (0-based); the pattern's `$(count)` is `index + 1`.
    pub index: usize,
    /// Its name, as the WebVTT and JSON index refer to it.
    pub name: String,
    pub image: Image,
    /// Its tiles: `tiles[first_tile..first_tile + tile_count]` of the index.
    pub first_tile: usize,
    pub tile_count: usize,
}

/// Where a tile is and which moments it stands for.
#[derive(Clone, Debug, PartialEq)]
pub struct Tile {
    pub sheet: usize,
    /// Its top-left corner in the sheet, in pixels.
    pub x: u32,
    pub y: u32,
    /// The cue: from the tile's moment to the next tile's (the last to the span's end).
    pub start_ms: u64,
    pub end_ms: u64,
    /// The frame's own presentation time, in seconds from the stream's first frame.
    pub time: f64,
}

/// A sheet's name and size, for the index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SheetInfo {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub tiles: usize,
}

/// What a storyboard made: the sheets' names and sizes and every tile, as WebVTT and JSON.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoryboardIndex {
    pub format: Option<Format>,
    pub tile_width: u32,
    pub tile_height: u32,
    pub columns: u32,
    pub rows: u32,
    pub margin: u32,
    pub padding: u32,
    pub sheets: Vec<SheetInfo>,
    pub tiles: Vec<Tile>,
}

/// `ms` as a WebVTT timestamp, `HH:MM:SS.mmm` (hours grow past 99 if need be).
fn vtt_time(ms: u64) -> String {
    let (h, m, s, f) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    format!("{h:02}:{m:02}:{s:02}.{f:03}")
}

/// A sheet name as a relative URL: bytes outside RFC 3986's unreserved characters and
/// path punctuation are percent-encoded (a space, `#`, `?`, `%`, `>`: none can break a cue).
fn url_path(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for &b in name.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

impl StoryboardIndex {
    /// The WebVTT file: one cue per tile, `<sheet name>#xywh=<x>,<y>,<w>,<h>`.
    pub fn vtt(&self) -> String {
        let mut out = String::from("WEBVTT\n");
        for tile in &self.tiles {
            let name = self.sheets.get(tile.sheet).map_or("", |s| s.name.as_str());
            let _ = write!(
                out,
                "\n{} --> {}\n{}#xywh={},{},{},{}\n",
                vtt_time(tile.start_ms),
                vtt_time(tile.end_ms),
                url_path(name),
                tile.x,
                tile.y,
                self.tile_width,
                self.tile_height
            );
        }
        out
    }

    /// The JSON index (see the README for its fields).
    pub fn json(&self) -> String {
        let mut out = String::from("{");
        let format = self.format.map_or("", Format::as_str);
        let duration = self.tiles.last().map_or(0, |t| t.end_ms);
        let _ = write!(
            out,
            "\"format\":{},\"tile_width\":{},\"tile_height\":{},\"columns\":{},\"rows\":{},\"margin\":{},\"padding\":{},\"duration\":{},",
            json_string(format),
            self.tile_width,
            self.tile_height,
            self.columns,
            self.rows,
            self.margin,
            self.padding,
            seconds(duration)
        );
        out.push_str("\"sheets\":[");
        for (i, sheet) in self.sheets.iter().enumerate() {
            let comma = if i > 0 { "," } else { "" };
            let _ = write!(
                out,
                "{comma}{{\"name\":{},\"width\":{},\"height\":{},\"tiles\":{}}}",
                json_string(&sheet.name),
                sheet.width,
                sheet.height,
                sheet.tiles
            );
        }
        out.push_str("],\"tiles\":[");
        for (i, tile) in self.tiles.iter().enumerate() {
            let comma = if i > 0 { "," } else { "" };
            let _ = write!(
                out,
                "{comma}{{\"sheet\":{},\"x\":{},\"y\":{},\"start\":{},\"end\":{},\"time\":{:.6}}}",
                tile.sheet,
                tile.x,
                tile.y,
                seconds(tile.start_ms),
                seconds(tile.end_ms),
                tile.time
            );
        }
        out.push_str("]}\n");
        out
    }
}

/// The sheet being filled: its tiles' pictures so far (laid out when the sheet is
/// finished, on the grid they fill: a sheet's size is known only once its last tile is,
/// as a span may give fewer tiles than it has moments).
struct Canvas {
    pictures: Vec<Picture>,
    first_tile: usize,
}

/// What [`Storyboard::advance`] did.
#[derive(Debug)]
pub enum Step {
    /// One more tile went into the sheet being filled.
    Tile,
    /// A sheet is complete (with the tile that completed it).
    Sheet(Sheet),
    /// Every tile and sheet is made; the index is final.
    Done,
}

/// A storyboard in progress: [`Storyboard::advance`] makes one tile at a time, and the
/// iterator gives the sheets as they are completed. After the last, [`Storyboard::index`]
/// is final.
pub struct Storyboard<'a> {
    visits: Visits<'a>,
    presenter: Presenter,
    spec: StoryboardSpec,
    canvas: Option<Canvas>,
    index: StoryboardIndex,
    done: bool,
}

impl<'a> Storyboard<'a> {
    /// Opens `input` and plans the moments of `spec`. `options.timeout` bounds the whole
    /// storyboard.
    pub fn open(input: Input<'a>, spec: &StoryboardSpec, options: &Options) -> Result<Storyboard<'a>, Error> {
        let visits = Visits::open(input, spec.start_ms, spec.duration_ms, spec.every, spec.look.mode, options)?;
        let index = StoryboardIndex {
            format: Some(spec.look.format),
            columns: spec.columns,
            rows: spec.rows,
            margin: spec.margin,
            padding: spec.padding,
            ..StoryboardIndex::default()
        };
        Ok(Storyboard { visits, presenter: Presenter::new(), spec: spec.clone(), canvas: None, index, done: false })
    }

    /// How many moments the span holds, when its end is known (tiles may be fewer).
    pub fn planned(&self) -> Option<u64> {
        self.visits.moments().count()
    }

    /// The index so far (final once `advance` returned `Done`).
    pub fn index(&self) -> &StoryboardIndex {
        &self.index
    }

    /// Makes the next tile, and the sheet it completes; after the last tile, the last
    /// sheet; then `Done`.
    pub fn advance(&mut self) -> Result<Step, Error> {
        if self.done {
            return Ok(Step::Done);
        }
        let result = self.step();
        if !matches!(result, Ok(Step::Tile | Step::Sheet(_))) {
            self.done = true;
        }
        result
    }

    fn step(&mut self) -> Result<Step, Error> {
        let visit = match self.visits.next_visit() {
            Some(visit) => visit?,
            None => {
                let moments = *self.visits.moments();
                self.close_last_cue(&moments);
                return match self.canvas.take() {
                    Some(canvas) => self.finish_sheet(canvas).map(Step::Sheet),
                    None => Ok(Step::Done),
                };
            }
        };
        let look = &self.spec.look;
        // The first frame fixes the tile size (SPEC §3 from `s`); every tile then has it.
        let (width, height) = match self.index.tile_width {
            0 => (look.width, look.height),
            w => (Some(w), Some(self.index.tile_height)),
        };
        let picture = self.presenter.render(&visit.located, look.rotate, width, height)?;
        if self.index.tile_width == 0 {
            self.index.tile_width = picture.width;
            self.index.tile_height = picture.height;
        }
        if let Some(last) = self.index.tiles.last_mut() {
            last.end_ms = visit.offset_ms.max(last.start_ms + 1);
        }
        let per_sheet = (self.spec.columns * self.spec.rows) as usize;
        let first_tile = self.index.tiles.len();
        let cell = self.canvas.as_ref().map_or(0, |canvas| canvas.pictures.len()) as u32;
        // The sheet with this tile must fit the limits: refused at the first tile that
        // makes it too large, before any more is decoded for it.
        self.sheet_size(cell + 1)?;
        let canvas = self.canvas.get_or_insert_with(|| Canvas { pictures: Vec::new(), first_tile });
        let (column, row) = (cell % self.spec.columns, cell / self.spec.columns);
        let x = self.spec.margin + column * (self.index.tile_width + self.spec.padding);
        let y = self.spec.margin + row * (self.index.tile_height + self.spec.padding);
        canvas.pictures.push(picture);
        let tiles = canvas.pictures.len();
        self.index.tiles.push(Tile {
            sheet: self.index.sheets.len(),
            x,
            y,
            start_ms: visit.offset_ms,
            end_ms: visit.offset_ms + 1,
            time: visit.located.seconds(),
        });
        if tiles == per_sheet {
            let canvas = self.canvas.take().expect("the canvas being filled");
            return self.finish_sheet(canvas).map(Step::Sheet);
        }
        Ok(Step::Tile)
    }

    /// The last cue ends one interval after its moment, within the span.
    fn close_last_cue(&mut self, moments: &Moments) {
        if let Some(last) = self.index.tiles.last_mut() {
            last.end_ms = moments.last_end(last.start_ms);
        }
    }

    /// The size of a sheet holding `tiles` tiles: the rows they fill (and the columns, with
    /// one row), refused beyond the sheet limits.
    fn sheet_size(&self, tiles: u32) -> Result<(u32, u32), Error> {
        let (columns, rows) = (self.spec.columns.min(tiles), tiles.div_ceil(self.spec.columns));
        let side = |n: u32, tile: u32| {
            u64::from(self.spec.margin) * 2
                + u64::from(n) * u64::from(tile)
                + u64::from(n - 1) * u64::from(self.spec.padding)
        };
        let (width, height) = (side(columns, self.index.tile_width), side(rows, self.index.tile_height));
        if width > u64::from(MAX_SHEET_SIDE) || height > u64::from(MAX_SHEET_SIDE) || width * height > MAX_SHEET_PIXELS
        {
            return Err(Error::new(
                Status::LimitExceeded,
                format!(
                    "a sheet of {columns}x{rows} tiles of {}x{} would be {width}x{height} pixels, over the limit \
                     ({MAX_SHEET_SIDE} a side, {MAX_SHEET_PIXELS} pixels): ask for fewer columns or rows or smaller tiles",
                    self.index.tile_width, self.index.tile_height
                ),
            ));
        }
        Ok((width as u32, height as u32))
    }

    /// Lays a sheet's tiles out on the grid they fill (the last sheet's rows, and columns
    /// when it has one row), encodes it and adds it to the index.
    fn finish_sheet(&mut self, canvas: Canvas) -> Result<Sheet, Error> {
        let tiles = canvas.pictures.len();
        let (width, height) = self.sheet_size(tiles as u32)?;
        let mut pixels = Vec::new();
        crate::error::reserve(&mut pixels, width as usize * height as usize * 3, "a storyboard sheet")?;
        for _ in 0..width as usize * height as usize {
            pixels.extend_from_slice(&self.spec.color);
        }
        let placed = &self.index.tiles[canvas.first_tile..canvas.first_tile + tiles];
        for (picture, tile) in canvas.pictures.iter().zip(placed) {
            blit(&mut pixels, width, picture, tile.x, tile.y);
        }
        let format = self.spec.look.format;
        let data = encode(&pixels, width, height, format, self.spec.look.quality)?;
        let index = self.index.sheets.len();
        let name = self.spec.sheet_name(index);
        self.index.sheets.push(SheetInfo { name: name.clone(), width, height, tiles });
        Ok(Sheet {
            index,
            name,
            image: Image { data, width, height, format },
            first_tile: canvas.first_tile,
            tile_count: tiles,
        })
    }
}

/// Copies `picture` into a sheet `width` pixels wide with its top-left corner at (`x`, `y`).
fn blit(sheet: &mut [u8], width: u32, picture: &Picture, x: u32, y: u32) {
    let row = picture.width as usize * 3;
    let stride = width as usize * 3;
    for (dy, src) in picture.pixels.chunks_exact(row).enumerate() {
        let at = (y as usize + dy) * stride + x as usize * 3;
        sheet[at..at + row].copy_from_slice(src);
    }
}

impl Iterator for Storyboard<'_> {
    type Item = Result<Sheet, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.advance() {
                Ok(Step::Tile) => continue,
                Ok(Step::Sheet(sheet)) => return Some(Ok(sheet)),
                Ok(Step::Done) => return None,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vtt_times_and_urls() {
        assert_eq!(vtt_time(0), "00:00:00.000");
        assert_eq!(vtt_time(3_723_004), "01:02:03.004");
        assert_eq!(vtt_time(360_000_000), "100:00:00.000");
        assert_eq!(url_path("a b/c#d?e%-->.jpg"), "a%20b/c%23d%3Fe%25--%3E.jpg");
        assert_eq!(json_string("a\"b\\c\u{1}é"), "\"a\\\"b\\\\c\\u0001é\"");
    }
}
