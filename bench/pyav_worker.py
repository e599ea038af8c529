r"""PyAV side of `make bench`: a long-lived worker, the way a Python service would use PyAV.

Driven by bench.py over stdin/stdout with the same line protocol as the Rust worker
(`vframe-bench`): tab-separated request, one `ok\t...` or `err\t...` reply line. It runs in
its own process so that its memory is measured apart from the bench's own.

Requests:
- `extract\tPATH\tSECONDS\tW\tH\tOUT`: what a PyAV user writes for "the frame at T as a
  JPEG": open, seek to the keyframe before T, decode forward to the first frame at or
  after T (on the video stream's own timeline), apply the stream's rotation, scale to
  WxH, encode with Pillow (quality 85). Frame threading on (thread_type AUTO), as a user
  tuning for speed would set. Replies `ok\tSECONDS\tPEAK_KB\tBYTES\tCPU_SECONDS`
  (CPU_SECONDS: of all the process's threads during the call).
- `lower\tPATH\tSECONDS\tW\tH\tOUT`: the lower bound, paying its own open as vframe does:
  the clock starts before the file is opened (PyAV's open, which probes the streams with
  avformat_find_stream_info) and the decoder opened; then the call seeks to the keyframe
  before T and decodes forward with threads, telling the decoder to skip non-reference
  frames before T (AVCodecContext.skip_frame = NONREF per packet: those frames cannot be
  the answer and nothing refers to them), then one scale and one JPEG encode. This is the
  work any tool must do at least; it is timed the same way. A seek that lands after the
  target (MPEG-TS) is retried further back, as a correct tool must. Replies like
  `extract`, then `\tDECODE_S\tPRESENT_S\tDECODED\tOPEN_S` (the seek and decode, the
  scale+encode, frames that came out of the decoder, and the open: the bound without its
  open is the total minus OPEN_S). An optional seventh field THREADS (`1`: one decoding
  thread, no frame or slice threads) gives the bound of a tool that decodes several
  inputs at once, one per core (the CLI's `--jobs` floor).
- `rss`, `quit`.
"""

import io
import resource
from fractions import Fraction
import sys
import time

import av
from PIL import Image


def status_kb(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def cpu_seconds():
    """CPU time of the whole process, FFmpeg's decoder threads included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def target_pts(stream, seconds):
    """SECONDS on the video stream's own timeline, in stream ticks (rounded up)."""
    tb = stream.time_base
    start = stream.start_time or 0
    ticks = seconds / tb  # a Fraction: exact for the decimal offsets the bench uses
    return start + -(-ticks.numerator // ticks.denominator)


def present(frame, width, height):
    """Rotate as the stream says, scale to width x height, encode JPEG q85."""
    rotation = getattr(frame, "rotation", 0) or 0  # degrees counter-clockwise
    turns = (rotation // 90) % 4
    coded_w, coded_h = (height, width) if turns % 2 else (width, height)
    image = frame.to_image(width=coded_w, height=coded_h)
    if turns:
        image = image.transpose(
            {1: Image.Transpose.ROTATE_90, 2: Image.Transpose.ROTATE_180, 3: Image.Transpose.ROTATE_270}[turns]
        )
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def extract(path, seconds, width, height):
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        target = target_pts(stream, seconds)
        container.seek(target, stream=stream, backward=True, any_frame=False)
        chosen = None
        for frame in container.decode(stream):
            chosen = frame
            if frame.pts is not None and frame.pts >= target:
                break
        if chosen is None:
            raise RuntimeError("no frame decoded")
        return present(chosen, width, height)


class LowerBound:
    """The bound pays its open (file, probe, decoder and its threads), then decodes the
    least it can and encodes once; the open is also reported on its own."""

    def run(self, path, seconds, width, height, threads=0):
        start = time.perf_counter()
        with av.open(path) as container:
            stream = container.streams.video[0]
            if threads == 1:
                stream.thread_type = "NONE"
                stream.codec_context.thread_count = 1
            else:
                stream.thread_type = "AUTO"
            stream.codec_context.open(strict=False)
            open_s = time.perf_counter() - start
            data, total, decode_s, present_s, decoded = self.timed(container, stream, seconds, width, height)
            return data, open_s + total, decode_s, present_s, decoded, open_s

    def timed(self, container, stream, seconds, width, height):
        target = target_pts(stream, seconds)
        start = time.perf_counter()
        backoff = 0
        while True:
            chosen, decoded, late = self.decode_to(container, stream, target, backoff)
            # A seek that lands after the target (MPEG-TS) would give a wrong, cheap answer:
            # seek further back, as a correct tool must.
            if not late or backoff > 60:
                break
            backoff = max(1, backoff * 2)
        decode_s = time.perf_counter() - start
        if chosen is None:
            raise RuntimeError("no frame decoded")
        data = present(chosen, width, height)
        total = time.perf_counter() - start
        return data, total, decode_s, total - decode_s, decoded

    @staticmethod
    def decode_to(container, stream, target, backoff_s):
        context = stream.codec_context
        seek_to = max(stream.start_time or 0, target - int(backoff_s / stream.time_base))
        container.seek(seek_to, stream=stream, backward=True, any_frame=False)
        context.flush_buffers()
        chosen, decoded = None, 0
        try:
            for packet in container.demux(stream):
                before_target = packet.pts is not None and packet.pts < target and not packet.is_keyframe
                context.skip_frame = "NONREF" if before_target else "DEFAULT"
                for frame in context.decode(packet if packet.size else None):
                    decoded += 1
                    if chosen is None and frame.pts is not None and frame.pts > target and seek_to > (stream.start_time or 0):
                        return frame, decoded, True  # landed late
                    chosen = frame
                    if frame.pts is not None and frame.pts >= target:
                        return chosen, decoded, False
        finally:
            context.skip_frame = "DEFAULT"
        return chosen, decoded, False


def main():
    lower = LowerBound()
    for line in sys.stdin:
        fields = line.rstrip("\n").split("\t")
        try:
            if fields[0] == "quit":
                break
            if fields[0] == "rss":
                reply = f"{status_kb('VmRSS')}\t{status_kb('VmHWM')}"
            elif (fields[0] in ("extract", "lower") and len(fields) == 6) or (fields[0] == "lower" and len(fields) == 7):
                _, path, seconds, width, height, out = fields[:6]
                threads = int(fields[6]) if len(fields) == 7 else 0
                seconds, width, height = Fraction(seconds), int(width), int(height)
                reset_peak()
                cpu = cpu_seconds()
                if fields[0] == "extract":
                    start = time.perf_counter()
                    data = extract(path, seconds, width, height)
                    elapsed = time.perf_counter() - start
                    extra = ""
                else:
                    data, elapsed, decode_s, present_s, decoded, open_s = lower.run(path, seconds, width, height, threads)
                    extra = f"\t{decode_s:.6f}\t{present_s:.6f}\t{decoded}\t{open_s:.6f}"
                cpu = cpu_seconds() - cpu
                peak = status_kb("VmHWM")
                if out:
                    with open(out, "wb") as f:
                        f.write(data)
                reply = f"{elapsed:.6f}\t{peak}\t{len(data)}\t{cpu:.6f}{extra}"
            else:
                raise ValueError(f"unknown request: {line.strip()}")
            print(f"ok\t{reply}", flush=True)
        except Exception as e:  # report, keep serving: one bad file must not end the bench
            print(f"err\t{type(e).__name__}: {str(e).replace(chr(9), ' ')}".replace("\n", " "), flush=True)


if __name__ == "__main__":
    main()
