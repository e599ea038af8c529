//! Every difference between the FFmpeg versions vframe builds against (5.1 through 7.x)
//! lives here, one function per difference, switched on the cfg flags that `build.rs`
//! derives from the version ffmpeg-sys-next detected.

use ffmpeg_sys_next as ffi;

/// Reads a display matrix (nine int32) from side data of `size` bytes at `data`.
///
/// # Safety
/// `data` must be valid for reads of `size` bytes.
pub(super) unsafe fn read_matrix(side_data: Option<(*const u8, usize)>) -> Option<[i32; 9]> {
    let (data, size) = side_data?;
    if data.is_null() || size < 9 * 4 {
        return None;
    }
    let mut m = [0i32; 9];
    // SAFETY: the caller guarantees `size` (>= 36) readable bytes; read unaligned.
    unsafe { std::ptr::copy_nonoverlapping(data, m.as_mut_ptr() as *mut u8, 9 * 4) };
    Some(m)
}

/// The stream's display matrix. FFmpeg 6.1 moved stream side data into
/// `codecpar->coded_side_data`; older versions have `av_stream_get_side_data`.
///
/// # Safety
/// `stream` must be a valid stream of an open format context.
#[cfg(ffmpeg_6_1)]
pub(super) unsafe fn stream_display_matrix(stream: *const ffi::AVStream) -> Option<[i32; 9]> {
    // SAFETY: codecpar and its side data array belong to the stream and stay valid.
    unsafe {
        let par = (*stream).codecpar;
        let sd = ffi::av_packet_side_data_get(
            (*par).coded_side_data,
            (*par).nb_coded_side_data,
            ffi::AVPacketSideDataType::AV_PKT_DATA_DISPLAYMATRIX,
        );
        read_matrix(sd.as_ref().map(|sd| (sd.data as *const u8, sd.size)))
    }
}

/// See the FFmpeg 6.1+ variant above.
///
/// # Safety
/// `stream` must be a valid stream of an open format context.
#[cfg(not(ffmpeg_6_1))]
pub(super) unsafe fn stream_display_matrix(stream: *const ffi::AVStream) -> Option<[i32; 9]> {
    let mut size: usize = 0;
    // SAFETY: the returned pointer, if any, is valid for `size` bytes while the stream lives.
    unsafe {
        let data =
            ffi::av_stream_get_side_data(stream, ffi::AVPacketSideDataType::AV_PKT_DATA_DISPLAYMATRIX, &mut size);
        read_matrix((!data.is_null()).then_some((data as *const u8, size)))
    }
}

/// The stream's frame rate as the ffmpeg CLI guesses it for frames without timestamps
/// (`av_guess_frame_rate`: `r_frame_rate`, corrected by the codec's rate and the average).
/// The fields differ between versions: for raw H.264, 5.1 reports the stream's rate as both
/// `avg_frame_rate` and `r_frame_rate`, 7.1 its demuxer's default 25 fps as the average and
/// the field rate (twice the frame rate) as `r_frame_rate`; the guess is the stream's rate on both.
///
/// # Safety
/// `format` must be an open format context and `stream` one of its streams.
pub(super) unsafe fn frame_rate(format: *mut ffi::AVFormatContext, stream: *mut ffi::AVStream) -> ffi::AVRational {
    // SAFETY: valid per the contract; the frame argument may be NULL.
    unsafe { ffi::av_guess_frame_rate(format, stream, std::ptr::null_mut()) }
}

/// Whether the decoder marked the frame as a keyframe (`key_frame` became a flag in 6.1).
///
/// # Safety
/// `frame` must be a valid frame.
#[cfg(ffmpeg_6_1)]
pub(super) unsafe fn frame_is_key(frame: *const ffi::AVFrame) -> bool {
    // SAFETY: frame is valid per the contract.
    unsafe { (*frame).flags & ffi::AV_FRAME_FLAG_KEY != 0 }
}

/// See the FFmpeg 6.1+ variant above.
///
/// # Safety
/// `frame` must be a valid frame.
#[cfg(not(ffmpeg_6_1))]
pub(super) unsafe fn frame_is_key(frame: *const ffi::AVFrame) -> bool {
    // SAFETY: frame is valid per the contract.
    unsafe { (*frame).key_frame != 0 }
}
