//! `AVFilterGraph` for one job: HDR (PQ or HLG) pictures tone-mapped to SDR BT.709 RGB
//! with FFmpeg's own filters (zimg's `zscale` and `tonemap`), as FFmpeg's documentation
//! and common practice do it. Without them a PQ picture converted with the BT.2020 matrix
//! alone looks flat and grey, its colours squeezed into BT.709.
//!
//! libavfilter is loaded with `dlopen` the first time an HDR picture needs it, not linked:
//! with Debian's FFmpeg it brings 31 shared libraries of its own (speech synthesis, LV2,
//! Vulkan, rubberband...) that every process would otherwise map and relocate at start,
//! about a third of the CLI's start-up, for pictures most calls never see. The soname is
//! the major version vframe was built against, so the functions have the signatures and
//! the structures the layout of the headers it was compiled with.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr::{self, NonNull};
use std::sync::OnceLock;

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
    api: &'static Api,
}

/// The libavfilter functions tone mapping calls, from the library loaded at run time.
/// Each field has the signature of the function of the same name in the FFmpeg headers
/// vframe was built with (a test checks them against the bindings).
struct Api {
    avfilter_get_by_name: unsafe extern "C" fn(*const c_char) -> *const ffi::AVFilter,
    avfilter_graph_alloc: unsafe extern "C" fn() -> *mut ffi::AVFilterGraph,
    avfilter_graph_parse_ptr: unsafe extern "C" fn(
        *mut ffi::AVFilterGraph,
        *const c_char,
        *mut *mut ffi::AVFilterInOut,
        *mut *mut ffi::AVFilterInOut,
        *mut c_void,
    ) -> c_int,
    avfilter_inout_free: unsafe extern "C" fn(*mut *mut ffi::AVFilterInOut),
    avfilter_graph_config: unsafe extern "C" fn(*mut ffi::AVFilterGraph, *mut c_void) -> c_int,
    avfilter_graph_free: unsafe extern "C" fn(*mut *mut ffi::AVFilterGraph),
    av_buffersrc_add_frame_flags: unsafe extern "C" fn(*mut ffi::AVFilterContext, *mut ffi::AVFrame, c_int) -> c_int,
    av_buffersink_get_frame: unsafe extern "C" fn(*mut ffi::AVFilterContext, *mut ffi::AVFrame) -> c_int,
}

/// The file name of the libavfilter whose headers vframe was built with.
fn library_name() -> CString {
    let major = ffi::LIBAVFILTER_VERSION_MAJOR;
    let name = if cfg!(target_os = "macos") {
        format!("libavfilter.{major}.dylib")
    } else {
        format!("libavfilter.so.{major}")
    };
    CString::new(name).expect("no NUL in a library name")
}

/// libavfilter's functions, loaded on first use and kept for the life of the process (the
/// library is never unloaded); or why they could not be loaded.
fn api() -> Result<&'static Api, Error> {
    static API: OnceLock<Result<Api, String>> = OnceLock::new();
    API.get_or_init(load).as_ref().map_err(|why| Error::new(Status::Internal, why.clone()))
}

fn load() -> Result<Api, String> {
    let name = library_name();
    // SAFETY: dlopen is given a NUL-terminated name; libavfilter's initialisers only set up
    // its static tables. The handle is never closed, so the functions stay valid.
    let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if handle.is_null() {
        return Err(format!("cannot load {}: {}", name.to_string_lossy(), dl_error()));
    }
    let symbol = |symbol: &CStr| -> Result<*mut c_void, String> {
        // SAFETY: the handle is open and the name NUL-terminated.
        let address = unsafe { libc::dlsym(handle, symbol.as_ptr()) };
        if address.is_null() {
            Err(format!("{} has no {}: {}", name.to_string_lossy(), symbol.to_string_lossy(), dl_error()))
        } else {
            Ok(address)
        }
    };
    // SAFETY: each address is that of the exported function of the same name, in the
    // library of the major version whose headers gave the signatures in `Api`.
    unsafe {
        Ok(Api {
            avfilter_get_by_name: function(symbol(c"avfilter_get_by_name")?),
            avfilter_graph_alloc: function(symbol(c"avfilter_graph_alloc")?),
            avfilter_graph_parse_ptr: function(symbol(c"avfilter_graph_parse_ptr")?),
            avfilter_inout_free: function(symbol(c"avfilter_inout_free")?),
            avfilter_graph_config: function(symbol(c"avfilter_graph_config")?),
            avfilter_graph_free: function(symbol(c"avfilter_graph_free")?),
            av_buffersrc_add_frame_flags: function(symbol(c"av_buffersrc_add_frame_flags")?),
            av_buffersink_get_frame: function(symbol(c"av_buffersink_get_frame")?),
        })
    }
}

/// The function at `address`, as the function pointer type `F`.
///
/// # Safety
/// `F` must be an `extern "C"` function pointer type with the signature of the function at
/// `address` (a function pointer and a data pointer have the same size and representation
/// on the platforms dlsym exists on).
unsafe fn function<F: Copy>(address: *mut c_void) -> F {
    assert_eq!(std::mem::size_of::<F>(), std::mem::size_of::<*mut c_void>());
    // SAFETY: the caller guarantees F is the function's pointer type; the sizes are equal.
    unsafe { std::mem::transmute_copy(&address) }
}

/// The dynamic loader's last error on this thread.
fn dl_error() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated string valid until the next dl* call
    // on this thread; it is copied at once.
    let text = unsafe { libc::dlerror() };
    if text.is_null() {
        "unknown error".into()
    } else {
        // SAFETY: as above.
        unsafe { CStr::from_ptr(text) }.to_string_lossy().into_owned()
    }
}

/// Whether FFmpeg has every filter tone mapping needs (libavfilter loads, with zimg).
pub(crate) fn available() -> bool {
    // SAFETY: avfilter_get_by_name only reads the static filter list.
    api().is_ok_and(|api| NEEDED.iter().all(|name| !unsafe { (api.avfilter_get_by_name)(name.as_ptr()) }.is_null()))
}

impl ToneMapper {
    /// A graph for pictures of `frame`'s size and pixel format.
    pub fn new(frame: &Frame) -> Result<ToneMapper, Error> {
        let api = api()?;
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
        let graph = NonNull::new(unsafe { (api.avfilter_graph_alloc)() })
            .ok_or_else(|| Error::new(Status::Internal, "out of memory for a filter graph"))?;
        let graph = Graph { graph, api };
        let mut inputs: *mut ffi::AVFilterInOut = ptr::null_mut();
        let mut outputs: *mut ffi::AVFilterInOut = ptr::null_mut();
        // SAFETY: the graph is valid; the description is a closed chain (buffer to
        // buffersink), so no open pads are returned, and we free whatever is.
        let ret = unsafe {
            let ret = (api.avfilter_graph_parse_ptr)(
                graph.graph.as_ptr(),
                description.as_ptr(),
                &mut inputs,
                &mut outputs,
                ptr::null_mut(),
            );
            (api.avfilter_inout_free)(&mut inputs);
            (api.avfilter_inout_free)(&mut outputs);
            ret
        };
        check(ret, Status::Internal, "building the tone-mapping filters")?;
        // SAFETY: the graph is valid and parsed.
        check(
            unsafe { (api.avfilter_graph_config)(graph.graph.as_ptr(), ptr::null_mut()) },
            Status::Internal,
            "configuring the tone-mapping filters",
        )?;
        let source =
            graph.find(c"buffer").ok_or_else(|| Error::new(Status::Internal, "filter graph without a source"))?;
        let sink =
            graph.find(c"buffersink").ok_or_else(|| Error::new(Status::Internal, "filter graph without a sink"))?;
        let graph = graph.into_inner();
        Ok(ToneMapper { graph, source, sink, api })
    }

    /// The SDR (`gbrp`) version of `frame`.
    pub fn run(&mut self, frame: &Frame) -> Result<Frame, Error> {
        // SAFETY: source is this graph's buffer filter; KEEP_REF makes it take a new
        // reference, leaving `frame` untouched. A NULL frame then marks the end.
        unsafe {
            check(
                (self.api.av_buffersrc_add_frame_flags)(
                    self.source.as_ptr(),
                    frame.as_ptr(),
                    ffi::AV_BUFFERSRC_FLAG_KEEP_REF as i32,
                ),
                Status::Internal,
                "tone mapping",
            )?;
            check(
                (self.api.av_buffersrc_add_frame_flags)(self.source.as_ptr(), ptr::null_mut(), 0),
                Status::Internal,
                "tone mapping",
            )?;
        }
        let out = Frame::new()?;
        // SAFETY: sink is this graph's buffersink; `out` is a blank frame it fills.
        check(
            unsafe { (self.api.av_buffersink_get_frame)(self.sink.as_ptr(), out.as_ptr()) },
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
        unsafe { (self.api.avfilter_graph_free)(&mut raw) };
    }
}

/// A graph being built, freed if building fails.
struct Graph {
    graph: NonNull<ffi::AVFilterGraph>,
    api: &'static Api,
}

impl Graph {
    /// The first filter context of the graph whose filter is `name`.
    fn find(&self, name: &CStr) -> Option<NonNull<ffi::AVFilterContext>> {
        // SAFETY: filters[0..nb_filters] are valid contexts of this graph, each with a
        // static AVFilter whose name is a static string.
        unsafe {
            let graph = self.graph.as_ref();
            (0..graph.nb_filters as usize)
                .map(|i| *graph.filters.add(i))
                .find(|&ctx| !ctx.is_null() && CStr::from_ptr((*(*ctx).filter).name as *const c_char) == name)
                .and_then(NonNull::new)
        }
    }

    fn into_inner(self) -> NonNull<ffi::AVFilterGraph> {
        let graph = self.graph;
        std::mem::forget(self);
        graph
    }
}

impl Drop for Graph {
    fn drop(&mut self) {
        let mut raw = self.graph.as_ptr();
        // SAFETY: the graph is ours until `into_inner` hands it on.
        unsafe { (self.api.avfilter_graph_free)(&mut raw) };
    }
}

// SAFETY: the graph is used by one thread at a time (we hold it by &mut).
unsafe impl Send for ToneMapper {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signatures in `Api` are those of the bindings (so of the headers): this only
    /// compiles if each function item coerces to its field's type. It links libavfilter
    /// into the test binary, never into the library.
    #[test]
    fn api_signatures_match_the_headers() {
        let _ = Api {
            avfilter_get_by_name: ffi::avfilter_get_by_name,
            avfilter_graph_alloc: ffi::avfilter_graph_alloc,
            avfilter_graph_parse_ptr: ffi::avfilter_graph_parse_ptr,
            avfilter_inout_free: ffi::avfilter_inout_free,
            avfilter_graph_config: ffi::avfilter_graph_config,
            avfilter_graph_free: ffi::avfilter_graph_free,
            av_buffersrc_add_frame_flags: ffi::av_buffersrc_add_frame_flags,
            av_buffersink_get_frame: ffi::av_buffersink_get_frame,
        };
    }

    #[test]
    fn libavfilter_loads_with_the_filters() {
        assert!(api().is_ok(), "{:?}", api().err());
        assert!(available(), "zscale, tonemap, format, buffer and buffersink in {:?}", library_name());
    }
}
