//! `AVFilterGraph` for one job: HDR (PQ or HLG) pictures tone-mapped to SDR BT.709 RGB
//! with FFmpeg's own filters (zimg's `zscale` and `tonemap`), as FFmpeg's documentation
//! and common practice do it. Without them a PQ picture converted with the BT.2020 matrix
//! alone looks flat and grey, its colours squeezed into BT.709.

use std::ffi::{c_char, CStr, CString};
use std::ptr::{self, NonNull};

use ffmpeg_sys_next as ffi;

use super::{check, Frame};
use crate::error::{Error, Status};

/// The chain from an HDR picture to 8-bit BT.709 RGB (`gbrp`): linear light at a nominal
/// peak of 100 nits, BT.709 primaries, Hable's curve without desaturation, BT.709 transfer.
/// The tests give the ffmpeg CLI this same chain.
pub(crate) const HDR_TO_SDR: &str =
    "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap=tonemap=hable:desat=0,zscale=t=bt709,format=gbrp";

/// The filters `HDR_TO_SDR` needs; FFmpeg builds without zimg lack `zscale`.
const NEEDED: &[&CStr] = &[c"buffer", c"buffersink", c"zscale", c"tonemap", c"format"];

/// A configured graph `buffer -> HDR_TO_SDR -> buffersink` for pictures like the one it
/// was made for. The source and sink contexts belong to the graph, freed with it.
pub(crate) struct ToneMapper {
    graph: NonNull<ffi::AVFilterGraph>,
    source: NonNull<ffi::AVFilterContext>,
    sink: NonNull<ffi::AVFilterContext>,
}

/// Whether FFmpeg has every filter tone mapping needs.
pub(crate) fn available() -> bool {
    // SAFETY: avfilter_get_by_name only reads the static filter list.
    NEEDED.iter().all(|name| !unsafe { ffi::avfilter_get_by_name(name.as_ptr()) }.is_null())
}

impl ToneMapper {
    /// A graph for pictures of `frame`'s size and pixel format.
    pub fn new(frame: &Frame) -> Result<ToneMapper, Error> {
        if !available() {
            return Err(Error::new(Status::Internal, "this FFmpeg has no zscale/tonemap filters"));
        }
        let format =
            frame.pixel_format().ok_or_else(|| Error::new(Status::DecodeError, "frame without a pixel format"))?;
        let sar = frame.sample_aspect_ratio();
        let (sar_num, sar_den) = if sar.is_valid() { (sar.num, sar.den) } else { (1, 1) };
        let description = format!(
            "buffer=video_size={}x{}:pix_fmt={}:time_base=1/1:pixel_aspect={sar_num}/{sar_den},{HDR_TO_SDR},buffersink",
            frame.width(),
            frame.height(),
            format as i32,
        );
        let description = CString::new(description).expect("no NUL in a filter description");

        // SAFETY: returns NULL or a fresh graph, which the ToneMapper (or the error path
        // below, through `Graph`) frees.
        let graph = NonNull::new(unsafe { ffi::avfilter_graph_alloc() })
            .ok_or_else(|| Error::new(Status::Internal, "out of memory for a filter graph"))?;
        let graph = Graph(graph);
        let mut inputs: *mut ffi::AVFilterInOut = ptr::null_mut();
        let mut outputs: *mut ffi::AVFilterInOut = ptr::null_mut();
        // SAFETY: the graph is valid; the description is a closed chain (buffer to
        // buffersink), so no open pads are returned, and we free whatever is.
        let ret = unsafe {
            let ret = ffi::avfilter_graph_parse_ptr(
                graph.0.as_ptr(),
                description.as_ptr(),
                &mut inputs,
                &mut outputs,
                ptr::null_mut(),
            );
            ffi::avfilter_inout_free(&mut inputs);
            ffi::avfilter_inout_free(&mut outputs);
            ret
        };
        check(ret, Status::Internal, "building the tone-mapping filters")?;
        // SAFETY: the graph is valid and parsed.
        check(
            unsafe { ffi::avfilter_graph_config(graph.0.as_ptr(), ptr::null_mut()) },
            Status::Internal,
            "configuring the tone-mapping filters",
        )?;
        let source =
            graph.find(c"buffer").ok_or_else(|| Error::new(Status::Internal, "filter graph without a source"))?;
        let sink =
            graph.find(c"buffersink").ok_or_else(|| Error::new(Status::Internal, "filter graph without a sink"))?;
        let graph = graph.into_inner();
        Ok(ToneMapper { graph, source, sink })
    }

    /// The SDR (`gbrp`) version of `frame`.
    pub fn run(&mut self, frame: &Frame) -> Result<Frame, Error> {
        // SAFETY: source is this graph's buffer filter; KEEP_REF makes it take a new
        // reference, leaving `frame` untouched. A NULL frame then marks the end.
        unsafe {
            check(
                ffi::av_buffersrc_add_frame_flags(
                    self.source.as_ptr(),
                    frame.as_ptr(),
                    ffi::AV_BUFFERSRC_FLAG_KEEP_REF as i32,
                ),
                Status::Internal,
                "tone mapping",
            )?;
            check(
                ffi::av_buffersrc_add_frame_flags(self.source.as_ptr(), ptr::null_mut(), 0),
                Status::Internal,
                "tone mapping",
            )?;
        }
        let out = Frame::new()?;
        // SAFETY: sink is this graph's buffersink; `out` is a blank frame it fills.
        check(
            unsafe { ffi::av_buffersink_get_frame(self.sink.as_ptr(), out.as_ptr()) },
            Status::Internal,
            "tone mapping",
        )?;
        Ok(out)
    }
}

impl Drop for ToneMapper {
    fn drop(&mut self) {
        let mut raw = self.graph.as_ptr();
        // SAFETY: we own the graph; freeing it frees its filter contexts too.
        unsafe { ffi::avfilter_graph_free(&mut raw) };
    }
}

/// A graph being built, freed if building fails.
struct Graph(NonNull<ffi::AVFilterGraph>);

impl Graph {
    /// The first filter context of the graph whose filter is `name`.
    fn find(&self, name: &CStr) -> Option<NonNull<ffi::AVFilterContext>> {
        // SAFETY: filters[0..nb_filters] are valid contexts of this graph, each with a
        // static AVFilter whose name is a static string.
        unsafe {
            let graph = self.0.as_ref();
            (0..graph.nb_filters as usize)
                .map(|i| *graph.filters.add(i))
                .find(|&ctx| !ctx.is_null() && CStr::from_ptr((*(*ctx).filter).name as *const c_char) == name)
                .and_then(NonNull::new)
        }
    }

    fn into_inner(self) -> NonNull<ffi::AVFilterGraph> {
        let graph = self.0;
        std::mem::forget(self);
        graph
    }
}

impl Drop for Graph {
    fn drop(&mut self) {
        let mut raw = self.0.as_ptr();
        // SAFETY: the graph is ours until `into_inner` hands it on.
        unsafe { ffi::avfilter_graph_free(&mut raw) };
    }
}

// SAFETY: the graph is used by one thread at a time (we hold it by &mut).
unsafe impl Send for ToneMapper {}
