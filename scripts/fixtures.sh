#!/usr/bin/env bash
# Generates the small test videos every test suite uses (Rust, C, Python, Go, bench) with
# the ffmpeg CLI, into DIR (default target/fixtures). Idempotent: a fixture that exists is
# kept, so suites can call this freely. Content is testsrc2, whose frame counter and moving
# patterns make every frame distinct.
set -euo pipefail
dir=${1:-target/fixtures}
mkdir -p "$dir"
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
src() { echo "testsrc2=size=${1}:rate=${2}"; }
make_one() {
    local name=$1; shift
    [ -s "$dir/$name" ] && return 0
    # A per-process temporary name: suites that run this at the same time never mix writes.
    local tmp="$dir/.tmp-$$-$name"
    ff "$@" "$tmp" && mv "$tmp" "$dir/$name"
}
x264=(-c:v libx264 -preset ultrafast -pix_fmt yuv420p)
# without_stss NAME ARGS...: NAME, a MOV/MP4 made by ARGS with its index first, and the
# same as `.NAME` with its sync-sample table renamed to free (which demuxers skip), so
# that every sample counts as a keyframe.
without_stss() {
    local name=$1; shift
    [ -s "$dir/$name" ] && [ -s "$dir/.$name" ] && return 0
    make_one ".$name" "$@" -movflags +faststart
    local tmp="$dir/.tmp-$$-$name"
    # faststart puts the moov first: the first stbl and the stss in it are the index's.
    perl -0777 -pe 's/stbl(.*?)stss/stbl${1}free/s' "$dir/.$name" > "$tmp" && mv "$tmp" "$dir/$name"
}

# Long GOP (one keyframe per 250 frames) with B-frames, 30 fps, 10 s.
make_one bframes_gop250.mp4 -f lavfi -i "$(src 320x240 30)" -t 10 "${x264[@]}" -preset fast -g 250 -keyint_min 250 -bf 3
# Short GOP, no B-frames, 25 fps.
make_one gop25_25fps.mp4 -f lavfi -i "$(src 320x240 25)" -t 6 "${x264[@]}" -g 25 -bf 0
# MPEG-TS whose timestamps start at 600 s, GOP 60 with B-frames.
make_one start600.ts -f lavfi -i "$(src 320x240 30)" -t 8 "${x264[@]}" -preset fast -g 60 -bf 2 -output_ts_offset 600 -f mpegts
# One GOP for a whole minute (no B-frames, so every frame is decoded): reaching its end
# takes long enough to test time limits and cancellation.
make_one long_single_gop.ts -f lavfi -i "$(src 640x360 25)" -t 60 "${x264[@]}" -g 100000 -keyint_min 100000 -sc_threshold 0 -bf 0 -f mpegts
# MPEG-TS whose audio starts 0.5 s before the video (the ffmpeg CLI then counts -ss from
# the video when it outputs the video alone).
make_one audio_first.ts -f lavfi -i "sine=frequency=440:sample_rate=48000" -itsoffset 0.5 -f lavfi -i "$(src 320x240 25)" -map 1:v -map 0:a -t 4 "${x264[@]}" -g 50 -bf 2 -c:a aac -f mpegts
# Variable frame rate: frame n shown at n*n/600 s-ish, in Matroska (1 ms time base).
make_one vfr.mkv -f lavfi -i "$(src 320x240 30)" -t 6 -vf "setpts='N*N*0.004/TB'" -fps_mode vfr "${x264[@]}" -g 40 -bf 2
# Fragmented MP4 with B-frames: its moov lists no samples, so nothing in the headers says
# the reorder delay, and vframe probes it as it probes non-MP4 inputs.
make_one fragmented.mp4 -f lavfi -i "$(src 320x240 25)" -t 4 "${x264[@]}" -preset fast -g 50 -bf 3 -movflags frag_keyframe+empty_moov+default_base_moof
# Edit list: B-frame delay written as an MP4 edit list, plus audio starting before video.
make_one editlist.mp4 -f lavfi -i "$(src 320x240 30)" -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 5 "${x264[@]}" -preset fast -g 50 -bf 3 -c:a aac -shortest
# A Matroska cut with -c copy at 1.3 s (the keyframe before it is at 0 s), with
# -avoid_negative_ts disabled: the 32 frames before the cut are kept without timestamps.
if [ ! -s "$dir/cut_untimed_head.mkv" ]; then
    make_one .cut_source.mkv -f lavfi -i "$(src 320x240 25)" -t 4 "${x264[@]}" -g 50 -bf 2
    make_one cut_untimed_head.mkv -ss 1.3 -i "$dir/.cut_source.mkv" -c copy -avoid_negative_ts disabled
fi
# Anamorphic: 480x360 coded with SAR 4:3 (displays 640x360).
make_one anamorphic_sar4x3.mp4 -f lavfi -i "$(src 480x360 30)" -t 3 -vf setsar=4/3 "${x264[@]}" -g 30
# NTSC DVD widescreen: 720x480 with SAR 32:27, exactly 16:9 (display width 853.3), 1 s.
make_one ntsc_wide_sar32x27.mp4 -f lavfi -i "$(src 720x480 30)" -t 1 -vf setsar=32/27 "${x264[@]}" -g 30
# Display matrices, by stream copy. rotateN.mp4 holds a matrix of N degrees
# counter-clockwise (ffprobe: rotation=N, modulo 360): rotate270.mp4 is what phones write
# for portrait video, rotate90.mp4 its inverse. FFmpeg 6.0+ sets this with -display_rotation;
# 5.1 only converts a 'rotate' tag, and with this sign (its mov muxer ignores the tag
# when encoding).
# (The help is read whole: `| grep -q` would end ffmpeg with SIGPIPE, false under pipefail.)
if [[ $(ffmpeg -hide_banner -h full 2>/dev/null) == *-display_rotation* ]]; then
    rotated() { make_one "$1" -display_rotation "$2" -i "$dir/gop25_25fps.mp4" -c copy; }
else
    rotated() { make_one "$1" -i "$dir/gop25_25fps.mp4" -c copy -metadata:s:v:0 rotate="$2"; }
fi
rotated rotate90.mp4 90
rotated rotate270.mp4 270
# Larger than 3840x2160 allows (4000 wide), HD-tall with no colour matrix tagged, 5 frames.
make_one wide_4000x1000.mp4 -f lavfi -i "$(src 4000x1000 25)" -t 0.2 "${x264[@]}"
# High bit depth and other chroma layouts.
make_one yuv422p10.mkv -f lavfi -i "$(src 320x240 30)" -t 3 -c:v libx264 -preset ultrafast -pix_fmt yuv422p10le -g 30
# HDR-tagged 10-bit (PQ/HDR10 and HLG): testsrc2 is not HDR content, but the tags are what
# decide the conversion. The frames carry the tags too (setparams): ffmpeg 7.x gives the
# encoder the frames' primaries and transfer, over -color_primaries/-color_trc.
hdr() { echo "setparams=color_primaries=bt2020:color_trc=$1:colorspace=bt2020nc"; }
make_one hdr10_pq.mkv -f lavfi -i "$(src 320x240 30)" -t 1 -vf "$(hdr smpte2084)" -c:v libx264 -preset ultrafast -pix_fmt yuv420p10le -color_primaries bt2020 -color_trc smpte2084 -colorspace bt2020nc -g 30
make_one hlg.mp4 -f lavfi -i "$(src 320x240 30)" -t 1 -vf "$(hdr arib-std-b67)" -c:v libx264 -preset ultrafast -pix_fmt yuv420p10le -color_primaries bt2020 -color_trc arib-std-b67 -colorspace bt2020nc -g 30
make_one yuv444p_fullrange.mp4 -f lavfi -i "$(src 320x240 30)" -t 3 -vf scale=out_range=full -c:v libx264 -preset ultrafast -pix_fmt yuvj444p -color_range pc -g 30
# Gray (FFV1, full range) and RGB (libx264rgb, decoded as planar gbrp).
make_one gray_ffv1.mkv -f lavfi -i "$(src 320x240 30)" -t 1 -c:v ffv1 -pix_fmt gray -g 30
make_one rgb_x264rgb.mkv -f lavfi -i "$(src 320x240 30)" -t 1 -c:v libx264rgb -preset ultrafast -pix_fmt rgb24 -g 30
# Other codecs and containers.
make_one vp9.webm -f lavfi -i "$(src 320x240 30)" -t 3 -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -g 30 -b:v 300k
make_one mpeg4.avi -f lavfi -i "$(src 320x240 25)" -t 3 -c:v mpeg4 -g 12 -bf 2 -q:v 4
# Xvid with B-frames as VfW-era AVIs store them: "packed" (a P-frame and the B-frame before
# it in one packet, then a 6-byte placeholder), so a packet's time is not its frame's; the
# same stream unpacked by FFmpeg's mpeg4_unpack_bframes on a stream copy, as guides advise.
make_one xvid_packed.avi -f lavfi -i "$(src 320x240 25)" -t 4 -c:v libxvid -g 50 -bf 2 -q:v 3
make_one xvid_unpacked.avi -i "$dir/xvid_packed.avi" -c copy -bsf:v mpeg4_unpack_bframes
# ... and stream-copied, still packed, into MP4: every packet's pts is its dts.
make_one xvid_packed.mp4 -i "$dir/xvid_packed.avi" -c copy
# Faulty timestamps, where ffmpeg's frame times depend on every frame decoded before: Xvid
# (not packed) straight into MP4, whose packets then carry pts = dts in a B-frame stream.
make_one xvid.mp4 -f lavfi -i "$(src 320x240 25)" -t 4 -c:v libxvid -bf 2 -g 30 -q:v 3
# ... and where pts = dts is right: MPEG-2 with I- and P-frames only, which FFmpeg's encoder
# still marks as possibly reordered (low_delay 0).
if [ ! -s "$dir/mpeg2_ip_pts_is_dts.mp4" ]; then
    make_one .mpeg2_ip.mp4 -f lavfi -i "$(src 320x240 25)" -t 20 -c:v mpeg2video -bf 0 -g 15 -q:v 4
    make_one mpeg2_ip_pts_is_dts.mp4 -i "$dir/.mpeg2_ip.mp4" -c copy -bsf:v setts=dts=PTS-STARTPTS:pts=PTS-STARTPTS
fi
# H.264 with intra refresh, no I-frame after the first: MPEG-TS marks each recovery point (a
# P-frame) as a keyframe, and a seek to one is sound.
make_one intra_refresh.ts -f lavfi -i "$(src 320x240 25)" -t 20 "${x264[@]}" -x264-params intra-refresh=1:keyint=50 -bf 0 -f mpegts
# Elementary streams with B-frames: no container, no index; the H.264 one has no
# timestamps at all (frame n is at n / frame rate).
make_one bframes_annexb.h264 -i "$dir/bframes_gop250.mp4" -c copy -bsf:v h264_mp4toannexb -f h264
make_one mpeg2_bframes.m2v -f lavfi -i "$(src 320x240 25)" -t 4 -c:v mpeg2video -g 12 -bf 2 -q:v 4 -f mpeg2video
# Not video: audio only.
make_one audio_only.m4a -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 2 -c:a aac
# Cover art: a still picture attached to audio (and beside a real video), in the containers
# that carry one. None of it is video.
make_one cover.jpg -f lavfi -i "testsrc2=size=200x200" -frames:v 1
make_one cover.png -f lavfi -i "testsrc2=size=200x200" -frames:v 1
sine=(-f lavfi -i "sine=frequency=440:sample_rate=48000:duration=2")
make_one cover_art.m4a "${sine[@]}" -i "$dir/cover.jpg" -map 0 -map 1 -c:a aac -c:v copy -disposition:v attached_pic
make_one cover_art.mp3 "${sine[@]}" -i "$dir/cover.jpg" -map 0 -map 1 -c:a libmp3lame -c:v copy -id3v2_version 3
make_one cover_art.flac "${sine[@]}" -i "$dir/cover.png" -map 0 -map 1 -c:a flac -c:v copy -disposition:v attached_pic
make_one cover_art.mka "${sine[@]}" -attach "$dir/cover.jpg" -metadata:s:t mimetype=image/jpeg -c:a libvorbis
make_one video_and_cover.mp4 -f lavfi -i "$(src 320x240 25)" -i "$dir/cover.jpg" -map 1 -map 0 -t 2 \
    -c:v:1 libx264 -preset ultrafast -pix_fmt yuv420p -c:v:0 copy -disposition:v:0 attached_pic
make_one still.gif -f lavfi -i "testsrc2=size=64x48" -frames:v 1
# Tiny (64x48, 10 frames, a few KB) in many containers and codecs: cheap inputs for the
# hostile-input corpus (truncation, bit flips), the stress test and fuzzing seeds.
tiny=(-f lavfi -i "$(src 64x48 10)" -t 1)
make_one tiny_h264.mp4 "${tiny[@]}" "${x264[@]}" -g 5 -bf 2
make_one tiny_h264_faststart.mp4 "${tiny[@]}" "${x264[@]}" -g 5 -bf 2 -movflags +faststart
make_one tiny_h264.ts "${tiny[@]}" "${x264[@]}" -g 5 -f mpegts
make_one tiny_h264.mkv "${tiny[@]}" "${x264[@]}" -g 5
make_one tiny_h264.h264 "${tiny[@]}" "${x264[@]}" -g 5 -f h264
make_one tiny_hevc.mp4 "${tiny[@]}" -c:v libx265 -preset ultrafast -x265-params log-level=none -g 5
make_one tiny_vp9.webm "${tiny[@]}" -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -g 5
make_one tiny_av1.ivf "${tiny[@]}" -c:v libaom-av1 -cpu-used 8 -g 5
make_one tiny_mpeg4.avi "${tiny[@]}" -c:v mpeg4 -g 5 -bf 1
make_one tiny_mpeg2.mpg "${tiny[@]}" -c:v mpeg2video -g 5
# Xvid packed in AVI (the bitstream filter on the way to the decoder) and Xvid straight into
# MP4 (pts = dts: the faulty-timestamp pass), so damage and fuzzing reach those paths too.
make_one tiny_xvid_packed.avi "${tiny[@]}" -c:v libxvid -g 5 -bf 2 -q:v 4
make_one tiny_xvid.mp4 "${tiny[@]}" -c:v libxvid -g 5 -bf 2 -q:v 4
make_one tiny_flv1.flv "${tiny[@]}" -c:v flv1
make_one tiny_theora.ogv "${tiny[@]}" -c:v libtheora -g 5
make_one tiny_mjpeg.mov "${tiny[@]}" -c:v mjpeg -pix_fmt yuvj420p
make_one tiny_wmv2.asf "${tiny[@]}" -c:v wmv2
make_one tiny_ffv1.nut "${tiny[@]}" -c:v ffv1
make_one tiny_gif.gif "${tiny[@]}"
make_one tiny_yuv420p.y4m "${tiny[@]}" -pix_fmt yuv420p

# HEVC in MPEG-TS, without and with B-frames (open GOP, x265's default): seeks in MPEG-TS
# land on any packet, and FFmpeg's HEVC decoder makes up the references of a picture
# decoded without them instead of leaving it out.
x265=(-c:v libx265 -preset ultrafast -pix_fmt yuv420p)
make_one hevc_gop30.ts -f lavfi -i "$(src 320x240 30)" -t 4 "${x265[@]}" -x265-params bframes=0:keyint=30:min-keyint=30:log-level=none -f mpegts
make_one hevc_bframes.ts -f lavfi -i "$(src 320x240 30)" -t 4 "${x265[@]}" -x265-params bframes=3:keyint=30:min-keyint=30:log-level=none -f mpegts
# HEVC in MP4 without a sync-sample table (stss renamed to free, which demuxers skip):
# every sample counts as a keyframe, so a seek lands on pictures that need others. 25 fps,
# 20 s, an IDR every second: the frame at 18.5 s is found by a seek or by 463 frames.
without_stss hevc_no_stss_20s.mp4 -f lavfi -i "$(src 320x240 25)" -t 20 "${x265[@]}" -x265-params bframes=3:keyint=25:min-keyint=25:log-level=none
# HEVC with RADL pictures (decodable leading pictures, shown before their IDR): the first
# pictures out after a seek to an IDR are no keyframes, and need nothing before it.
make_one hevc_radl.mp4 -f lavfi -i "$(src 320x240 25)" -t 20 "${x265[@]}" -x265-params bframes=4:radl=2:no-open-gop=1:keyint=25:min-keyint=25:log-level=none
# H.263+ in Matroska, an I-frame every 30: Matroska marks every packet as a keyframe.
make_one h263p_every_packet_key.mkv -f lavfi -i "$(src 320x240 25)" -t 4 -c:v h263p -g 30
# Streams whose containers mark packets as keyframes that are none, for the fast mode:
# MPEG-2 in a MOV without its sync-sample table (FFmpeg's MPEG-2 decoder gives nothing for
# a P-frame alone), with and without B-frames, with an open GOP (its I-frames decoded
# before B-frames shown earlier), and with a 12 s GOP; H.263+ in Matroska and MPEG-4 Part 2
# in MP4 cut with -copyinkf 0.4 s into a 2 s / 1 s GOP, so they begin with P-frames (the MP4
# keeps its sync samples: a seek before the first one fails); H.263+ with a 24 s GOP (over
# 500 false marks back to its I-frame), and cut 4 s in (500 P-frames before its first
# I-frame); and an all-intra MPEG-2 MPEG-TS (every mark true).
for bf in 0 2; do
    without_stss "mpeg2_bf${bf}_no_stss.mov" -f lavfi -i "$(src 320x240 25)" -t 6 -c:v mpeg2video -g 25 -bf "$bf" -q:v 4
done
without_stss mpeg2_open_gop_no_stss.mov -f lavfi -i "$(src 320x240 25)" -t 6 -c:v mpeg2video -g 15 -bf 2 -flags -cgop -q:v 4
without_stss mpeg2_gop300_no_stss.mov -f lavfi -i "$(src 176x144 25)" -t 30 -c:v mpeg2video -g 300 -bf 2 -q:v 6
make_one .h263p_gop600.mkv -f lavfi -i "$(src 176x144 25)" -t 30 -c:v h263p -g 600 -q:v 6
make_one h263p_gop600_cut.mkv -i "$dir/.h263p_gop600.mkv" -ss 4 -c copy -copyinkf
make_one .h263p_gop50.mkv -f lavfi -i "$(src 320x240 25)" -t 6 -c:v h263p -g 50 -q:v 4
make_one h263p_starts_with_p.mkv -i "$dir/.h263p_gop50.mkv" -ss 0.4 -c copy -copyinkf
make_one .mpeg4_gop25.mp4 -f lavfi -i "$(src 320x240 25)" -t 6 -c:v mpeg4 -g 25 -bf 0 -q:v 4 -movflags +faststart
make_one mpeg4_starts_with_p.mp4 -i "$dir/.mpeg4_gop25.mp4" -ss 0.4 -c copy -copyinkf -movflags +faststart
make_one mpeg2_all_intra.ts -f lavfi -i "$(src 320x240 25)" -t 4 -c:v mpeg2video -g 1 -q:v 4 -f mpegts
# Two video streams: a 320x240 one first, at a higher bitrate, then a 640x480 one (what
# the ffmpeg CLI outputs: the largest picture); in Matroska neither marked as default.
two_videos=(-f lavfi -i "$(src 320x240 25)" -f lavfi -i "$(src 640x480 25),hue=h=120" -map 0:v -map 1:v -t 3
    "${x264[@]}" -b:v:0 2M -b:v:1 150k -g 25)
make_one two_video_streams.ts "${two_videos[@]}" -f mpegts
make_one two_video_streams_no_default.mkv "${two_videos[@]}" -disposition:v:0 0 -disposition:v:1 0
# ISMV (a 10 MHz time base) whose video starts at 0.0666667 s (a B-pyramid's delay): the
# ffmpeg CLI counts from that start rounded to a whole µs (66667), so its first frame is
# 0.3 µs before the CLI's zero, and every frame sits 0.3 µs before a whole-µs time.
make_one ismv_start_between_microseconds.ismv -f lavfi -i "$(src 320x240 30)" -t 3 "${x264[@]}" -preset fast -g 30 -bf 3 -f ismv
echo "$dir"
