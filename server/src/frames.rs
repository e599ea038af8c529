//! Items with several outputs (`vsample`, `storyboard`) in persistent jobs.
//!
//! The engine makes the frames (or sheets) one at a time, in time order; each goes to the
//! store as soon as it is made, *staged*: its bytes fsynced under `staged/`, no row yet, so
//! nobody sees it. When the item succeeds, all its outputs are committed in one transaction
//! and their keys listed in the item's `keys`. Memory holds one image and the list of keys,
//! however long the video.
//!
//! A failure at any point (engine error, a limit, a bad output key, an uploaded object in
//! the way, a panic) fails the item with its reason and leaves nothing behind: no key is
//! listed, none is visible, and the staged files are removed (after a crash, the sweep at
//! the next start removes them, and the item runs again from its first frame).
//!
//! Calls the engine (`vframe::Sample`, `vframe::Storyboard`), `qiniu` (names, etags) and the store.

use std::collections::HashSet;
use std::path::Path;

use vframe::{Input, Options, Sample, SampleSpec, Step, Storyboard, StoryboardSpec};

use crate::qiniu::fop::{Op, OutputNames};
use crate::qiniu::{etag, quote};
use crate::store::{NewObject, Origin, StagedOutput, Store};

/// MIME types of a storyboard's index files.
pub const VTT_MIME: &str = "text/vtt";
pub const JSON_MIME: &str = "application/json";
/// Names of a storyboard's index files (after the item's prefix).
pub const VTT_NAME: &str = "storyboard.vtt";
pub const JSON_NAME: &str = "storyboard.json";

/// Why an item with several outputs made nothing.
#[derive(Debug)]
pub enum Failure {
    /// The engine failed (its status tells a cancellation apart).
    Engine(vframe::Error),
    /// Anything else: a limit, an output key, the store.
    Other(String),
}

impl From<vframe::Error> for Failure {
    fn from(e: vframe::Error) -> Failure {
        Failure::Engine(e)
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::Other(message)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Engine(e) => e.fmt(f),
            Failure::Other(message) => f.write_str(message),
        }
    }
}

/// What one item may make.
#[derive(Clone, Copy, Debug)]
pub struct FrameLimits {
    /// The most frames of a vsample, or tiles of a storyboard.
    pub max_frames: u64,
}

/// Runs a vsample or storyboard `op` on `source` for job `job_id`, saving its outputs under
/// `names`; returns their keys in order (frames; or sheets, then the .vtt and the .json).
pub fn run(
    store: &Store,
    job_id: &str,
    op: &Op,
    names: &OutputNames,
    source: &Path,
    options: &Options,
    limits: FrameLimits,
) -> Result<Vec<String>, Failure> {
    let mut staging = Staging { store, job_id, bucket: &names.bucket, staged: Vec::new(), seen: HashSet::new() };
    match op {
        Op::Sample(spec) => sample(&mut staging, spec, names, source, options, limits)?,
        Op::Storyboard(spec) => storyboard(&mut staging, spec, names, source, options, limits)?,
        Op::Vframe(_) => return Err(Failure::Other("internal error: vframe makes one output".to_owned())),
    }
    Ok(staging.commit()?)
}

fn too_many(count: u64, limits: FrameLimits, what: &str) -> Failure {
    Failure::Other(format!(
        "the operation asks for {count} {what}, more than this server's limit of {} per item (limits.max_frames): \
         ask for a longer interval or a shorter span",
        limits.max_frames
    ))
}

fn sample(
    staging: &mut Staging<'_>,
    spec: &SampleSpec,
    names: &OutputNames,
    source: &Path,
    options: &Options,
    limits: FrameLimits,
) -> Result<(), Failure> {
    // A name that cannot be a key fails before any work.
    names.numbered(0)?;
    let frames = Sample::open(Input::Path(source), spec, options)?;
    if let Some(planned) = frames.planned().filter(|&n| n > limits.max_frames) {
        return Err(too_many(planned, limits, "frames"));
    }
    for frame in frames {
        let frame = frame?;
        if frame.index as u64 >= limits.max_frames {
            return Err(too_many(frame.index as u64 + 1, limits, "frames or more"));
        }
        staging.put(names.numbered(frame.index)?, &frame.image.data, frame.image.format.mime_type())?;
    }
    Ok(())
}

fn storyboard(
    staging: &mut Staging<'_>,
    spec: &StoryboardSpec,
    names: &OutputNames,
    source: &Path,
    options: &Options,
    limits: FrameLimits,
) -> Result<(), Failure> {
    names.numbered(0)?;
    let (vtt_key, json_key) = (names.named(VTT_NAME)?, names.named(JSON_NAME)?);
    let mut board = Storyboard::open(Input::Path(source), spec, options)?;
    if let Some(planned) = board.planned().filter(|&n| n > limits.max_frames) {
        return Err(too_many(planned, limits, "tiles"));
    }
    let mut tiles: u64 = 0;
    let mut sheet_keys = Vec::new();
    loop {
        match board.advance()? {
            Step::Tile => tiles += 1,
            Step::Sheet(sheet) => {
                tiles = (sheet.first_tile + sheet.tile_count) as u64;
                let key = names.numbered(sheet.index)?;
                staging.put(key.clone(), &sheet.image.data, sheet.image.format.mime_type())?;
                sheet_keys.push(key);
            }
            Step::Done => break,
        }
        if tiles > limits.max_frames {
            return Err(too_many(tiles, limits, "tiles or more"));
        }
    }
    // The index names each sheet by a URL relative to the .vtt's key, so that a player given
    // the .vtt's URL finds the sheets beside it.
    let mut index = board.index().clone();
    for (info, key) in index.sheets.iter_mut().zip(&sheet_keys) {
        info.name = names.relative(key).to_owned();
    }
    staging.put(vtt_key, index.vtt().as_bytes(), VTT_MIME)?;
    staging.put(json_key, index.json().as_bytes(), JSON_MIME)?;
    Ok(())
}

/// The outputs of one item so far, staged; removed unless committed.
struct Staging<'s> {
    store: &'s Store,
    job_id: &'s str,
    bucket: &'s str,
    staged: Vec<StagedOutput>,
    seen: HashSet<String>,
}

impl Staging<'_> {
    fn put(&mut self, key: String, data: &[u8], mime: &str) -> Result<(), Failure> {
        if !self.seen.insert(key.clone()) {
            return Err(Failure::Other(format!("two outputs of this item would have the same key {}", quote(&key))));
        }
        self.store.check_output_key(self.bucket, &key)?;
        let object = NewObject {
            bucket: self.bucket.to_owned(),
            key,
            hash: etag::of(data),
            fsize: data.len() as u64,
            mime: mime.to_owned(),
            meta: Default::default(),
            origin: Origin::Job(self.job_id.to_owned()),
        };
        self.staged.push(self.store.stage_output(object, data).map_err(|e| e.message)?);
        Ok(())
    }

    /// Commits every output (all or none); their keys in order.
    fn commit(mut self) -> Result<Vec<String>, String> {
        let staged = std::mem::take(&mut self.staged);
        let keys = staged.iter().map(|output| output.object.key.clone()).collect();
        self.store.commit_outputs(staged)?;
        Ok(keys)
    }
}

impl Drop for Staging<'_> {
    fn drop(&mut self) {
        self.store.discard_outputs(std::mem::take(&mut self.staged));
    }
}
