#!/usr/bin/env python3
"""`make bench`: vframe side by side with the tools people use instead.

Steps (each reported as it runs):
1. corpus: generates the test videos with the ffmpeg CLI into bench/work/corpus (kept
   between runs; a file is made again only when missing or when its recipe changed);
2. ground truth: for each file, the frames `ffmpeg -i F -ss T -frames:v 1` gives at T, and
   one frame either side, scaled to the thumbnail size, as RGB;
3. one untimed warm-up call per tool and file, whose image is checked against the ground
   truth (PSNR against the true frame and both neighbours);
4. REPS timed repetitions, round-robin: in every repetition, for every file, each tool
   once (several times round for files whose call is short), in an order that rotates
   from one repetition to the next;
5. a soak: 1000 in-process calls, resident memory before and after;
6. where vframe's time goes on the long-GOP 1080p file (find vs present, threads);
7. asynchronous load: 1000 jobs over one file through a `vframe.Pool`, given as a path, as
   bytes (lent), as a bytearray (copied per job, bounded) and as the old unbounded copying,
   each in a fresh Python with its peak RSS (`bench/async_worker.py`);
8. writes bench/work/results.json, BENCHMARKS.md and bench/chart.png.

`--report-only` rewrites BENCHMARKS.md and the chart from bench/work/results.json.
`--only async` runs step 7 alone and rewrites the report with it (the other sections from
the last full run's results.json, if there is one).
Run it through `make bench` (or bench/run.sh), which builds and installs what it needs.
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / "work"
CORPUS_DIR = WORK / "corpus"
OUT_DIR = WORK / "out"
RESULTS = WORK / "results.json"
REPORT = ROOT / "BENCHMARKS.md"
CHART = BENCH / "chart.png"
VFRAME_CLI = ROOT / "target/release/vframe"
VFRAME_WORKER = ROOT / "target/release/vframe-bench"

THUMB_WIDTH = 640  # every tool is asked for the same size: 640 wide, height from the display aspect
JPEG_QUALITY = 85
SOAK_CALLS = 1000
SOAK_EVERY = 50
SOAK_LIMIT_KB = 4096  # "nothing grows": the peak of calls 501-1000 within 4 MiB of that of calls 1-500
RIGHT_FRAME_MIN_PSNR = 20.0  # dB against the true frame, and closer to it than to either neighbour
RIGHT_FRAME_MARGIN = 1.0  # dB

# ---------------------------------------------------------------------------------------
# The corpus. Content is testsrc2 (moving patterns and a frame counter: every frame is
# different, so a wrong frame shows). Offsets sit deep inside a GOP: the hard case, where
# the decoder must run from the keyframe to the target.
# ---------------------------------------------------------------------------------------


@dataclass
class Clip:
    name: str
    what: str
    encode: list  # ffmpeg arguments after the input
    size: str
    rate: int
    seconds: float
    offset: str  # the moment asked for, seconds on the video stream's timeline
    rotate: bool = False  # ask for rotate/auto (the file carries a rotation)
    vf: str = ""  # filter on the source (e.g. setsar)
    post: list = field(default_factory=list)  # a second ffmpeg pass over the encoded file


X264 = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-sc_threshold", "0"]
CORPUS = [
    Clip("h264_1080p_gop250_bf3.mp4", "H.264 1080p25, GOP 250, 3 B-frames (b-pyramid)",
         X264 + ["-preset", "veryfast", "-g", "250", "-keyint_min", "250", "-bf", "3"],
         "1920x1080", 25, 10.4, "9.6"),
    Clip("h264_720p_gop30.mp4", "H.264 720p30, GOP 30, 2 B-frames",
         X264 + ["-preset", "veryfast", "-g", "30", "-bf", "2"], "1280x720", 30, 4, "2.9"),
    Clip("h264_2160p_gop60.mp4", "H.264 2160p30, GOP 60, 2 B-frames",
         X264 + ["-preset", "superfast", "-g", "60", "-bf", "2"], "3840x2160", 30, 2.5, "1.9"),
    Clip("hevc_1080p_opengop.mp4", "HEVC 1080p25, open GOP (CRA every 50), x265 ultrafast",
         ["-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-x265-params",
          "keyint=50:min-keyint=50:open-gop=1:scenecut=0:log-level=error"], "1920x1080", 25, 5, "3.7"),
    Clip("vp9_720p.webm", "VP9 720p30, one keyframe per 120 frames",
         ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-g", "120", "-b:v", "2M"],
         "1280x720", 30, 4, "3.8"),
    Clip("av1_480p.mkv", "AV1 480p30 (libsvtav1 preset 12), GOP 120",
         ["-c:v", "libsvtav1", "-preset", "12", "-g", "120", "-pix_fmt", "yuv420p"], "854x480", 30, 3.2, "2.9"),
    Clip("mpeg4_480p.avi", "MPEG-4 Part 2 in AVI, 720x480 25 fps, GOP 100, 2 B-frames",
         ["-c:v", "mpeg4", "-g", "100", "-bf", "2", "-q:v", "4"], "720x480", 25, 5, "3.8"),
    Clip("mpeg2_576p.ts", "MPEG-2 in MPEG-TS, 720x576 25 fps, GOP 50, 2 B-frames",
         ["-c:v", "mpeg2video", "-g", "50", "-bf", "2", "-b:v", "5M", "-f", "mpegts"], "720x576", 25, 6, "3.7"),
    Clip("rotated90_h264_720p.mp4", "H.264 720p30 with a 90° rotation (display matrix), GOP 60",
         X264 + ["-preset", "veryfast", "-g", "60", "-bf", "2"], "1280x720", 30, 3, "1.8", rotate=True,
         post=["-c", "copy", "-metadata:s:v:0", "rotate=90"]),
    Clip("anamorphic_1440x1080_sar4x3.mp4", "H.264 1440x1080 SAR 4:3 (displays 1920x1080), GOP 100",
         X264 + ["-preset", "veryfast", "-g", "100", "-bf", "2"], "1440x1080", 25, 5, "3.6", vf="setsar=4/3"),
]
SOAK_CLIP, SOAK_OFFSET = "h264_720p_gop30.mp4", "0.5"
# The asynchronous load: a larger file (as uploads are), the frame at 0 (cheap to find, so
# the cost of handing the input over shows), a small JPEG.
ASYNC_CLIP = Clip("h264_1080p_20s_8mbps.mp4", "H.264 1080p25, 20 s at 8 Mb/s, GOP 50",
                  X264 + ["-preset", "ultrafast", "-g", "50", "-b:v", "8M"], "1920x1080", 25, 20, "0")
ASYNC_SPEC = "vframe/jpg/offset/0/w/320"
ASYNC_JOBS = 1000
ASYNC_MODES = ["path", "bytes", "bytearray", "bytearray-unbounded"]
ASYNC_MODE_LABEL = {
    "path": "path (each job opens the file)",
    "bytes": "bytes (lent to the library, no copy)",
    "bytearray": "bytearray (copied once per job, bounded queue)",
    "bytearray-unbounded": "bytearray, queue without bound (a copy per job, all queued: vframe before)",
}
ASYNC_WORKER = BENCH / "async_worker.py"
# Many frames of a long video (issue 11): a frame every SAMPLE_INTERVAL seconds, and a
# storyboard at the same interval.
LONG_CLIPS = [
    Clip("h264_720p_120s_gop250.mp4", "H.264 720p30, 2 min, GOP 250 (8.3 s), 2 B-frames",
         X264 + ["-preset", "veryfast", "-g", "250", "-keyint_min", "250", "-bf", "2"], "1280x720", 30, 120, "0"),
    Clip("h264_1080p_60s_gop50.mp4", "H.264 1080p25, 1 min, GOP 50 (2 s), 3 B-frames",
         X264 + ["-preset", "veryfast", "-g", "50", "-bf", "3"], "1920x1080", 25, 60, "0"),
]
SAMPLE_INTERVAL = 10
SAMPLE_SPEC = f"vsample/jpg/interval/{SAMPLE_INTERVAL}/s/640x"
STORYBOARD_SPEC = f"storyboard/jpg/interval/{SAMPLE_INTERVAL}"
STORYBOARD_TILE_W, STORYBOARD_COLUMNS = 160, 10  # the storyboard's defaults
# Moments closer than a GOP (the first long file's first 30 s, a frame every 2 s), where one
# pass decodes on instead of starting again from a keyframe for each.
DENSE_SECONDS, DENSE_INTERVAL = 30, 2
DENSE_SPEC = f"vsample/jpg/t/{DENSE_SECONDS}/interval/{DENSE_INTERVAL}/s/640x"
PROFILE_CLIP = "h264_1080p_gop250_bf3.mp4"

TOOLS = ["vframe", "vframe-cli", "ffmpeg-cli", "pyav", "ffmpegthumbnailer", "lower-bound"]
TOOL_LABEL = {
    "vframe": "vframe in-process (Rust API)",
    "vframe-cli": "vframe CLI",
    "ffmpeg-cli": "ffmpeg CLI, input seeking",
    "pyav": "PyAV in-process + Pillow",
    "ffmpegthumbnailer": "ffmpegthumbnailer",
    "lower-bound": "lower bound (open, decode from keyframe, skip non-ref, + 1 encode)",
}


def log(*args):
    print("bench:", *args, flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL, **kw)


def ffmpeg(*args, stdout=subprocess.DEVNULL):
    return run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args],
               stdout=stdout, stderr=subprocess.PIPE, env={**os.environ, "SVT_LOG": "1"})


# ------------------------------------------------------------------------ corpus + probe


def recipe(clip):
    return json.dumps([clip.encode, clip.size, clip.rate, clip.seconds, clip.vf, clip.post, "tagged"])


def make_corpus(clips=None):
    CORPUS_DIR.mkdir(parents=True, exist_ok=True)
    for clip in CORPUS + [ASYNC_CLIP] + LONG_CLIPS if clips is None else clips:
        path = CORPUS_DIR / clip.name
        stamp = CORPUS_DIR / (clip.name + ".recipe")
        if path.exists() and stamp.exists() and stamp.read_text() == recipe(clip):
            continue
        t0 = time.perf_counter()
        src = f"testsrc2=size={clip.size}:rate={clip.rate}" + (f",{clip.vf}" if clip.vf else "")
        # Tagged with the matrix it was converted with, as real files are: an untagged file
        # leaves the matrix to each tool's convention (BT.601 vs BT.709 for HD), which would
        # show up as a colour difference rather than as a frame difference.
        matrix = "bt709" if int(clip.size.split("x")[1]) >= 720 else "smpte170m"
        src += f",scale=out_color_matrix={matrix}:out_range=tv"
        tags = ["-colorspace", matrix, "-color_primaries", matrix, "-color_trc", matrix, "-color_range", "tv"]
        tmp = CORPUS_DIR / (".tmp-" + clip.name)
        ffmpeg("-f", "lavfi", "-i", src, "-t", str(clip.seconds), *clip.encode, *tags, str(tmp))
        if clip.post:
            tmp2 = CORPUS_DIR / (".tmp2-" + clip.name)
            ffmpeg("-i", str(tmp), *clip.post, str(tmp2))
            tmp2.replace(tmp)
        tmp.replace(path)
        stamp.write_text(recipe(clip))
        log(f"corpus: made {clip.name} ({path.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t0:.1f} s")


def ffprobe_json(*args):
    out = run(["ffprobe", "-v", "error", "-of", "json", *args], capture_output=True, text=True).stdout
    return json.loads(out)


@dataclass
class Info:
    clip: Clip
    path: Path
    codec: str
    width: int
    height: int
    sar: Fraction
    rotation: int  # degrees, as ffprobe's display matrix side data says
    fps: Fraction
    video_start: float
    file_start: float
    keyframes: list  # pts_time of keyframes (file timeline)
    out_w: int = 0
    out_h: int = 0

    @property
    def ffmpeg_seconds(self):
        """The ffmpeg CLI's -ss for the clip's offset (ffmpeg counts from the file's start)."""
        return float(Fraction(self.clip.offset)) + self.video_start - self.file_start

    @property
    def depth(self):
        """Frames from the keyframe before the target to the target."""
        t = float(Fraction(self.clip.offset)) + self.video_start
        before = [k for k in self.keyframes if k <= t + 1e-9]
        return round((t - max(before)) * float(self.fps)) if before else None

    @property
    def spec(self):
        rotate = "/rotate/auto" if self.clip.rotate else ""
        return f"vframe/jpg/offset/{self.clip.offset}/w/{self.out_w}/h/{self.out_h}{rotate}"


def packet_time(packet):
    """A packet's presentation time, or its decoding time where it has none (AVI)."""
    for key in ("pts_time", "dts_time"):
        if packet.get(key, "N/A") != "N/A":
            return float(packet[key])
    return None


def probe(clip):
    path = CORPUS_DIR / clip.name
    data = ffprobe_json("-select_streams", "v:0", "-show_streams", "-show_format", str(path))
    s = data["streams"][0]
    sar = s.get("sample_aspect_ratio", "1:1")
    sar = Fraction(*map(int, sar.split(":"))) if sar not in ("0:1", "N/A") else Fraction(1)
    rotation = 0
    for side in s.get("side_data_list", []):
        if "rotation" in side:
            rotation = int(side["rotation"])
    packets = ffprobe_json("-select_streams", "v:0", "-show_entries", "packet=pts_time,dts_time,flags", str(path))
    keyframes = sorted(packet_time(p) for p in packets["packets"] if "K" in p.get("flags", "") and packet_time(p) is not None)
    info = Info(clip, path, s["codec_name"], int(s["width"]), int(s["height"]), sar, rotation,
                Fraction(s["r_frame_rate"]), float(s.get("start_time", 0)),
                float(data["format"].get("start_time", 0)), keyframes)
    display_w, display_h = round(info.width * sar), info.height
    if clip.rotate and rotation % 180:
        display_w, display_h = display_h, display_w
    info.out_w = THUMB_WIDTH
    info.out_h = max(2, round(THUMB_WIDTH * display_h / display_w / 2) * 2)
    return info


# --------------------------------------------------------------------------- ground truth


def load_rgb(path, width, height):
    """A tool's image as an RGB array of the thumbnail size (resized if the tool chose
    another size), and the size it had."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
        size = image.size
        if size != (width, height):
            image = image.resize((width, height), Image.Resampling.BICUBIC)
        return np.asarray(image, dtype=np.float64), size


def ground_truth(info):
    """The true frame and its two neighbours, scaled like the thumbnails, as RGB arrays."""
    import numpy as np

    w, h = info.out_w, info.out_h
    scale = ["-vf", f"scale={w}:{h}", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    frame_bytes = w * h * 3

    def grab(seconds, count):
        out = ffmpeg("-i", str(info.path), "-ss", f"{seconds:.6f}", "-frames:v", str(count), *scale,
                     stdout=subprocess.PIPE).stdout
        frames = [out[i * frame_bytes:(i + 1) * frame_bytes] for i in range(len(out) // frame_bytes)]
        return [np.frombuffer(f, dtype=np.uint8).reshape(h, w, 3).astype(np.float64) for f in frames]

    t = info.ffmpeg_seconds
    here = grab(t, 2)
    before = grab(max(0.0, t - 1 / float(info.fps)), 1)
    return {"truth": here[0], "next": here[1] if len(here) > 1 else None, "prev": before[0] if before else None}


def psnr(a, b):
    import numpy as np

    if a is None or b is None:
        return None
    mse = float(np.mean((a - b) ** 2))
    return 99.0 if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def check_frame(path, info, truth):
    if not path.exists() or path.stat().st_size == 0:
        return {"right": False, "why": "no image"}
    try:
        image, size = load_rgb(path, info.out_w, info.out_h)
    except Exception as e:  # a tool that wrote garbage
        return {"right": False, "why": f"unreadable image: {e}"}
    scores = {k: psnr(image, v) for k, v in truth.items()}
    neighbours = [s for k, s in scores.items() if k != "truth" and s is not None]
    right = scores["truth"] >= RIGHT_FRAME_MIN_PSNR and all(scores["truth"] > s + RIGHT_FRAME_MARGIN for s in neighbours)
    why = "" if right else (
        "closer to a neighbouring frame" if neighbours and max(neighbours) >= scores["truth"] else "another frame")
    result = {"right": right, "psnr": scores["truth"], "psnr_prev": scores["prev"], "psnr_next": scores["next"],
              "size": list(size), "why": why}
    if tuple(size) != (info.out_w, info.out_h):
        result["why"] = (why + "; " if why else "") + f"size {size[0]}x{size[1]}"
    return result


# --------------------------------------------------------------------------------- tools


class Worker:
    """A long-lived in-process tool speaking the tab-separated line protocol."""

    def __init__(self, cmd):
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def ask(self, *fields):
        self.proc.stdin.write("\t".join(map(str, fields)) + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline().rstrip("\n").split("\t")
        if reply[0] != "ok":
            raise RuntimeError(" ".join(reply[1:]) or "worker died")
        return reply[1:]

    def close(self):
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
        except OSError:
            pass
        self.proc.wait(timeout=30)


def run_cli(cmd, measure_rss=False):
    """Runs a command; returns (wall seconds incl. process start, CPU seconds of the child,
    max RSS kB or 0, exit code, stderr). The child's own ru_maxrss cannot be used: a child forked from this (large)
    Python process inherits its high-water mark through fork and exec. So the peak is
    measured, on untimed calls only, through GNU time, a small process that forks the tool."""
    with tempfile.TemporaryDirectory() as tmp:
        rss_file = Path(tmp) / "rss"
        if measure_rss:
            cmd = ["/usr/bin/time", "-f", "%M", "-o", str(rss_file), *cmd]
        with open(Path(tmp) / "err", "w+b") as err:
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
            _, status, usage = os.wait4(proc.pid, 0)
            elapsed = time.perf_counter() - t0
            proc.returncode = code = os.waitstatus_to_exitcode(status)
            err.seek(0)
            stderr = err.read().decode(errors="replace")[-400:]
        rss = int(rss_file.read_text().split()[-1]) if measure_rss and rss_file.exists() else 0
        return elapsed, usage.ru_utime + usage.ru_stime, rss, code, stderr


def hhmmss(seconds):
    seconds = int(seconds)  # ffmpegthumbnailer takes whole seconds only
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Tools:
    def __init__(self, have_pyav):
        self.rust = Worker([str(VFRAME_WORKER)])
        # Two PyAV workers, so each one's memory is its own tool's.
        self.py = Worker([sys.executable, str(BENCH / "pyav_worker.py")]) if have_pyav else None
        self.lower = Worker([sys.executable, str(BENCH / "pyav_worker.py")]) if have_pyav else None
        self.have_thumbnailer = shutil.which("ffmpegthumbnailer") is not None

    def available(self, tool):
        if tool in ("pyav", "lower-bound"):
            return self.py is not None
        if tool == "ffmpegthumbnailer":
            return self.have_thumbnailer
        return True

    def call(self, tool, info, out):
        """One call; returns (seconds, CPU seconds, peak RSS kB, extra dict). A call with
        `out` (the warm-up) writes the image there and, for command-line tools, measures
        peak RSS."""
        out_s = str(out) if out else ""
        if tool == "vframe":
            secs, peak, _, cpu = self.rust.ask("extract", info.path, info.spec, out_s, 0)
            return float(secs), float(cpu), int(peak), {}
        if tool in ("pyav", "lower-bound"):
            worker, request = (self.py, "extract") if tool == "pyav" else (self.lower, "lower")
            reply = worker.ask(request, info.path, info.clip.offset, info.out_w, info.out_h, out_s)
            extra = {}
            if tool == "lower-bound":
                extra = {"decode_s": float(reply[4]), "present_s": float(reply[5]), "decoded": int(reply[6]),
                         "open_s": float(reply[7])}
            return float(reply[0]), float(reply[3]), int(reply[1]), extra
        target = out if out else WORK / "scratch" / f"{tool}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        if tool == "vframe-cli":
            cmd = [str(VFRAME_CLI), str(info.path), info.spec, "-o", str(target)]
        elif tool == "ffmpeg-cli":
            cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                   "-ss", f"{info.ffmpeg_seconds:.6f}", "-i", str(info.path), "-frames:v", "1",
                   "-vf", f"scale={info.out_w}:{info.out_h}", "-q:v", "3", str(target)]
        elif tool == "ffmpegthumbnailer":
            cmd = ["ffmpegthumbnailer", "-i", str(info.path), "-o", str(target), "-s", str(max(info.out_w, info.out_h)),
                   "-q", "8", "-t", hhmmss(info.ffmpeg_seconds)]
        else:
            raise ValueError(tool)
        secs, cpu, rss, code, err = run_cli(cmd, measure_rss=out is not None)
        if code != 0:
            raise RuntimeError(f"{cmd[0]} exited {code}: {err.strip()}")
        return secs, cpu, rss, {}

    def close(self):
        for worker in (self.rust, self.py, self.lower):
            if worker:
                worker.close()


# ------------------------------------------------------------------------------- phases


def median(xs):
    return statistics.median(xs) if xs else None


def quartiles(xs):
    if len(xs) < 2:
        return (xs[0], xs[0]) if xs else (None, None)
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[2]


def soak():
    """1000 calls in a fresh worker (the timing worker's memory already holds the peaks of
    4K decodes, which would hide growth)."""
    info = next(i for i in INFOS if i.clip.name == SOAK_CLIP)
    spec = f"vframe/jpg/offset/{SOAK_OFFSET}/w/{info.out_w}/h/{info.out_h}"
    worker = Worker([str(VFRAME_WORKER)])
    try:
        secs, series = worker.ask("soak", info.path, spec, SOAK_CALLS, SOAK_EVERY)
    finally:
        worker.close()
    rss = [int(x) for x in series.split(",")]
    return {"file": SOAK_CLIP, "spec": spec, "calls": SOAK_CALLS, "seconds": float(secs), "rss_kb": rss,
            "every": SOAK_EVERY, "limit_kb": SOAK_LIMIT_KB, **soak_growth(rss)}


def soak_growth(rss):
    """Whether memory grows across the soak's readings (before the first call, then after
    every EVERY calls). RSS swings by several MB from one reading to the next (the decoder
    threads' malloc arenas are trimmed or kept, now and then holding a whole frame more), so
    the level is the median of each half of the readings after the first EVERY calls: a
    leak raises the second half's level above the first's; a passing swing does not. The
    spread of the readings is reported beside it."""
    after = rss[1:]
    half = len(after) // 2
    growth = int(statistics.median(after[half:]) - statistics.median(after[:half]))
    return {"growth_kb": growth, "swing_kb": max(after) - min(after), "flat": growth <= SOAK_LIMIT_KB}


SHORT_CALL_S = 0.1
MAX_ROUNDS = 5


def rounds_for(secs):
    """Rounds of every tool per repetition for a file whose vframe call took `secs`."""
    if not secs:
        return 1
    return max(1, min(MAX_ROUNDS, math.ceil(SHORT_CALL_S / secs)))


def rounds_note(results):
    """The files timed in several rounds a repetition, for the report."""
    several = [f"`{name}` {n}" for name, n in (results.get("rounds") or {}).items() if n > 1]
    return "here " + ", ".join(several) if several else "none here"


def async_load(reps):
    """ASYNC_JOBS jobs over ASYNC_CLIP through a vframe.Pool, per way of giving the input,
    each run in a fresh interpreter (its own peak RSS), the modes interleaved over `reps`
    rounds; medians of the wall time, highest peak."""
    path = CORPUS_DIR / ASYNC_CLIP.name
    env = {**os.environ, "PYTHONPATH": str(ROOT / "bindings/python/src"),
           "VFRAME_LIBRARY": str(ROOT / "target/release/libvframe.so")}
    runs = {mode: [] for mode in ASYNC_MODES}
    load_start = os.getloadavg()
    for rep in range(reps):
        for mode in ASYNC_MODES[rep % len(ASYNC_MODES):] + ASYNC_MODES[:rep % len(ASYNC_MODES)]:
            out = run([sys.executable, str(ASYNC_WORKER), str(path), ASYNC_SPEC, str(ASYNC_JOBS), mode],
                      env=env, capture_output=True, text=True).stdout
            runs[mode].append(json.loads(out))
            r = runs[mode][-1]
            pace = (f"stopped after {r['stopped_at']} jobs at the memory cap" if r.get("stopped_at")
                    else f"{r['jobs'] / r['seconds']:.0f} jobs/s")
            log(f"  {mode}: {pace}, peak RSS {r['peak_kb'] / 1024:.0f} MiB "
                f"({(r['peak_kb'] - r['base_kb']) / 1024:.0f} MiB above the start), {r['right']} right")
    rows = []
    for mode in ASYNC_MODES:
        rs = runs[mode]
        rows.append({"mode": mode, "seconds": median([r["seconds"] for r in rs]),
                     "peak_kb": max(r["peak_kb"] for r in rs), "base_kb": median([r["base_kb"] for r in rs]),
                     "growth_kb": max(r["peak_kb"] - r["base_kb"] for r in rs),
                     "right": min(r["right"] for r in rs), "wrong": max(r["wrong"] for r in rs),
                     "stopped_at": max((r.get("stopped_at") or 0) for r in rs) or None})
    return {"file": ASYNC_CLIP.name, "what": ASYNC_CLIP.what, "bytes": path.stat().st_size, "spec": ASYNC_SPEC,
            "jobs": ASYNC_JOBS, "reps": reps, "cores": os.cpu_count(), "rows": rows,
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "load_average": [load_start, os.getloadavg()]}


def phases(tools, reps):
    """Where vframe's time goes on the long-GOP file, from the public API: `decode_frame`
    (open, seek, decode forward, copy the planes out) vs `extract` (that plus colour
    conversion, scaling, JPEG), at the keyframe (offset 0: the fixed cost of a call) and at
    the target, with FFmpeg's thread choice and with one decoder thread."""
    info = next(i for i in INFOS if i.clip.name == PROFILE_CLIP)
    result = {"file": PROFILE_CLIP, "depth": info.depth, "offset": info.clip.offset}
    for threads in (0, 1):
        row = {}
        for point, offset in (("keyframe", "0"), ("target", info.clip.offset)):
            spec = f"vframe/jpg/offset/{offset}/w/{info.out_w}/h/{info.out_h}"
            offset_ms = int(Fraction(offset) * 1000)
            ex, de = [], []
            for _ in range(reps):
                ex.append(float(tools.rust.ask("extract", info.path, spec, "", threads)[0]))
                de.append(float(tools.rust.ask("decode", info.path, offset_ms, threads)[0]))
            row[point] = {"extract_ms": median(ex) * 1e3, "decode_frame_ms": median(de) * 1e3}
        result[f"threads{threads}"] = row
    return result


def perf_profile(calls=4):
    """`perf record` over a fresh vframe worker making `calls` extract calls on the
    long-GOP file: the share of samples per library, and the hottest symbols."""
    if not shutil.which("perf"):
        return {"error": "perf is not installed"}
    info = next(i for i in INFOS if i.clip.name == PROFILE_CLIP)
    data = WORK / "perf.data"
    requests = "".join(f"extract\t{info.path}\t{info.spec}\t\t0\n" for _ in range(calls)) + "quit\n"
    rec = subprocess.run(["perf", "record", "-q", "-F", "999", "-o", str(data), "--", str(VFRAME_WORKER)],
                         input=requests, capture_output=True, text=True)
    if rec.returncode != 0 or not data.exists():
        return {"error": f"perf record failed: {rec.stderr.strip()[-200:]}"}

    def report(sort):
        out = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children", "--sort", sort,
                              "--percent-limit", "0.2"], capture_output=True, text=True).stdout
        rows = []
        for line in out.splitlines():
            parts = line.split()
            if parts and parts[0].endswith("%") and not line.lstrip().startswith("#"):
                rows.append([float(parts[0].rstrip("%"))] + [" ".join(parts[1:])])
        return rows[:60]

    return {"file": PROFILE_CLIP, "calls": calls, "dso": report("dso"), "sym": report("dso,sym")}


BATCH_OFFSETS = 10
BATCH_CLIPS = [PROFILE_CLIP, "h264_720p_gop30.mp4", "mpeg2_576p.ts"]


def batch(tools, reps):
    """N thumbnails of one file: one `extract_many` call, one `Source` asked N times (its
    open included), and N `extract` calls (the worker checks all give the same images), at
    N offsets spread over the long-GOP file, the short-GOP 720p file and the MPEG-TS file
    (which is probed on open)."""
    rows = []
    for name in BATCH_CLIPS:
        info = next((i for i in INFOS if i.clip.name == name), None)
        if info is None:
            continue
        duration = float(info.clip.seconds)
        offsets = [round(duration * (k + 0.5) / (BATCH_OFFSETS + 1), 3) for k in range(BATCH_OFFSETS)]
        specs = ",".join(f"vframe/jpg/offset/{o}/w/{info.out_w}/h/{info.out_h}" for o in offsets)
        many, singles, handle = [], [], []
        for _ in range(reps):
            m, s, h = tools.rust.ask("many", info.path, specs)
            many.append(float(m))
            singles.append(float(s))
            handle.append(float(h))
        rows.append({"file": name, "offsets": offsets, "many_ms": median(many) * 1e3,
                     "singles_ms": median(singles) * 1e3, "handle_ms": median(handle) * 1e3,
                     "ratio": median(singles) / median(many), "handle_ratio": median(singles) / median(handle)})
    return rows


# Short-GOP files (a keyframe at least every 2 s) for the warm handle.
WARM_CLIPS = ["h264_720p_gop30.mp4", "h264_2160p_gop60.mp4", "hevc_1080p_opengop.mp4", "mpeg2_576p.ts",
              "rotated90_h264_720p.mp4"]
WARM_CASES = {
    "same-gop": "a moment earlier in the same GOP (the handle decodes on)",
    "other-gop": "a moment in the GOP before (the handle seeks, reusing demuxer and decoder)",
    "same": "the same moment again (the handle gives its last frame again)",
}


def warm_first_offset(info, case):
    """The first offset asked of the handle before the timed one (the file's deep offset)."""
    target = float(Fraction(info.clip.offset))
    keys = [k - info.video_start for k in info.keyframes if k - info.video_start <= target + 1e-9]
    if case == "same":
        return info.clip.offset
    if case == "same-gop":
        return f"{keys[-1] + (target - keys[-1]) / 4:.3f}"
    if len(keys) >= 2:
        return f"{(keys[-2] + keys[-1]) / 2:.3f}"
    later = [k - info.video_start for k in info.keyframes if k - info.video_start > target + 1e-9]
    return f"{later[0] + 0.2:.3f}" if later else "0"


def warm_handle(tools, reps):
    """A second extraction on an open `Source` against a fresh call for the same spec (the
    file's deep offset), after a first extraction at another moment (see WARM_CASES); the
    worker checks the images are the same. Cases interleaved, medians."""
    rows = []
    for name in WARM_CLIPS:
        info = next((i for i in INFOS if i.clip.name == name), None)
        if info is None:
            continue
        firsts = {case: f"vframe/jpg/offset/{warm_first_offset(info, case)}/w/{info.out_w}/h/{info.out_h}"
                  + ("/rotate/auto" if info.clip.rotate else "") for case in WARM_CASES}
        times = {case: ([], []) for case in WARM_CASES}
        for rep in range(reps):
            cases = list(WARM_CASES)
            for case in cases[rep % len(cases):] + cases[:rep % len(cases)]:
                fresh, warm = tools.rust.ask("warm", info.path, firsts[case], info.spec)
                times[case][0].append(float(fresh))
                times[case][1].append(float(warm))
        for case in WARM_CASES:
            fresh, warm = median(times[case][0]), median(times[case][1])
            rows.append({"file": name, "case": case, "first": firsts[case], "second": info.spec,
                         "fresh_ms": fresh * 1e3, "warm_ms": warm * 1e3, "ratio": fresh / warm})
        log(f"  {name}: " + ", ".join(f"{r['case']} {r['ratio']:.2f}x" for r in rows if r["file"] == name))
    return rows


def memory_fresh(have_pyav):
    """Peak memory of one thumbnail in a fresh process per tool and file: the vframe worker
    (Rust) and the PyAV worker, each started for that file alone, asked once; resident set
    before the call and the peak during it (VmHWM after reset; so the peak includes what the
    process held before: its libraries, and for PyAV the Python interpreter)."""
    rows = []
    for info in INFOS:
        if info.clip not in CORPUS:
            continue
        row = {"file": info.clip.name}
        for tool in ("vframe", "pyav"):
            if tool == "pyav" and not have_pyav:
                continue
            cmd = [str(VFRAME_WORKER)] if tool == "vframe" else [sys.executable, str(BENCH / "pyav_worker.py")]
            worker = Worker(cmd)
            try:
                base = int(worker.ask("rss")[0])
                if tool == "vframe":
                    peak = int(worker.ask("extract", info.path, info.spec, "", 0)[1])
                else:
                    peak = int(worker.ask("extract", info.path, info.clip.offset, info.out_w, info.out_h, "")[1])
            finally:
                worker.close()
            row[tool] = {"base_kb": base, "peak_kb": peak, "growth_kb": peak - base}
        rows.append(row)
    return rows


def run_timed(cmd, env=None):
    """Wall seconds, CPU seconds and minor page faults of one command (stdout and stderr
    discarded; a failure raises)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{cmd[0]} failed: {err.strip()[-300:]}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_minflt


def ffmpeg_cmd(info, out, seconds=None, width=None, height=None):
    """The ffmpeg CLI's single thumbnail (input seeking), as in the main table."""
    t = info.ffmpeg_seconds if seconds is None else seconds
    return ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-ss", f"{t:.6f}", "-i", str(info.path),
            "-frames:v", "1", "-vf", f"scale={width or info.out_w}:{height or info.out_h}", "-q:v", "3", str(out)]


def loader_statistics(cmd, env=None):
    """The dynamic loader's own account (LD_DEBUG=statistics) of a command's start: loader
    cycles, symbol relocations, relative relocations; and how many shared objects it maps."""
    env = {**(env or os.environ), "LD_DEBUG": "statistics"}
    err = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         env=env, text=True).stderr

    def number(label):
        for line in err.splitlines():
            if label in line:
                return int(line.rsplit(":", 1)[1].split()[0])
        return None

    # How far its symbol lookups walk: for each symbol bound, the place of the object defining
    # it in the order searched (the main program's scope).
    report = WORK / "scratch" / "loader-report"
    for old in report.parent.glob(report.name + ".*"):
        old.unlink()
    subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**env, "LD_DEBUG": "scopes,bindings", "LD_DEBUG_OUTPUT": str(report)})
    walk = None
    for text in (f.read_text(errors="replace") for f in sorted(report.parent.glob(report.name + ".*"))):
        scope = next((line.split("scope 0:", 1)[1].split() for line in text.splitlines() if "scope 0:" in line), None)
        if scope:
            place = {name: i for i, name in reversed(list(enumerate(scope)))}
            walk = sum(place.get(m.group(1), len(scope))
                       for m in re.finditer(r"binding file \S+ \[\d+\] to (\S+) \[", text))
            break
    # What ldd does: the loader lists the objects it would map (LD_PRELOAD included), runs nothing.
    env.pop("LD_DEBUG")
    out = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         env={**env, "LD_TRACE_LOADED_OBJECTS": "1"}).stdout
    libs = sum(1 for line in out.splitlines() if "=>" in line or line.strip().startswith("/"))
    return {"cycles": number("total startup time in dynamic loader"), "relocations": number("number of relocations:"),
            "relative": number("number of relative relocations"), "libraries": libs, "walk": walk}


def plain_link_program():
    """A C program that does nothing but link FFmpeg's four libraries as vframe does, in
    their order alone: the loader's work without the libraries build.rs names first. None
    without a C compiler."""
    exe = WORK / "scratch" / "plain-link"
    src = exe.with_suffix(".c")
    src.write_text("int main(void) { return 0; }\n")
    try:
        libs = subprocess.run(["pkg-config", "--libs", "libavutil", "libavformat", "libswscale", "libavcodec"],
                              capture_output=True, text=True)
        if libs.returncode != 0:
            return None
        made = subprocess.run(["cc", "-O2", "-o", str(exe), str(src), "-Wl,--no-as-needed", *libs.stdout.split()],
                              capture_output=True)
    except OSError:
        return None
    return exe if made.returncode == 0 else None


def startup_by_object(cmd, runs=20):
    """Where a command's start-up CPU goes, by the object each sample falls in: `perf record`
    over `runs` runs of `cmd` (its own process only). For `--version`, which calls none of
    FFmpeg, time inside FFmpeg's libraries and their dependencies is their constructors'.
    None without perf."""
    if not shutil.which("perf"):
        return None
    data = WORK / "perf-startup.data"
    loop = f'for i in $(seq {runs}); do "$@" >/dev/null 2>&1; done'
    rec = subprocess.run(["perf", "record", "-q", "-F", "20000", "-o", str(data), "--", "sh", "-c", loop, "sh", *cmd],
                         capture_output=True, text=True, check=False)
    if rec.returncode != 0 or not data.exists():
        return {"error": f"perf record failed: {rec.stderr.strip()[-200:]}"}
    out = subprocess.run(["perf", "script", "-i", str(data), "-F", "comm,ip,dso"], capture_output=True,
                         text=True, check=False).stdout
    comm = Path(cmd[0]).name[:15]
    counts = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == comm:
            dso = parts[-1].strip("()")
            counts[dso] = counts.get(dso, 0) + 1
    total = sum(counts.values())
    if not total:
        return {"error": "perf recorded no samples of the command"}
    groups = {"loader": 0, "kernel": 0, "libc": 0, "program": 0, "libraries": 0}
    libraries = {}
    for dso, n in counts.items():
        name = Path(dso).name
        if name.startswith("ld-linux"):
            groups["loader"] += n
        elif dso.startswith("["):
            groups["kernel"] += n
        elif name.startswith("libc.so"):
            groups["libc"] += n
        elif name == Path(cmd[0]).name:
            groups["program"] += n
        else:
            groups["libraries"] += n
            libraries[name] = libraries.get(name, 0) + n
    top = sorted(libraries.items(), key=lambda kv: -kv[1])[:3]
    return {"runs": runs, "samples": total, "share": {k: 100 * v / total for k, v in groups.items()},
            "top_libraries": [[name, 100 * n / total] for name, n in top]}


STARTUP_CLIP = "h264_720p_gop30.mp4"
STARTUP_SPEC = "vframe/jpg/offset/0/w/320/h/180"


def startup(tools, reps):
    """Where the CLI's start-up goes: an empty program's exec, `vframe --version` (the
    dynamic loading of FFmpeg's libraries and Rust's start), the same with libavfilter
    preloaded (as when it was linked), `ffmpeg -version`, and a whole cheap call (the frame
    at 0 of the 720p file, 320 wide) by the vframe and ffmpeg CLIs; in-process, the open and
    the extraction of that call. Then the open alone for every file (header-only open or
    probe)."""
    info = next(i for i in INFOS if i.clip.name == STARTUP_CLIP)
    out = WORK / "scratch" / "startup.jpg"
    out.parent.mkdir(parents=True, exist_ok=True)
    avfilter = f"libavfilter.so.{avfilter_major()}"
    preload = {**os.environ, "LD_PRELOAD": avfilter}
    plain = plain_link_program()
    rows = {
        "empty": (["/bin/true"], None),
        "vframe-version": ([str(VFRAME_CLI), "--version"], None),
        "vframe-version-avfilter": ([str(VFRAME_CLI), "--version"], preload),
        "plain-link": ([str(plain)], None),
        "ffmpeg-version": (["ffmpeg", "-hide_banner", "-version"], None),
        "vframe-call": ([str(VFRAME_CLI), str(info.path), STARTUP_SPEC, "-o", str(out)], None),
        "vframe-call-avfilter": ([str(VFRAME_CLI), str(info.path), STARTUP_SPEC, "-o", str(out)], preload),
        "ffmpeg-call": (ffmpeg_cmd(info, out, 0.0, 320, 180), None),
    }
    if plain is None:
        rows.pop("plain-link")
    runs = {k: [] for k in rows}
    inproc = []
    for rep in range(reps):
        keys = list(rows)
        for key in keys[rep % len(keys):] + keys[:rep % len(keys)]:
            cmd, env = rows[key]
            runs[key].append(run_timed(cmd, env))
        inproc.append(tuple(float(x) for x in tools.rust.ask("open", info.path, STARTUP_SPEC)))
    result = {"file": STARTUP_CLIP, "spec": STARTUP_SPEC, "reps": reps, "avfilter": avfilter, "rows": {}}
    for key, rs in runs.items():
        result["rows"][key] = {"wall_ms": median([r[0] for r in rs]) * 1e3, "cpu_ms": median([r[1] for r in rs]) * 1e3,
                               "faults": median([r[2] for r in rs])}
    result["open_ms"] = median([r[0] for r in inproc]) * 1e3
    result["extract_ms"] = median([r[1] for r in inproc]) * 1e3
    result["open_cpu_ms"] = median([r[2] for r in inproc]) * 1e3
    result["extract_cpu_ms"] = median([r[3] for r in inproc]) * 1e3
    result["loader"] = {"vframe": loader_statistics([str(VFRAME_CLI), "--version"]),
                        "vframe-avfilter": loader_statistics([str(VFRAME_CLI), "--version"], preload),
                        "plain-link": loader_statistics([str(plain)]) if plain else None,
                        "ffmpeg": loader_statistics(["ffmpeg", "-hide_banner", "-version"])}
    result["by_object"] = {"vframe": startup_by_object([str(VFRAME_CLI), "--version"]),
                           "ffmpeg": startup_by_object([shutil.which("ffmpeg") or "ffmpeg", "-hide_banner", "-version"])}
    opens = []
    for i in INFOS:
        if i.clip not in CORPUS:
            continue
        spec0 = f"vframe/jpg/offset/0/w/{i.out_w}/h/{i.out_h}"
        offset_ms = int(Fraction(i.clip.offset) * 1000)
        t, find, whole = [], [], []
        for _ in range(max(5, reps // 2)):
            t.append(tuple(float(x) for x in tools.rust.ask("open", i.path, spec0)))
            find.append(float(tools.rust.ask("decode", i.path, offset_ms, 0)[0]))
            whole.append(float(tools.rust.ask("extract", i.path, i.spec, "", 0)[0]))
        opens.append({"file": i.clip.name, "format": i.path.suffix.lstrip("."), "open_ms": median([x[0] for x in t]) * 1e3,
                      "extract_ms": median([x[1] for x in t]) * 1e3, "decode_frame_ms": median(find) * 1e3,
                      "target_extract_ms": median(whole) * 1e3})
    result["opens"] = opens
    return result


def many_frames(tools, reps):
    """A frame every SAMPLE_INTERVAL s over each long file, and a storyboard at the same
    interval: the vframe CLI against the ffmpeg CLI (`fps`, `fps` + `scale` + `tile`: a full
    decode of the span), and in-process `vframe::sample` / `vframe::storyboard` against one
    `vframe::extract` per frame (the worker checks the sample's images equal the single
    calls'). Interleaved, medians."""
    rows = []
    for clip in LONG_CLIPS:
        path = CORPUS_DIR / clip.name
        probe_info = probe(clip)
        duration = float(ffprobe_json("-show_entries", "format=duration", str(path))["format"]["duration"])
        moments = math.ceil(duration / SAMPLE_INTERVAL)
        rows_needed = math.ceil(moments / STORYBOARD_COLUMNS)
        out = WORK / "scratch" / "frames" / path.stem
        shutil.rmtree(out, ignore_errors=True)
        tile_h = max(2, round(STORYBOARD_TILE_W * probe_info.height / probe_info.width / 2) * 2)
        fps_vf = f"fps=1/{SAMPLE_INTERVAL},scale=640:-2"
        tile_vf = f"fps=1/{SAMPLE_INTERVAL},scale={STORYBOARD_TILE_W}:{tile_h},tile={STORYBOARD_COLUMNS}x{rows_needed}"
        commands = {
            "vframe-cli-sample": [str(VFRAME_CLI), str(path), SAMPLE_SPEC, "-o", str(out / "vframe-sample")],
            "ffmpeg-fps": ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(path), "-vf",
                           fps_vf, "-q:v", "3", str(out / "ffmpeg-sample" / "%06d.jpg")],
            "vframe-cli-storyboard": [str(VFRAME_CLI), str(path), STORYBOARD_SPEC, "-o", str(out / "vframe-board")],
            "ffmpeg-tile": ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(path), "-vf",
                            tile_vf, "-frames:v", "1", "-q:v", "3", str(out / "ffmpeg-board.jpg")],
        }
        dense = clip is LONG_CLIPS[0]
        dense_vf = f"fps=1/{DENSE_INTERVAL},scale=640:-2"
        if dense:
            commands["dense-cli"] = [str(VFRAME_CLI), str(path), DENSE_SPEC, "-o", str(out / "vframe-dense")]
            commands["dense-ffmpeg"] = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-t",
                                        str(DENSE_SECONDS), "-i", str(path), "-vf", dense_vf, "-q:v", "3",
                                        str(out / "ffmpeg-dense" / "%06d.jpg")]
        for d in ("vframe-sample", "ffmpeg-sample", "vframe-board", "vframe-dense", "ffmpeg-dense"):
            (out / d).mkdir(parents=True, exist_ok=True)
        times = {k: [] for k in [*commands, "sample", "sample-singles", "storyboard", "storyboard-singles", "dense",
                                 "dense-singles"]}
        counts = {}
        for rep in range(reps):
            keys = [*commands, "in-process-sample", "in-process-storyboard"] + (["in-process-dense"] if dense else [])
            for key in keys[rep % len(keys):] + keys[:rep % len(keys)]:
                if key in ("in-process-sample", "in-process-dense"):
                    name = key.removeprefix("in-process-")
                    sample_s, singles_s, n = tools.rust.ask("sample", path, SAMPLE_SPEC if name == "sample" else DENSE_SPEC)
                    times[name].append(float(sample_s))
                    times[f"{name}-singles"].append(float(singles_s))
                    counts[name] = int(n)
                elif key == "in-process-storyboard":
                    board_s, singles_s, tiles, sheets = tools.rust.ask("storyboard", path, STORYBOARD_SPEC)
                    times["storyboard"].append(float(board_s))
                    times["storyboard-singles"].append(float(singles_s))
                    counts["tiles"], counts["sheets"] = int(tiles), int(sheets)
                else:
                    times[key].append(run_timed(commands[key])[0])
        counts["vframe-cli-sample"] = len(list((out / "vframe-sample").glob("*.jpg")))
        counts["ffmpeg-fps"] = len(list((out / "ffmpeg-sample").glob("*.jpg")))
        counts["dense-cli"] = len(list((out / "vframe-dense").glob("*.jpg")))
        counts["dense-ffmpeg"] = len(list((out / "ffmpeg-dense").glob("*.jpg")))
        row = {"file": clip.name, "what": clip.what, "seconds": duration, "bytes": path.stat().st_size,
               "ms": {k: median(v) * 1e3 for k, v in times.items() if v}, "counts": counts,
               "ffmpeg_fps": fps_vf, "ffmpeg_tile": tile_vf, "dense": dense}
        ms = row["ms"]
        log(f"  {clip.name}: sample CLI {ms['vframe-cli-sample']:.0f} ms vs ffmpeg fps {ms['ffmpeg-fps']:.0f} ms; "
            f"in-process {ms['sample']:.0f} vs {counts['sample']} singles {ms['sample-singles']:.0f} ms; storyboard CLI "
            f"{ms['vframe-cli-storyboard']:.0f} vs ffmpeg tile {ms['ffmpeg-tile']:.0f} ms; in-process "
            f"{ms['storyboard']:.0f} vs singles {ms['storyboard-singles']:.0f} ms")
        rows.append(row)
    return {"interval": SAMPLE_INTERVAL, "sample_spec": SAMPLE_SPEC, "storyboard_spec": STORYBOARD_SPEC,
            "dense_spec": DENSE_SPEC, "reps": reps, "rows": rows}


def avfilter_major():
    """The major version of the libavfilter vframe was built against (from its FFmpeg's
    version: 5.1 -> 8, 6.x -> 9, 7.x -> 10, 8.x -> 11)."""
    out = subprocess.run(["pkg-config", "--modversion", "libavfilter"], capture_output=True, text=True).stdout.strip()
    return out.split(".")[0] if out else "8"


# N thumbnails of one file through the CLI's batch mode (several specs).
CLI_BATCH_CLIPS = ["h264_720p_gop30.mp4", PROFILE_CLIP]


def cli_batch(tools, reps):
    """The CLI's batch modes against the ffmpeg CLI, one process per thumbnail: (1) a jobs
    file with one thumbnail of every corpus file (each at its deep offset) against one
    ffmpeg call per file; (2) several specs of one file (BATCH_OFFSETS offsets) against one
    ffmpeg call per offset. Untimed first runs check the images: the jobs file's against
    single `vframe` CLI calls, byte for byte. Interleaved, medians of the totals. For the
    jobs file, with PyAV, also the floor of any tool on this machine: the lower bound of
    each file with one decoding thread (a tool working on one input per core needs no
    more), its medians packed onto the cores (longest first), no start-up counted."""
    scratch = WORK / "scratch" / "cli-batch"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    targets = [i for i in INFOS if i.clip in CORPUS]
    jobs_file = scratch / "jobs.txt"
    jobs_file.write_text("".join(f"{i.path}\t{i.spec}\t{scratch / 'jobs' / (i.path.stem + '.jpg')}\n" for i in targets))
    (scratch / "jobs").mkdir()
    cases = [{"name": "jobs", "label": f"`vframe --jobs FILE`: one thumbnail of each of the {len(targets)} files",
              "thumbs": len(targets), "vframe": [str(VFRAME_CLI), "--jobs", str(jobs_file)],
              "ffmpeg": [ffmpeg_cmd(i, scratch / "ff.jpg") for i in targets],
              "outputs": [scratch / "jobs" / (i.path.stem + ".jpg") for i in targets],
              "singles": [[str(VFRAME_CLI), str(i.path), i.spec, "-o", str(scratch / f"single-{k}.jpg")]
                          for k, i in enumerate(targets)]}]
    for name in CLI_BATCH_CLIPS:
        info = next((i for i in INFOS if i.clip.name == name), None)
        if info is None:
            continue
        duration = float(info.clip.seconds)
        offsets = [round(duration * (k + 0.5) / (BATCH_OFFSETS + 1), 3) for k in range(BATCH_OFFSETS)]
        specs = [f"vframe/jpg/offset/{o}/w/{info.out_w}/h/{info.out_h}" for o in offsets]
        cases.append({"name": name, "label": f"`vframe {name} SPEC x{len(specs)} -o DIR`: {len(specs)} offsets",
                      "thumbs": len(specs), "vframe": [str(VFRAME_CLI), str(info.path), *specs, "-o", str(scratch / name)],
                      "ffmpeg": [ffmpeg_cmd(info, scratch / "ff.jpg", o + info.video_start - info.file_start)
                                 for o in offsets],
                      "outputs": [scratch / name / f"{info.path.stem}-{k + 1:0{len(str(len(specs)))}d}.jpg"
                                  for k in range(len(specs))],
                      "singles": [[str(VFRAME_CLI), str(info.path), spec, "-o", str(scratch / f"single-{k}.jpg")]
                                  for k, spec in enumerate(specs)]})
    checks = {}
    for case in cases:
        run_timed(case["vframe"])
        same = 0
        for k, single in enumerate(case["singles"]):
            run_timed(single)
            same += case["outputs"][k].exists() and case["outputs"][k].read_bytes() == (
                scratch / f"single-{k}.jpg").read_bytes()
        checks[case["name"]] = same
    cores = os.cpu_count() or 1
    rows = []
    for case in cases:
        vf, ff = [], []
        # The floor of the jobs file: each file's bound with one decoding thread, per rep.
        floor = {i.clip.name: [] for i in targets} if case["name"] == "jobs" and tools.lower else None
        for rep in range(reps):
            order = ["vframe", "ffmpeg", "floor"]
            for tool in order[rep % 3:] + order[:rep % 3]:
                if tool == "vframe":
                    vf.append(run_timed(case["vframe"])[0])
                elif tool == "ffmpeg":
                    ff.append(sum(run_timed(cmd)[0] for cmd in case["ffmpeg"]))
                elif floor is not None:
                    for i in targets:
                        reply = tools.lower.ask("lower", i.path, i.clip.offset, i.out_w, i.out_h, "", 1)
                        floor[i.clip.name].append(float(reply[0]))
        row = {"case": case["name"], "label": case["label"], "thumbs": case["thumbs"],
               "vframe_ms": median(vf) * 1e3, "ffmpeg_ms": median(ff) * 1e3, "ratio": median(ff) / median(vf),
               "same_images": checks[case["name"]]}
        if floor is not None:
            row["floor_ms"] = packed_ms([median(times) * 1e3 for times in floor.values()], cores)
            row["floor_single_ms"] = sum(median(times) * 1e3 for times in floor.values())
            row["cores"] = cores
        rows.append(row)
        log(f"  {case['name']}: vframe {median(vf) * 1e3:.0f} ms, ffmpeg {median(ff) * 1e3:.0f} ms for "
            f"{case['thumbs']} thumbnails ({median(ff) / median(vf):.2f}x)"
            + (f"; floor {row['floor_ms']:.0f} ms on {cores} cores" if floor is not None else ""))
    return rows


def packed_ms(times, cores):
    """The time `times` (independent jobs) take on `cores` cores at best: longest first,
    each onto the least loaded core (the makespan; at least the total over the cores)."""
    load = [0.0] * max(1, cores)
    for t in sorted(times, reverse=True):
        load[load.index(min(load))] += t
    return max(load)



# ------------------------------------------------------------------------------- machine


def machine():
    def first_line(cmd):
        try:
            return run(cmd, capture_output=True, text=True).stdout.splitlines()[0].strip()
        except Exception:
            return "unknown"

    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(next(l.split()[1] for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")))
    os_name = "unknown"
    if Path("/etc/os-release").exists():
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    pyav = None
    try:
        import av

        pyav = f"PyAV {av.__version__} (its own FFmpeg {getattr(av, 'ffmpeg_version_info', '?')})"
    except ImportError:
        pass
    thumb = "not installed"
    if shutil.which("dpkg-query"):
        v = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "ffmpegthumbnailer"], capture_output=True, text=True)
        if v.returncode == 0:
            thumb = f"ffmpegthumbnailer {v.stdout.strip()} (Debian)"
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_kb / 2 ** 20, 1), "os": os_name,
            "kernel": platform.release(), "ffmpeg": first_line(["ffmpeg", "-version"]).split(" Copyright")[0],
            "pyav": pyav, "ffmpegthumbnailer": thumb, "python": platform.python_version(),
            "rustc": first_line(["rustc", "--version"]), "vframe_commit": commit,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


# ---------------------------------------------------------------------------------- main

INFOS = []
# Parts that `--only` runs alone (run.sh also knows `server`, the service section).
PARTS = ["handle", "memory", "startup", "cli-batch", "frames", "async"]


def run_part(part, results, tools, args):
    """One part's measurements, into `results` (with how long they took)."""
    started = time.perf_counter()
    measure_part(part, results, tools, args)
    results.setdefault("part_seconds", {})[part] = round(time.perf_counter() - started, 1)
    log(f"  {part}: {results['part_seconds'][part]:.0f} s")


def measure_part(part, results, tools, args):
    if part == "handle":
        log("handle: N offsets by extract_many, one Source and N extract calls")
        results["batch"] = batch(tools, max(3, args.reps // 2))
        log("handle: a second extraction on an open Source vs a fresh call (short-GOP files)")
        results["warm"] = warm_handle(tools, 5)
    elif part == "memory":
        log("memory: one thumbnail in a fresh process, vframe vs PyAV, every file")
        results["memory"] = memory_fresh(tools.py is not None)
    elif part == "startup":
        log("startup: where the CLI's start-up goes")
        results["startup"] = startup(tools, max(15, 2 * args.reps))
    elif part == "cli-batch":
        log("cli-batch: the CLI's batch modes vs one ffmpeg CLI call per thumbnail")
        results["cli_batch"] = cli_batch(tools, 3)
    elif part == "frames":
        log(f"frames: a frame every {SAMPLE_INTERVAL} s and a storyboard of the long files, vs ffmpeg and single calls")
        results["frames"] = many_frames(tools, 4)
    elif part == "async":
        log(f"asynchronous load: {ASYNC_JOBS} jobs over one file, per way of giving it")
        results["async_load"] = async_load(args.async_reps)


def run_parts(parts, args):
    """`--only PART,...`: those parts alone, then the report rewritten with them (the other
    sections from the last full run's results.json, when there is one)."""
    make_corpus([ASYNC_CLIP] if parts == ["async"] else None)
    INFOS.extend(probe(c) for c in CORPUS)
    try:
        import av  # noqa: F401
        have_pyav = True
    except ImportError:
        have_pyav = False
    tools = Tools(have_pyav) if parts != ["async"] else None
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    try:
        for part in parts:
            run_part(part, results, tools, args)
            m = machine()
            results.setdefault("parts_alone", {})[part] = {"date": m["date"], "vframe_commit": m["vframe_commit"],
                                                           "load_average": list(os.getloadavg())}
    finally:
        if tools:
            tools.close()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1, default=str))
    if results.get("files"):
        write_report(results)
    else:
        for part in parts:
            section = PART_SECTIONS[part](results)
            print("\n".join(section))
            splice_section(section)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=int(os.environ.get("BENCH_REPS", 7)),
                        help="timed repetitions (default 7, at least 7 for the report)")
    parser.add_argument("--only", help="comma-separated file names (for a quick look), or parts to run alone: "
                                         + ", ".join(PARTS) + " (the other sections come from the last full run's "
                                         "results.json)")
    parser.add_argument("--async-reps", type=int, default=3, help="runs per row of the asynchronous load (default 3)")
    parser.add_argument("--report-only", action="store_true", help="rewrite the report from results.json")
    parser.add_argument("--no-pyav-reason", default=os.environ.get("BENCH_NO_PYAV", ""),
                        help="why PyAV is missing (set by run.sh when the wheel cannot be installed)")
    args = parser.parse_args()

    if args.report_only:
        write_report(json.loads(RESULTS.read_text()))
        return

    started = time.perf_counter()
    load_start = os.getloadavg()
    only = set(args.only.split(",")) if args.only else set()
    if only and only <= set(PARTS) | {"server"}:
        run_parts([p for p in PARTS if p in only], args)
        return
    make_corpus()
    clips = [c for c in CORPUS if not args.only or c.name in args.only.split(",")]
    INFOS.extend(probe(c) for c in clips)
    if args.only and SOAK_CLIP not in args.only:
        INFOS.extend(probe(c) for c in CORPUS if c.name == SOAK_CLIP)

    have_pyav = True
    try:
        import av  # noqa: F401
        import PIL  # noqa: F401
    except ImportError as e:
        have_pyav = False
        args.no_pyav_reason = args.no_pyav_reason or f"PyAV/Pillow not importable: {e}"
    if not have_pyav:
        log(f"PyAV is not available, its rows are left out: {args.no_pyav_reason}")

    log("ground truth: ffmpeg -i F -ss T -frames:v 1 (output seeking), T and its neighbours")
    truths = {i.clip.name: ground_truth(i) for i in INFOS if i.clip in clips}

    tools = Tools(have_pyav)
    active = [t for t in TOOLS if tools.available(t)]
    results = {"machine": machine(), "reps": args.reps, "tools": active, "tool_labels": TOOL_LABEL,
               "no_pyav_reason": None if have_pyav else args.no_pyav_reason, "files": [], "batch": None}
    if not tools.have_thumbnailer:
        log("ffmpegthumbnailer is not installed, its rows are left out")

    runs = {(i.clip.name, t): {"times": [], "cpu": [], "peak_kb": 0, "extra": [], "error": None}
            for i in INFOS for t in active}
    targets = [i for i in INFOS if i.clip in clips]
    log(f"warm-up and frame check: {len(targets)} files x {len(active)} tools")
    checks = {}
    warm_secs = {}
    for info in targets:
        for tool in active:
            out = OUT_DIR / tool / (Path(info.clip.name).stem + ".jpg")
            out.parent.mkdir(parents=True, exist_ok=True)
            out.unlink(missing_ok=True)
            try:
                secs, _, peak, _ = tools.call(tool, info, out)
                warm_secs[(info.clip.name, tool)] = secs
                runs[(info.clip.name, tool)]["peak_kb"] = peak
                checks[(info.clip.name, tool)] = check_frame(out, info, truths[info.clip.name])
            except Exception as e:
                runs[(info.clip.name, tool)]["error"] = str(e)[:300]
                checks[(info.clip.name, tool)] = {"right": False, "why": f"failed: {str(e)[:200]}"}
                log(f"  {info.clip.name} / {tool}: FAILED: {e}")

    # A call of a few tens of ms is at the mercy of the machine's other load: such files get
    # several rounds of every tool in each repetition, so that each median rests on at least
    # SHORT_CALL_S of that tool's calls per repetition.
    rounds = {info.clip.name: rounds_for(warm_secs.get((info.clip.name, "vframe"))) for info in targets}
    results["rounds"] = rounds
    log(f"timing: {args.reps} repetitions, round-robin over tools; rounds a repetition: {rounds}")
    for rep in range(args.reps):
        t0 = time.perf_counter()
        order = active[rep % len(active):] + active[:rep % len(active)]
        for info in targets:
            for tool in order * rounds[info.clip.name]:
                r = runs[(info.clip.name, tool)]
                if r["error"]:
                    continue
                secs, cpu, peak, extra = tools.call(tool, info, None)
                r["times"].append(secs)
                r["cpu"].append(cpu)
                r["peak_kb"] = max(r["peak_kb"], peak)
                if extra:
                    r["extra"].append(extra)
        log(f"  repetition {rep + 1}/{args.reps}: {time.perf_counter() - t0:.1f} s")

    log(f"soak: {SOAK_CALLS} in-process calls")
    results["soak"] = soak()
    log(f"  RSS {results['soak']['rss_kb'][1]} kB after {SOAK_EVERY} calls, {results['soak']['rss_kb'][-1]} kB after "
        f"{SOAK_CALLS}: {'flat' if results['soak']['flat'] else 'GROWS'} ({results['soak']['growth_kb']} kB)")
    log("phases: decode_frame vs extract on the long-GOP file")
    results["phases"] = phases(tools, max(5, args.reps // 2)) if any(i.clip.name == PROFILE_CLIP for i in targets) else None
    results["worker_rss_kb"] = {"vframe": int(tools.rust.ask("rss")[0]),
                                "pyav": int(tools.py.ask("rss")[0]) if tools.py else None}
    if not args.only:  # a quick look at some files leaves the parts out
        for part in PARTS:
            run_part(part, results, tools, args)
    log("profile: perf over the vframe worker on the long-GOP file")
    results["perf"] = perf_profile() if any(i.clip.name == PROFILE_CLIP for i in targets) else None
    tools.close()

    for info in targets:
        entry = {"name": info.clip.name, "what": info.clip.what, "codec": info.codec,
                 "coded": f"{info.width}x{info.height}", "sar": str(info.sar), "rotation": info.rotation,
                 "fps": str(info.fps), "offset": info.clip.offset, "ffmpeg_ss": round(info.ffmpeg_seconds, 6),
                 "depth_frames": info.depth, "thumb": f"{info.out_w}x{info.out_h}", "spec": info.spec,
                 "bytes": info.path.stat().st_size, "tools": {}}
        for tool in active:
            r = runs[(info.clip.name, tool)]
            q1, q3 = quartiles(r["times"])
            tool_entry = {"median_ms": median(r["times"]) * 1e3 if r["times"] else None,
                          "q1_ms": q1 * 1e3 if q1 is not None else None, "q3_ms": q3 * 1e3 if q3 is not None else None,
                          "times_ms": [round(t * 1e3, 3) for t in r["times"]], "peak_rss_kb": r["peak_kb"] or None,
                          "cpu_ms": median(r["cpu"]) * 1e3 if r["cpu"] else None,
                          "check": checks.get((info.clip.name, tool)), "error": r["error"]}
            if r["extra"]:
                tool_entry["decode_ms"] = median([x["decode_s"] for x in r["extra"]]) * 1e3
                tool_entry["present_ms"] = median([x["present_s"] for x in r["extra"]]) * 1e3
                tool_entry["decoded_frames"] = r["extra"][0]["decoded"]
                tool_entry["open_ms"] = median([x["open_s"] for x in r["extra"]]) * 1e3
            entry["tools"][tool] = tool_entry
        results["files"].append(entry)
    results["load_average"] = {"start": load_start, "end": os.getloadavg()}
    results["wall_s"] = time.perf_counter() - started
    RESULTS.write_text(json.dumps(results, indent=1, default=str))
    log(f"results: {RESULTS.relative_to(ROOT)} ({results['wall_s']:.0f} s)")
    write_report(results)


# -------------------------------------------------------------------------------- report


def geomean(xs):
    xs = [x for x in xs if x]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def fmt_ms(ms):
    if ms is None:
        return "—"
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}" if ms >= 10 else f"{ms:.2f}"


def write_report(results):
    tools = results["tools"]
    files = results["files"]
    m = results["machine"]
    lines = []
    w = lines.append
    w("# Benchmarks: vframe and the tools people use instead")
    w("")
    w("Generated by `make bench` (`bench/bench.py`); do not edit by hand — run it again. "
      f"Last run: {m['date']}, vframe {m['vframe_commit']}, {results['reps']} timed repetitions."
      + "".join(f" The section `{part}` was run again alone on {p['date']}, vframe {p['vframe_commit']} "
                f"(load average at its end {p['load_average'][0]:.1f})."
                for part, p in (results.get("parts_alone") or {}).items()))
    w("")
    w("Each tool is asked for the same thing: the frame at a moment deep inside a GOP, as a "
      f"{THUMB_WIDTH}-pixel-wide JPEG (height from the display aspect ratio, after SAR and rotation).")
    w("")
    w("## Machine")
    w("")
    w(f"- CPU: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; {m['os']}, Linux {m['kernel']}")
    w(f"- FFmpeg (vframe, ffmpeg CLI, ffmpegthumbnailer): {m['ffmpeg']}")
    w(f"- {m['pyav'] or 'PyAV: not installed — ' + str(results.get('no_pyav_reason'))}; Python {m['python']}")
    w(f"- {m['ffmpegthumbnailer']}; {m['rustc']}")
    la = results.get("load_average")
    if la:
        w(f"- Load average (1/5/15 min) at start {la['start'][0]:.2f}/{la['start'][1]:.2f}/{la['start'][2]:.2f}, "
          f"at end {la['end'][0]:.2f}/{la['end'][1]:.2f}/{la['end'][2]:.2f}: the machine is shared, so "
          "small differences (under ~10 %) are noise.")
    w("")
    w("## Summary")
    w("")
    w("Geometric mean over the files of each tool's median wall time, of its ratio to vframe in-process "
      "(ratio > 1: slower than vframe), and of its median CPU time (all threads; what a busy server pays per "
      "thumbnail, and less disturbed than wall time by other load on the machine). \"Right frame\" counts files "
      "where the image matches the ground truth; a wrong frame is often a cheap one (a keyframe, or a seek that "
      "landed late), so the ratio is also given over the files where the tool was right.")
    w("")
    w("| tool | geo-mean ms | geo-mean ratio to vframe | same, right frames only | geo-mean CPU ms | right frame | "
      "max peak RSS |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    summary = {}
    for tool in tools:
        ms = [f["tools"][tool]["median_ms"] for f in files if f["tools"][tool]["median_ms"]]
        ratios = [f["tools"][tool]["median_ms"] / f["tools"]["vframe"]["median_ms"] for f in files
                  if f["tools"][tool]["median_ms"] and f["tools"]["vframe"]["median_ms"]]
        right = sum(1 for f in files if (f["tools"][tool]["check"] or {}).get("right"))
        right_ratios = [f["tools"][tool]["median_ms"] / f["tools"]["vframe"]["median_ms"] for f in files
                        if f["tools"][tool]["median_ms"] and f["tools"]["vframe"]["median_ms"]
                        and (f["tools"][tool]["check"] or {}).get("right")]
        right_ratio = f"{geomean(right_ratios):.2f}" if right_ratios else "—"
        peak = max((f["tools"][tool]["peak_rss_kb"] or 0) for f in files)
        cpu = geomean([f["tools"][tool].get("cpu_ms") for f in files])
        summary[tool] = (geomean(ms), geomean(ratios))
        w(f"| {TOOL_LABEL.get(tool, tool)} | {fmt_ms(geomean(ms))} | {geomean(ratios) or 0:.2f} | {right_ratio} | "
          f"{fmt_ms(cpu)} | "
          f"{right}/{len(files)} | {peak / 1024:.0f} MiB |")
    w("")
    if results.get("no_pyav_reason"):
        w(f"PyAV could not be used on this machine: {results['no_pyav_reason']}.")
        w("")
    lines.extend(targets_report(results))
    w("## Per file")
    w("")
    w("Median wall ms over the repetitions (inter-quartile range in brackets), ratio to vframe in-process, "
      "median CPU ms (user + system, all threads), "
      "whether the image is the right frame (PSNR in dB against the true frame; a wrong frame names why), "
      "and the peak resident memory of the process doing the work.")
    for f in files:
        w("")
        w(f"### `{f['name']}` — {f['what']}")
        w("")
        w(f"{f['codec']}, coded {f['coded']}, SAR {f['sar']}, rotation {f['rotation']}°, {f['fps']} fps, "
          f"{f['bytes'] / 1e6:.1f} MB. Offset {f['offset']} s, **{f['depth_frames']} frames after the keyframe "
          f"before it**; thumbnail {f['thumb']}; vframe spec `{f['spec']}`.")
        w("")
        w("| tool | median ms | ratio | CPU ms | right frame? | peak RSS |")
        w("|---|---:|---:|---:|---|---:|")
        base = f["tools"]["vframe"]["median_ms"]
        for tool in tools:
            t = f["tools"][tool]
            c = t["check"] or {}
            if t["error"]:
                w(f"| {tool} | failed | | {t['error'][:120]} | |")
                continue
            verdict = ("yes" if c.get("right") else "**no**") + (f" ({c['psnr']:.1f} dB" if c.get("psnr") else "")
            if c.get("psnr") and not c.get("right"):
                verdict += f"; neighbours {c.get('psnr_prev') or 0:.1f}/{c.get('psnr_next') or 0:.1f} dB"
            verdict += ")" if c.get("psnr") else ""
            if c.get("why"):
                verdict += f" — {c['why']}"
            ratio = f"{t['median_ms'] / base:.2f}" if base and t["median_ms"] else "—"
            spread = f" [{fmt_ms(t['q1_ms'])}–{fmt_ms(t['q3_ms'])}]" if t["q1_ms"] is not None else ""
            extra = ""
            if "decode_ms" in t:
                extra = (f" (open {fmt_ms(t.get('open_ms'))}; decode {fmt_ms(t['decode_ms'])}, {t['decoded_frames']} "
                         f"frames; scale+JPEG {fmt_ms(t['present_ms'])})")
            w(f"| {tool} | {fmt_ms(t['median_ms'])}{spread}{extra} | {ratio} | {fmt_ms(t.get('cpu_ms'))} | {verdict} | "
              f"{(t['peak_rss_kb'] or 0) / 1024:.0f} MiB |")
    w("")
    w("## Memory across 1000 calls")
    w("")
    s = results.get("soak")
    if s:
        s = {**s, **soak_growth(s["rss_kb"])}
        w(f"{s['calls']} `vframe::extract` calls in one process on `{s['file']}` (`{s['spec']}`), "
          f"{s['seconds'] / s['calls'] * 1e3:.1f} ms per call. Resident memory (kB) before the first call and after "
          f"every {s['every']}: {', '.join(map(str, s['rss_kb']))}. Median of the second half's readings minus "
          f"the first half's: **{s['growth_kb']} kB** ({'flat' if s['flat'] else 'GROWS'}: the limit is "
          f"{s['limit_kb']} kB). The readings swing by up to {s['swing_kb']} kB as the decoder threads' malloc arenas "
          "are trimmed or kept (a passing swing is not growth: a leak raises the level and keeps it).")
    w("")
    p = results.get("phases")
    if p:
        w("## Where vframe's time goes (long GOP, 1080p)")
        w("")
        w(f"`{p['file']}`, offset {p['offset']} s, {p['depth']} frames after its keyframe. From the public API: "
          "`decode_frame` opens, seeks, decodes forward and copies the frame's planes out; `extract` adds colour "
          "conversion, scaling and the JPEG encode. At offset 0 the call decodes one frame: its time is the fixed "
          "cost of a call.")
        w("")
        w("| decoder threads | extract at 0 | decode_frame at 0 | extract at target | decode_frame at target | "
          "per decoded frame |")
        w("|---|---:|---:|---:|---:|---:|")
        for threads, label in ((0, "FFmpeg's choice (default)"), (1, "1")):
            ph = p[f"threads{threads}"]
            k, t = ph["keyframe"], ph["target"]
            per_frame = (t["decode_frame_ms"] - k["decode_frame_ms"]) / max(1, p["depth"])
            w(f"| {label} | {k['extract_ms']:.1f} ms | {k['decode_frame_ms']:.1f} ms | {t['extract_ms']:.0f} ms | "
              f"{t['decode_frame_ms']:.0f} ms | {per_frame:.2f} ms |")
        lb = next((f["tools"].get("lower-bound") for f in files if f["name"] == p["file"]), None)
        if lb and lb.get("decode_ms"):
            w("")
            w(f"The lower bound on the same file gets {lb['decoded_frames']} frames out of the decoder "
              f"(non-reference frames before the target are not decoded) in {lb['decode_ms']:.0f} ms and scales + "
              f"encodes in {lb['present_ms']:.1f} ms.")
        w("")
    pf = results.get("perf")
    if pf and not pf.get("error"):
        w(f"`perf record` over the in-process worker, {pf['calls']} calls on `{pf['file']}` — share of CPU samples "
          "per library (Debian's FFmpeg libraries carry no symbols, so time inside them is per library only):")
        w("")
        w("| share | library |")
        w("|---:|---|")
        for pct, name in pf["dso"][:8]:
            w(f"| {pct:.1f} % | `{name}` |")
        w("")
        named = [(pct, name) for pct, name in pf["sym"] if "[.] 0x" not in name and "[k] 0x" not in name]
        if named:
            w("Hottest named symbols outside libavcodec's unnamed internals:")
            w("")
            w("| share | library, symbol |")
            w("|---:|---|")
            for pct, name in named[:10]:
                w(f"| {pct:.1f} % | `{name}` |")
            w("")
    elif pf:
        w(f"(No perf profile: {pf['error']}.)")
        w("")
    for part in PARTS:
        if part != "async" and PART_PRESENT[part](results):
            lines.extend(PART_SECTIONS[part](results))
    if results.get("async_load"):
        lines.extend(async_report(results["async_load"]))
    w("## How it was measured")
    w("")
    w(f"""- **Corpus**: made by `bench/bench.py` with the ffmpeg CLI from `testsrc2` (every frame differs, so a
  wrong frame shows), cached in `bench/work/corpus/`. Offsets sit deep inside a GOP (see each file's depth).
- **Interleaved**: one untimed warm-up call per tool and file, then {results['reps']} repetitions; in each, every
  file, and for each file every tool once, in an order that rotates by one tool per repetition. Medians per
  (file, tool). Files are in the page cache for every tool. Where vframe's warm-up call took under
  {SHORT_CALL_S * 1000:.0f} ms, a repetition goes round the tools several times (up to {MAX_ROUNDS}, enough for
  {SHORT_CALL_S * 1000:.0f} ms of vframe calls; {rounds_note(results)}), so that a short call's median rests on more
  than {results['reps']} samples.
- **vframe in-process**: `bench/src/main.rs`, a long-lived process calling `vframe::extract(Input::Path, spec,
  Options::default())`; the time is taken around the call (spec parsing included; no disk write).
- **vframe CLI**: `target/release/vframe FILE SPEC -o out.jpg`, wall time including process start.
- **ffmpeg CLI**: `ffmpeg -ss T -i FILE -frames:v 1 -vf scale=W:H -q:v 3 out.jpg` (input seeking; T on the
  file's timeline), wall time including process start.
- **PyAV**: `bench/pyav_worker.py`, a long-lived process: open, seek to the keyframe before T, decode forward
  (frame threads on) to the first frame at or after T, rotate per the frame's rotation, `to_image(W, H)`, Pillow
  JPEG quality {JPEG_QUALITY}. PyAV wheels bring their own FFmpeg build (see Machine), not Debian's.
- **ffmpegthumbnailer**: `ffmpegthumbnailer -i FILE -o out.jpg -s LONGEST_SIDE -q 8 -t hh:mm:ss`. It takes whole
  seconds only and seeks to a keyframe without decoding forward, so it returns **a different frame** by design.
- **Lower bound**: in the PyAV worker, paying its own open as vframe does (PyAV's `av.open`, which probes the
  streams, and the decoder's open; the open is shown apart): seek to the keyframe before T, decode forward with
  frame threads, setting `skip_frame=NONREF` on every packet before T so non-reference frames the answer cannot
  need are not decoded, then one scale and one JPEG encode. No tool can do much less work than this with these
  decoders; it uses PyAV's FFmpeg, so it is a bound for that build.
- **Other sections**: each says what it runs; every comparison in them runs side by side, interleaved, in the
  same run; `bench/run.sh --only PART,...` runs parts alone ({", ".join(PARTS)}, and `server`).
- **Right frame**: each tool's image, decoded to RGB (resized to the thumbnail size if the tool chose another
  size), against the ground truth `ffmpeg -i FILE -ss T -frames:v 1` (output seeking) scaled the same way, and
  against the frames just before and after T. Right = PSNR ≥ {RIGHT_FRAME_MIN_PSNR:.0f} dB and more than
  {RIGHT_FRAME_MARGIN:.0f} dB closer to the true frame than to either neighbour.
- **Peak RSS**: command-line tools: GNU `time -f %M` around the untimed warm-up call (the child's own
  `ru_maxrss` seen from Python would include the Python parent's, inherited through fork). In-process tools: the worker's peak
  resident set during the call (`VmHWM`, reset through `/proc/self/clear_refs` before each call), so it includes
  the worker's baseline (after the run: vframe worker {fmt_kb(results.get('worker_rss_kb', {}).get('vframe'))},
  PyAV worker {fmt_kb(results.get('worker_rss_kb', {}).get('pyav'))} including the Python interpreter).
- **CPU time**: user + system time of all the process's threads during the call: `getrusage(RUSAGE_SELF)`
  before and after in the in-process workers, the child's `wait4` usage for command-line tools.
- Ratios are tool median / vframe in-process median for the same file; the summary takes geometric means.
""")
    REPORT.write_text("\n".join(lines))
    log(f"report: {REPORT.relative_to(ROOT)}")
    try:
        chart(results, summary)
    except ImportError as e:
        log(f"no chart (matplotlib missing: {e})")


def ratio_text(x, digits=2):
    return f"{x:.{digits}f}×" if x else "—"


def met(ok):
    return "**met**" if ok else "**not met**"


def targets_report(results):
    """The issues' targets, each with the numbers of this run and whether it is met."""
    lines = ["## Issue targets (issues 10 and 11)", ""]
    w = lines.append
    w("Each target as the issue states it, measured side by side in this run (ratios of medians; see the sections "
      "below for every number).")
    w("")
    w("| target | measured | verdict |")
    w("|---|---|---|")
    files = results.get("files") or []
    lb = [(f["name"], f["tools"]["vframe"]["median_ms"] / f["tools"]["lower-bound"]["median_ms"],
           f["tools"]["vframe"]["median_ms"] / max(1e-9, f["tools"]["lower-bound"]["median_ms"]
                                                   - (f["tools"]["lower-bound"].get("open_ms") or 0)))
          for f in files if f["tools"].get("lower-bound", {}).get("median_ms") and f["tools"]["vframe"]["median_ms"]]
    if lb:
        g = geomean([r for _, r, _ in lb])
        worst = max(lb, key=lambda x: x[1])
        g0 = geomean([r0 for _, _, r0 in lb])
        w(f"| In-process single call ≤ 1.05× the lower bound (geometric mean), the bound paying its own open | "
          f"{g:.2f}× (against the bound without its open: {g0:.2f}×) | {met(g <= 1.05)} |")
        w(f"| ... and no file above 1.15× | worst `{worst[0]}` {worst[1]:.2f}× | {met(worst[1] <= 1.15)} |")
    warm = results.get("warm") or []
    for case, label in WARM_CASES.items():
        rows = [r for r in warm if r["case"] == case]
        if rows:
            low = min(rows, key=lambda r: r["ratio"])
            ratios = ", ".join(f"{r['ratio']:.2f}×" for r in rows)
            w(f"| Warm handle: a second extraction ≥ 2× faster than a fresh call (short-GOP files), first at {label} | "
              f"{ratios} (lowest `{low['file']}`) | {met(low['ratio'] >= 2)} |")
    batch_rows = results.get("batch") or []
    if batch_rows and all("handle_ratio" in r for r in batch_rows):
        w(f"| k offsets through one handle cost less than k fresh calls ({BATCH_OFFSETS} offsets) | "
          + ", ".join(f"`{r['file']}` {r['handle_ratio']:.2f}×" for r in batch_rows)
          + f" (k calls / handle) | {met(all(r['handle_ratio'] > 1 for r in batch_rows))} |")
    cli = [(f["name"], f["tools"]["ffmpeg-cli"]["median_ms"] / f["tools"]["vframe-cli"]["median_ms"]) for f in files
           if f["tools"].get("ffmpeg-cli", {}).get("median_ms") and f["tools"].get("vframe-cli", {}).get("median_ms")]
    if cli:
        g = geomean([r for _, r in cli])
        low = min(cli, key=lambda x: x[1])
        w(f"| CLI ≥ 1.5× faster than the ffmpeg CLI per thumbnail, single calls | {g:.2f}× geometric mean "
          f"(lowest `{low[0]}` {low[1]:.2f}×) | {met(g >= 1.5)} |")
    for r in results.get("cli_batch") or []:
        ceiling = (f" (no tool can reach more than {r['ffmpeg_ms'] / r['floor_ms']:.2f}× on {r['cores']} cores: the "
                   f"lower bound's decoding alone, packed onto the cores)") if r.get("floor_ms") else ""
        w(f"| CLI batch mode ≥ 3× faster than the ffmpeg CLI: {r['label']} | {r['ratio']:.2f}×{ceiling} | "
          f"{met(r['ratio'] >= 3)} |")
    mem = [r for r in results.get("memory") or [] if "pyav" in r]
    if mem:
        below = sum(r["vframe"]["peak_kb"] <= r["pyav"]["peak_kb"] for r in mem)
        below_growth = sum(r["vframe"]["growth_kb"] <= r["pyav"]["growth_kb"] for r in mem)
        w(f"| Peak memory ≤ PyAV's on every file (a fresh process each) | process peak lower on {below}/{len(mem)} "
          f"files; growth during the call lower on {below_growth}/{len(mem)} | "
          f"{met(below == len(mem))} (peak), {met(below_growth == len(mem))} (growth) |")
    fr = results.get("frames")
    if fr:
        for r in fr["rows"]:
            ms = r["ms"]
            a, b = ms["sample-singles"] / ms["sample"], ms["ffmpeg-fps"] / ms["vframe-cli-sample"]
            w(f"| Sampling 1 frame / {fr['interval']} s below N single calls and below `ffmpeg -vf fps` "
              f"(`{r['file']}`) | singles {a:.2f}× the sample; ffmpeg {b:.2f}× the vframe CLI | {met(a > 1 and b > 1)} |")
            if "dense" in ms:
                a, b = ms["dense-singles"] / ms["dense"], ms["dense-ffmpeg"] / ms["dense-cli"]
                w(f"| ... 1 frame / {DENSE_INTERVAL} s over {DENSE_SECONDS} s (moments closer than a GOP, `{r['file']}`) | "
                  f"singles {a:.2f}× the sample; ffmpeg {b:.2f}× the vframe CLI | {met(a > 1 and b > 1)} |")
            a, b = ms["storyboard-singles"] / ms["storyboard"], ms["ffmpeg-tile"] / ms["vframe-cli-storyboard"]
            w(f"| Storyboard below N single calls and below ffmpeg `fps`+`scale`+`tile` (`{r['file']}`) | "
              f"singles {a:.2f}× the storyboard; ffmpeg {b:.2f}× the vframe CLI | {met(a > 1 and b > 1)} |")
    w("")
    return lines


def handle_report(results):
    lines = []
    w = lines.append
    if results.get("batch"):
        w("## N thumbnails of one file: batch call, one handle, N calls")
        w("")
        w(f"For {BATCH_OFFSETS} offsets spread over the file: one `vframe::extract_many` call (C: `vframe_extract_many`), "
          f"one `vframe::Source` opened and asked for each spec in turn (open included; C: `vframe_source_*`), and "
          f"{BATCH_OFFSETS} `vframe::extract` calls; same images from all three (checked); medians.")
        w("")
        w("| file | extract_many ms | Source ms | N × extract ms | N calls / batch | N calls / Source |")
        w("|---|---:|---:|---:|---:|---:|")
        for row in results["batch"]:
            handle_ms = row.get("handle_ms")
            w(f"| `{row['file']}` | {row['many_ms']:.0f} | {fmt_ms(handle_ms)} | {row['singles_ms']:.0f} | "
              f"{row['ratio']:.2f}× | {ratio_text(row.get('handle_ratio'))} |")
        w("")
    warm = results.get("warm")
    if warm:
        w("## Warm handle: a second extraction on an open source")
        w("")
        w("On the short-GOP files, the file's deep offset (as in the per-file tables) asked of a `Source` that has "
          "already given one frame, against a fresh `vframe::extract` call for the same spec (same image, checked). "
          "The first frame asked of the source is:")
        w("")
        for case, label in WARM_CASES.items():
            w(f"- **{case}**: {label};")
        w("")
        w("| file | first frame | fresh call ms | on the open source ms | fresh / warm |")
        w("|---|---|---:|---:|---:|")
        for r in warm:
            first = r["first"].split("/offset/")[1].split("/")[0]
            w(f"| `{r['file']}` | {r['case']} (offset {first}) | {fmt_ms(r['fresh_ms'])} | {fmt_ms(r['warm_ms'])} | "
              f"{r['ratio']:.2f}× |")
        w("")
    return lines


def memory_report(results):
    rows = results.get("memory")
    if not rows:
        return []
    lines = ["## Peak memory of one thumbnail, a fresh process per tool and file", ""]
    w = lines.append
    w("The vframe worker (Rust, `vframe::extract`) and the PyAV worker (Python, the same steps as in the per-file "
      "tables), each started for one file and asked for its thumbnail once. \"Before\" is the resident set of the "
      "started process (its libraries; for PyAV the interpreter too), \"peak\" its high-water mark during the call "
      "(`VmHWM`), \"growth\" the difference: what the call itself needed.")
    w("")
    w("| file | vframe before | vframe peak | vframe growth | PyAV before | PyAV peak | PyAV growth | vframe ≤ PyAV |")
    w("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        v, p = r["vframe"], r.get("pyav")
        if not p:
            w(f"| `{r['file']}` | {fmt_kb(v['base_kb'])} | {fmt_kb(v['peak_kb'])} | {fmt_kb(v['growth_kb'])} | — | — | — | — |")
            continue
        verdict = ("peak and growth" if v["peak_kb"] <= p["peak_kb"] and v["growth_kb"] <= p["growth_kb"] else
                   "peak only" if v["peak_kb"] <= p["peak_kb"] else
                   "growth only" if v["growth_kb"] <= p["growth_kb"] else "**no**")
        w(f"| `{r['file']}` | {fmt_kb(v['base_kb'])} | {fmt_kb(v['peak_kb'])} | {v['growth_kb'] / 1024:.1f} MiB | "
          f"{fmt_kb(p['base_kb'])} | {fmt_kb(p['peak_kb'])} | {p['growth_kb'] / 1024:.1f} MiB | {verdict} |")
    w("")
    return lines


def startup_report(results):
    st = results.get("startup")
    if not st:
        return []
    lines = ["## Where the CLI's start-up goes", ""]
    w = lines.append
    rows, ld = st["rows"], st["loader"]
    w(f"Median of {st['reps']} interleaved runs of each command (wall ms; CPU ms of the process, all threads; minor "
      "page faults). The whole call is the cheapest real one: the frame at 0 of "
      f"`{st['file']}` as a 320x180 JPEG (`{st['spec']}`). `LD_PRELOAD={st['avfilter']}` puts libavfilter back "
      "at start, as when vframe linked it (it is now loaded only when an HDR picture is tone-mapped). The "
      "vframe binary names the libraries that define the most symbols (below FFmpeg's direct dependencies) "
      "right after FFmpeg's own (build.rs, `startup_link_order`), so the loader meets them early; the plain C program links FFmpeg's four libraries "
      "alone, the order without that. *Lookup walk*: for every symbol bound, the place of the object defining it "
      "in the order the loader searches, summed (`LD_DEBUG=scopes,bindings`).")
    w("")
    w("| command | wall ms | CPU ms | page faults | shared objects | symbol relocations | lookup walk | loader cycles |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|")
    labels = [("empty", "`/bin/true` (process start)", None),
              ("vframe-version", "`vframe --version`", "vframe"),
              ("vframe-version-avfilter", "`vframe --version`, libavfilter preloaded", "vframe-avfilter"),
              ("plain-link", "`int main(void) { return 0; }` linked with FFmpeg's four libraries alone", "plain-link"),
              ("ffmpeg-version", "`ffmpeg -version`", "ffmpeg"),
              ("vframe-call", "`vframe FILE SPEC -o out.jpg`", None),
              ("vframe-call-avfilter", "the same, libavfilter preloaded", None),
              ("ffmpeg-call", "`ffmpeg -ss 0 -i FILE -frames:v 1 -vf scale=320:180 out.jpg`", None)]
    for key, label, loader in labels:
        r = rows.get(key)
        if r is None:
            continue
        l = ld.get(loader) or {} if loader else {}
        libs = l.get("libraries")
        w(f"| {label} | {fmt_ms(r['wall_ms'])} | {fmt_ms(r['cpu_ms'])} | {r['faults']:.0f} | {libs if libs else '—'} | "
          f"{l.get('relocations') or '—'} | {l.get('walk') or '—'} | {l.get('cycles') or '—'} |")
    w("")
    def split(kind, open_key, extract_key):
        empty, version, call = (rows[k][kind] for k in ("empty", "vframe-version", "vframe-call"))
        return [empty, version - empty, st.get(open_key) or 0, st.get(extract_key) or 0,
                call - version - (st.get(open_key) or 0) - (st.get(extract_key) or 0), call]

    wall, cpu = split("wall_ms", "open_ms", "extract_ms"), split("cpu_ms", "open_cpu_ms", "extract_cpu_ms")
    w("The vframe CLI's call, split (wall and CPU ms; the CPU time is less disturbed by the machine's other load):")
    w("")
    w("| part | wall ms | share | CPU ms | share |")
    w("|---|---:|---:|---:|---:|")
    labels = ["process start (exec of an empty program)",
              "dynamic loading of FFmpeg's libraries and Rust's start (`--version` minus the above)",
              "open (in-process `Source::open`; this MP4 needs no probe)",
              "find, decode, scale and encode the frame (in-process `extract`)",
              "the rest: arguments, writing the file, exit (the whole call minus the above)", "whole call"]
    for label, a, b in zip(labels, wall, cpu):
        w(f"| {label} | {fmt_ms(a)} | {a / wall[-1] * 100:.0f} % | {fmt_ms(b)} | {b / cpu[-1] * 100:.0f} % |")
    w("")
    by = st.get("by_object") or {}
    if by.get("vframe") and not by["vframe"].get("error"):
        v = by["vframe"]
        w(f"The start-up's CPU by the object it runs in (`perf record` over {v['runs']} runs of each `-version`; "
          "neither calls into FFmpeg, so the time inside FFmpeg's libraries and their dependencies is their "
          "constructors'):")
        w("")
        w("| command | dynamic loader (symbol lookup, relocation) | kernel (exec, mapping, page faults, exit) | "
          "libraries' constructors | C library | the program itself |")
        w("|---|---:|---:|---:|---:|---:|")
        for name, label in (("vframe", "`vframe --version`"), ("ffmpeg", "`ffmpeg -version`")):
            p = by.get(name)
            if p and not p.get("error"):
                sh = p["share"]
                w(f"| {label} | {sh['loader']:.0f} % | {sh['kernel']:.0f} % | {sh['libraries']:.1f} % | "
                  f"{sh['libc']:.1f} % | {sh['program']:.2f} % |")
        w("")
        top = v["top_libraries"]
        if top:
            what = (" (Highway, the SIMD library of the libjxl that libavcodec links, measures its timer's "
                    "resolution when it is loaded)" if top[0][0].startswith("libhwy") else "")
            others = ", ".join(f"{n} {share:.2f} %" for n, share in top[1:])
            w(f"The largest constructor is {top[0][0]}'s, {top[0][1]:.1f} % of vframe's start-up{what}"
              + (f"; next {others}." if others else "."))
            w("")
    saved = rows["vframe-call-avfilter"]["wall_ms"] - wall[-1]
    saved_cpu = rows["vframe-call-avfilter"]["cpu_ms"] - cpu[-1]
    w(f"Loading libavfilter at start would cost {fmt_ms(saved)} ms more per call ({fmt_ms(saved_cpu)} ms CPU, "
      f"{rows['vframe-call-avfilter']['faults'] - rows['vframe-call']['faults']:.0f} page faults). "
      "Decoder threads are not on this path: with threads left to vframe, a frame a few frames from its keyframe is "
      "decoded on one thread, and FFmpeg's threads start only for longer decodes, where they pay for themselves.")
    w("")
    if st.get("opens"):
        bound = {f["name"]: f["tools"].get("lower-bound", {}) for f in results.get("files") or []}
        w("A single call in-process, per file, against the lower bound of the per-file tables: the open alone "
          "(`Source::open`; MP4 and Matroska/WebM are opened from their headers, MPEG-TS and AVI probed with "
          "`avformat_find_stream_info`), the frame at 0 after it, then at the file's deep offset `decode_frame` (open, "
          "seek, decode, and a copy of the planes: finding the frame) and `extract` (the same plus scaling to RGB and "
          "the JPEG: presenting it). The bound's columns come from the main run (its open with PyAV's probe, its "
          "decode, its scale + JPEG with PyAV's default scaler and Pillow).")
        w("")
        w("| file | open ms | frame at 0 ms | find (decode_frame) ms | extract ms | present ms | bound: open + decode ms | "
          "bound: scale + JPEG ms |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|")
        for o in st["opens"]:
            b = bound.get(o["file"]) or {}
            find, whole = o.get("decode_frame_ms"), o.get("target_extract_ms")
            present = whole - find if find and whole else None
            b_find = (b.get("open_ms") or 0) + b["decode_ms"] if b.get("decode_ms") else None
            w(f"| `{o['file']}` | {fmt_ms(o['open_ms'])} | {fmt_ms(o['extract_ms'])} | {fmt_ms(find)} | {fmt_ms(whole)} | "
              f"{fmt_ms(present)} | {fmt_ms(b_find)} | {fmt_ms(b.get('present_ms'))} |")
        w("")
    return lines


def cli_batch_report(results):
    rows = results.get("cli_batch")
    if not rows:
        return []
    lines = ["## The CLI's batch mode against the ffmpeg CLI", ""]
    w = lines.append
    w("One vframe process for many thumbnails against one ffmpeg CLI process per thumbnail (input seeking, as in the "
      "per-file tables); total wall time, medians of 3 interleaved runs. \"Same images\" counts the batch's images "
      "byte-identical to single `vframe` CLI calls.")
    w("")
    w("| batch | thumbnails | vframe ms | ffmpeg CLI ms | ffmpeg / vframe | per thumbnail, vframe | same images |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        w(f"| {r['label']} | {r['thumbs']} | {r['vframe_ms']:.0f} | {r['ffmpeg_ms']:.0f} | {r['ratio']:.2f}× | "
          f"{fmt_ms(r['vframe_ms'] / r['thumbs'])} ms | {r['same_images']}/{r['thumbs']} |")
    w("")
    for r in rows:
        if r.get("floor_ms"):
            w(f"The floor of the jobs file on this machine, measured in the same runs: the lower bound of the per-file "
              f"tables (open, decode from the keyframe skipping frames nothing refers to, one scale and JPEG encode; "
              f"PyAV) with one decoding thread, as a tool working on one input per core needs, is "
              f"{r['floor_single_ms']:.0f} ms for the {r['thumbs']} files; packed onto {r['cores']} cores, longest "
              f"first, with no process start, {r['floor_ms']:.0f} ms. No tool can make these thumbnails here more "
              f"than {r['ffmpeg_ms'] / r['floor_ms']:.2f}× faster than the ffmpeg CLI calls; vframe's `--jobs` is at "
              f"{r['vframe_ms'] / r['floor_ms']:.2f}× that floor.")
            w("")
    return lines


def frames_report(results):
    fr = results.get("frames")
    if not fr:
        return []
    lines = [f"## Many frames: a frame every {fr['interval']} s, and a storyboard", ""]
    w = lines.append
    w(f"Over each long file: `{fr['sample_spec']}` and `{fr['storyboard_spec']}` (160-wide tiles, 10 columns). "
      "Against the ffmpeg CLI, which decodes the whole span (`-vf fps=1/N`; for the storyboard "
      "`fps` + `scale` + `tile` into one image), process against process; and in-process against one "
      "`vframe::extract` call per frame or tile (the sample's images equal the single calls', checked; the single "
      "calls' tiles are not assembled into a sheet, which favours them). Medians of "
      f"{fr['reps']} interleaved runs, wall ms.")
    w("")
    w("| file | vframe CLI vsample | ffmpeg `fps` | ffmpeg / vframe | in-process sample | N single calls | "
      "N calls / sample | frames (vframe / ffmpeg) |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in fr["rows"]:
        ms, c = r["ms"], r["counts"]
        w(f"| `{r['file']}` ({r['seconds']:.0f} s) | {ms['vframe-cli-sample']:.0f} | {ms['ffmpeg-fps']:.0f} | "
          f"{ms['ffmpeg-fps'] / ms['vframe-cli-sample']:.2f}× | {ms['sample']:.0f} | {ms['sample-singles']:.0f} | "
          f"{ms['sample-singles'] / ms['sample']:.2f}× | {c.get('vframe-cli-sample')} / {c.get('ffmpeg-fps')} |")
        if "dense" in ms:
            w(f"| `{r['file']}`, `{fr['dense_spec']}` (ffmpeg: `-t {DENSE_SECONDS}`, `fps=1/{DENSE_INTERVAL}`) | "
              f"{ms['dense-cli']:.0f} | {ms['dense-ffmpeg']:.0f} | {ms['dense-ffmpeg'] / ms['dense-cli']:.2f}× | "
              f"{ms['dense']:.0f} | {ms['dense-singles']:.0f} | {ms['dense-singles'] / ms['dense']:.2f}× | "
              f"{c.get('dense-cli')} / {c.get('dense-ffmpeg')} |")
    w("")
    w(f"With a frame every {fr['interval']} s each moment lies in its own GOP: one pass and N calls decode the same "
      "frames, and one pass saves only the N opens (under a millisecond each for these MP4s), so the two are within "
      f"the noise. With moments closer than a GOP (a frame every {DENSE_INTERVAL} s) one pass decodes on where N "
      "calls start again from the keyframe each time.")
    w("")
    w("| file | vframe CLI storyboard | ffmpeg `fps`+`scale`+`tile` | ffmpeg / vframe | in-process storyboard | "
      "N single calls | N calls / storyboard | tiles |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in fr["rows"]:
        ms, c = r["ms"], r["counts"]
        w(f"| `{r['file']}` | {ms['vframe-cli-storyboard']:.0f} | {ms['ffmpeg-tile']:.0f} | "
          f"{ms['ffmpeg-tile'] / ms['vframe-cli-storyboard']:.2f}× | {ms['storyboard']:.0f} | "
          f"{ms['storyboard-singles']:.0f} | {ms['storyboard-singles'] / ms['storyboard']:.2f}× | {c.get('tiles')} |")
    w("")
    w("The files: " + "; ".join(f"`{r['file']}` — {r['what']}, {r['bytes'] / 1e6:.1f} MB" for r in fr["rows"])
      + f". ffmpeg's filters: `{fr['rows'][0]['ffmpeg_fps']}`; `{fr['rows'][0]['ffmpeg_tile']}` (rows to fit).")
    w("")
    return lines


def async_report(a):
    """The report's section on the asynchronous load (also printed by `--only async`)."""
    lines = ["## Asynchronous jobs under load", ""]
    w = lines.append
    w(f"{a['jobs']} jobs through one `vframe.Pool` (Python; {a['cores']} worker threads, the default queue of 4 per "
      f"thread, one decoder thread per job) over `{a['file']}` ({a['what']}, {a['bytes'] / 1e6:.1f} MB), "
      f"`{a['spec']}`; the producer submits them all (waiting while the pool is full), then waits for the results. "
      f"Each run is a fresh Python; median wall time of {a['reps']} run{'s' if a['reps'] != 1 else ''} per row, "
      "interleaved, highest peak. Peak RSS is the process's (`VmHWM`), \"above the start\" the part after the "
      "input was loaded.")
    la = a.get("load_average")
    if la:
        w("")
        w(f"Run {a.get('date', '')}, load average (1 min) {la[0][0]:.1f} at the start and {la[1][0]:.1f} at the end on "
          f"{a['cores']} cores: on a busy machine the jobs/s are low for every row alike; compare the rows.")
    w("")
    w("| input given as | jobs/s | time ratio to path | peak RSS | above the start | right images |")
    w("|---|---:|---:|---:|---:|---:|")
    base = next((r["seconds"] for r in a["rows"] if r["mode"] == "path"), None)
    for r in a["rows"]:
        label = ASYNC_MODE_LABEL.get(r["mode"], r["mode"])
        if r.get("stopped_at"):
            w(f"| {label} | stopped after {r['stopped_at']} jobs | — | {r['peak_kb'] / 1024:.0f} MiB | "
              f"{r['growth_kb'] / 1024:.0f} MiB | — |")
            continue
        ratio = f"{r['seconds'] / base:.2f}" if base else "—"
        w(f"| {label} | {a['jobs'] / r['seconds']:.0f} | {ratio} | "
          f"{r['peak_kb'] / 1024:.0f} MiB | {r['growth_kb'] / 1024:.0f} MiB | {r['right']}/{a['jobs']} |")
    w("")
    if any(r.get("stopped_at") for r in a["rows"]):
        w(f"The unbounded run is stopped once the process has grown by 1 GiB: all {a['jobs']} jobs queued at once "
          f"would hold {a['jobs']} copies, {a['jobs'] * a['bytes'] / 1e9:.0f} GB.")
        w("")
    return lines


def splice_section(section):
    """Puts a section (its first line is its `## ` title) into BENCHMARKS.md in place of the
    one with that title (or before "How it was measured"), leaving the rest of the last full
    run's report as it is."""
    if not section:
        return
    text = REPORT.read_text() if REPORT.exists() else ""
    start = text.find(section[0] + "\n")
    if start < 0:
        start = end = text.find("## How it was measured")
    else:
        end = text.find("\n## ", start + 1) + 1 or len(text)
    if start < 0:
        log("BENCHMARKS.md has no place for the section: left as it is")
        return
    REPORT.write_text(text[:start] + "\n".join(section) + "\n" + text[end:])
    log(f"report: the section {section[0][3:]!r} of {REPORT.relative_to(ROOT)}")


PART_SECTIONS = {
    "handle": handle_report,
    "memory": memory_report,
    "startup": startup_report,
    "cli-batch": cli_batch_report,
    "frames": frames_report,
    "async": lambda results: async_report(results["async_load"]),
}
PART_PRESENT = {
    "handle": lambda r: r.get("batch") or r.get("warm"),
    "memory": lambda r: r.get("memory"),
    "startup": lambda r: r.get("startup"),
    "cli-batch": lambda r: r.get("cli_batch"),
    "frames": lambda r: r.get("frames"),
    "async": lambda r: r.get("async_load"),
}


def fmt_kb(kb):
    return f"{kb / 1024:.0f} MiB" if kb else "n/a"


def chart(results, summary):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tools = results["tools"]
    files = results["files"]
    colours = {"vframe": "#1f77b4", "vframe-cli": "#6baed6", "ffmpeg-cli": "#ff7f0e", "pyav": "#2ca02c",
               "ffmpegthumbnailer": "#9467bd", "lower-bound": "#7f7f7f"}
    fig, ax = plt.subplots(figsize=(13, 7))
    width = 0.8 / len(tools)
    for k, tool in enumerate(tools):
        xs, ys, wrong = [], [], []
        for i, f in enumerate(files):
            t = f["tools"][tool]
            if t["median_ms"]:
                xs.append(i + (k - (len(tools) - 1) / 2) * width)
                ys.append(t["median_ms"])
                wrong.append(not (t["check"] or {}).get("right"))
        bars = ax.bar(xs, ys, width, label=TOOL_LABEL.get(tool, tool), color=colours.get(tool))
        for bar, bad in zip(bars, wrong):
            if bad:
                bar.set_hatch("xx")
                bar.set_edgecolor("black")
    ax.set_yscale("log")
    ax.set_ylabel("median ms per thumbnail (log scale)")
    ax.set_xticks(range(len(files)))
    ax.set_xticklabels([f["name"].rsplit(".", 1)[0].replace("_", "\n", 2) for f in files], fontsize=8)
    ax.set_title(f"vframe vs peers: one thumbnail deep inside a GOP — {results['machine']['cores']} cores, "
                 f"{results['reps']} reps (hatched: wrong frame)")
    ax.grid(axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3, frameon=False)
    fig.tight_layout()
    fig.savefig(CHART, dpi=110)
    plt.close(fig)
    log(f"chart: {CHART.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
