"""Operations of several outputs through the service, driven by Qiniu's own Python SDK: vsample
and storyboard in pfop and in an upload's persistentOps (every saved object listed in the item's
`keys`, byte-identical to what the engine's CLI writes for the same op), bad specs and limits as
failed items, a failure mid-way that leaves nothing behind, a kill -9 mid-item; sync processing
refusing them; and vframe's webp, q and fast mode in sync and pfop."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import time
import urllib.parse
from pathlib import Path
from typing import Any

import qiniu
from qiniu import PersistentFop, op_save, urlsafe_base64_encode

from conftest import (
    BUCKET,
    Receiver,
    Server,
    engine_files,
    engine_thumbnail,
    get,
    make_server,
    upload_token,
    wait_done,
)


def b64(text: str) -> str:
    encoded: str = urlsafe_base64_encode(text)
    return encoded


def default_prefix(op: str, etag: str) -> str:
    """Where an op's outputs go without saveas: Qiniu's default output key, then `/`."""
    digest: str = urlsafe_base64_encode(hashlib.sha1(op.encode()).digest())
    return digest + "/" + etag + "/"


def without_pattern(spec: str) -> str:
    """SPEC without its pattern: the same frames (the CLI refuses names with a `/`)."""
    return re.sub(r"/(save)?[pP]attern/[^/]+", "", spec)


def upload(auth: qiniu.Auth, key: str, path: Path) -> str:
    ret, info = qiniu.put_file(upload_token(auth, BUCKET, key), key, str(path))
    assert info.status_code == 200, info
    etag: str = ret["hash"]
    return etag


def run_pfop(auth: qiniu.Auth, key: str, fops: list[str]) -> dict[str, Any]:
    ret, info = PersistentFop(auth, BUCKET).execute(key, fops)
    assert info.status_code == 200, info
    return wait_done(ret["persistentId"], auth, timeout=120)


def object_files(server: Server) -> int:
    """Files of objects, committed (`objects/`) or staged (`staged/`)."""
    return sum(1 for folder in ("objects", "staged") for p in (server.data / folder).rglob("*") if p.is_file())


def test_pfop_vsample_lists_keys_and_saves_the_engines_frames(
    sdk: Server, auth: qiniu.Auth, small_video: Path, scratch: Path
) -> None:
    etag = upload(auth, "dir/vs.mp4", small_video)
    prefixed = "vsample/jpg/ss/0.5/t/3/s/240x/interval/1"
    patterned = "vsample/png/frames/3/s/x90/pattern/" + b64("$(keybase)/f-$(count).png")
    extensions = "vsample/webp/interval/2/s/160x/q/60/mode/fast"
    status = run_pfop(auth, "dir/vs.mp4", [op_save(prefixed, BUCKET, "frames/a-"), patterned, extensions])
    assert status["code"] == 0, status
    expected_names = [
        (prefixed, "frames/a-", "{:06d}.jpg", "image/jpeg"),
        (patterned, "", "dir/vs/f-{:06d}.png", "image/png"),  # the pattern names the keys
        (extensions, default_prefix(extensions, etag), "{:06d}.webp", "image/webp"),
    ]
    for n, (item, (op, prefix, name, mime)) in enumerate(zip(status["items"], expected_names, strict=True)):
        assert item["code"] == 0 and item["returnOld"] == 0, item
        assert "key" not in item and "hash" not in item, "several outputs are listed in keys only"
        frames = list(engine_files(small_video, without_pattern(op), scratch / str(n)).values())
        assert len(frames) == 3, op
        assert item["keys"] == [prefix + name.format(i + 1) for i in range(len(frames))]
        for key, frame in zip(item["keys"], frames, strict=True):
            saved = get(sdk, key)
            assert saved.status_code == 200 and saved.headers["Content-Type"] == mime, key
            assert saved.content == frame, f"{key} differs from the engine's frame"
    # Run again: the outputs are made afresh under the same keys (force or not).
    again = run_pfop(auth, "dir/vs.mp4", [op_save(prefixed, BUCKET, "frames/a-")])
    assert again["items"][0]["keys"] == status["items"][0]["keys"] and again["items"][0]["returnOld"] == 0


def test_upload_persistent_ops_storyboards_notify_their_keys(
    sdk: Server, auth: qiniu.Auth, receiver: Receiver, small_video: Path, scratch: Path
) -> None:
    folder = "storyboard/jpg/interval/0.5/s/96x/columns/4/rows/2"  # 11 tiles: sheets of 8 and 3
    dashed = "storyboard/png/interval/1/s/64x/columns/3/rows/1/margin/2/padding/1/color/ff0000"
    sample = "vsample/jpg/interval/2/s/120x"
    ops = ";".join([op_save(folder, BUCKET, "boards/a/"), op_save(dashed, BUCKET, "boards/b-"), sample])
    token = upload_token(auth, BUCKET, "sb.mp4", persistentOps=ops, persistentNotifyUrl=receiver.url + "/frames")
    ret, info = qiniu.put_file(token, "sb.mp4", str(small_video))
    assert info.status_code == 200, info
    [notified] = receiver.wait("/frames", timeout=120)
    status, _ = PersistentFop(auth, BUCKET).get_status(ret["persistentId"])
    assert notified == status and status["code"] == 0, status
    a, b, frames = status["items"]

    # Under a folder: the sheets, the VTT and the JSON are the engine's, byte for byte.
    engine = engine_files(small_video, folder, scratch / "a")
    assert a["keys"] == ["boards/a/" + name for name in engine if name.startswith("storyboard-")] + [
        "boards/a/storyboard.vtt",
        "boards/a/storyboard.json",
    ]
    assert len(a["keys"]) == 4
    for key in a["keys"]:
        assert get(sdk, key).content == engine[key.removeprefix("boards/a/")], key
    assert get(sdk, "boards/a/storyboard.vtt").headers["Content-Type"] == "text/vtt"
    assert get(sdk, "boards/a/storyboard.json").headers["Content-Type"] == "application/json"

    # Under a name prefix: the sheets are the engine's; the index names them relative to the VTT.
    engine = engine_files(small_video, dashed, scratch / "b")
    sheets = [name for name in engine if name.startswith("storyboard-")]
    assert b["keys"] == ["boards/b-" + name for name in sheets] + [
        "boards/b-storyboard.vtt",
        "boards/b-storyboard.json",
    ]
    for name in sheets:
        assert get(sdk, "boards/b-" + name).content == engine[name]
    vtt = get(sdk, "boards/b-storyboard.vtt").text
    assert vtt == engine["storyboard.vtt"].decode().replace("storyboard-", "b-storyboard-")
    vtt_url = f"{sdk.base}/boards/b-storyboard.vtt"
    refs = {urllib.parse.urljoin(vtt_url, line.split("#xywh=")[0]) for line in vtt.splitlines() if "#xywh=" in line}
    assert refs == {f"{sdk.base}/boards/b-{name}" for name in sheets}, "every cue points at a saved sheet"
    index = get(sdk, "boards/b-storyboard.json").json()
    assert [s["name"] for s in index["sheets"]] == ["b-" + name for name in sheets]
    assert index == json.loads(engine["storyboard.json"].decode().replace("storyboard-", "b-storyboard-"))

    # A vsample in the same upload, under the default output key.
    engine_frames = list(engine_files(small_video, sample, scratch / "c").values())
    prefix = default_prefix(sample, ret["hash"])
    assert frames["keys"] == [f"{prefix}{i + 1:06d}.jpg" for i in range(len(engine_frames))]
    assert [get(sdk, key).content for key in frames["keys"]] == engine_frames


def test_bad_specs_and_limits_fail_their_own_items(sdk: Server, auth: qiniu.Auth, small_video: Path) -> None:
    upload(auth, "bad.mp4", small_video)
    bad = {
        "vsample/jpg/interval/0": "interval",
        "vsample/gif/interval/1": "gif",
        "storyboard/jpg/columns/0": "columns",
        "vsample/jpg/interval/1/pattern/" + b64("../$(count).jpg"): "'..'",
        "vsample/jpg/interval/1/savePattern/" + b64("$(count)-$(nope).jpg"): "$(nope)",
        "vsample/jpg/interval/0.001": "limit of 1000",  # 5055 frames planned: refused before any work
        "storyboard/jpg/frames/2000": "limit of 1000",
        "vsample/jpg/ss/60": "end of the video",
    }
    status = run_pfop(auth, "bad.mp4", [*bad, "vframe/jpg/offset/1/w/64"])
    assert status["code"] == 3
    *failed, ok = status["items"]
    assert ok["code"] == 0 and ok["key"]
    for item, (cmd, why) in zip(failed, bad.items(), strict=True):
        assert item["cmd"] == cmd and item["code"] == 3 and why in item["error"], item
        assert "keys" not in item and "key" not in item
    ret, info = PersistentFop(auth, BUCKET).execute("bad.mp4", ["vsample/jpg/interval/0", "storyboard/gif"])
    assert info.status_code == 400 and "interval" in info.error, "no valid fop: the request is refused"


def test_a_failure_mid_way_leaves_no_keys_and_no_files(sdk: Server, auth: qiniu.Auth, small_video: Path) -> None:
    upload(auth, "mid.mp4", small_video)
    ret, info = qiniu.put_data(upload_token(auth, BUCKET, "mid/000003.jpg"), "mid/000003.jpg", b"mine")
    assert info.status_code == 200
    files_before = object_files(sdk)
    # Frames 1 and 2 are made and staged; frame 3's key holds an uploaded object: the item fails.
    status = run_pfop(auth, "mid.mp4", [op_save("vsample/jpg/interval/1/s/64x", BUCKET, "mid/")])
    [item] = status["items"]
    assert item["code"] == 3 and "uploaded object" in item["error"] and "keys" not in item, item
    assert get(sdk, "mid/000001.jpg").status_code == 404 and get(sdk, "mid/000002.jpg").status_code == 404
    assert get(sdk, "mid/000003.jpg").content == b"mine"
    assert object_files(sdk) == files_before, "the frames already written were removed"


def test_sync_refuses_several_outputs_and_serves_webp_q_fast(sdk: Server, auth: qiniu.Auth, small_video: Path) -> None:
    upload(auth, "sync.mp4", small_video)
    for fop in ["vsample/jpg/interval/1", "storyboard/jpg/columns/4"]:
        r = get(sdk, "sync.mp4", fop)
        assert r.status_code == 400 and r.headers["X-Reqid"], fop
        assert "several files" in r.json()["error"] and "pfop" in r.json()["error"]
    assert "gif" in get(sdk, "sync.mp4", "vsample/gif").json()["error"], "a bad spec says what is wrong"
    specs = {
        "vframe/webp/offset/2/w/200": "image/webp",
        "vframe/webp/offset/1.5/h/90/q/90/mode/fast": "image/webp",
        "vframe/jpg/offset/3/w/320/q/30": "image/jpeg",
        "vframe/png/offset/4.2/w/120/mode/fast": "image/png",
    }
    expected = {spec: engine_thumbnail(small_video, spec) for spec in specs}
    for spec, mime in specs.items():
        r = get(sdk, "sync.mp4", spec)
        assert r.status_code == 200 and r.headers["Content-Type"] == mime, (spec, r.text[:200])
        assert r.content == expected[spec], spec
    sizes = [len(get(sdk, "sync.mp4", f"vframe/webp/offset/2/w/200/q/{q}").content) for q in (10, 50, 95)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1], sizes
    assert get(sdk, "sync.mp4", "vframe/png/offset/1/q/50").status_code == 400, "q with png is refused"
    # The same extensions in pfop.
    fops = {spec: f"ext/{n}" for n, spec in enumerate(specs)}
    status = run_pfop(auth, "sync.mp4", [op_save(spec, BUCKET, key) for spec, key in fops.items()])
    assert status["code"] == 0, status
    for spec, key in fops.items():
        saved = get(sdk, key)
        assert saved.headers["Content-Type"] == specs[spec] and saved.content == expected[spec], key


def test_kill9_mid_vsample_then_restart_redoes_the_item_and_leaves_no_orphans(
    tmp_path: Path, auth: qiniu.Auth, receiver: Receiver, media: Path
) -> None:
    crash = make_server(tmp_path, workers=1)
    crash.start()
    try:
        long = media / "h264_cbaseline_1080p_6min_gop250_lowbitrate.mp4"
        upload(auth, "long.mp4", long)
        baseline = object_files(crash)
        spec = "vsample/jpg/interval/30/s/64x"
        ret, info = PersistentFop(auth, BUCKET, notify_url=receiver.url + "/vcrash").execute(
            "long.mp4", [op_save(spec, BUCKET, "crash/")]
        )
        assert info.status_code == 200, info
        # Kill once some frames are staged (on disk, not listed) and the item is not done.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and object_files(crash) < baseline + 2:
            time.sleep(0.005)
        status, _ = PersistentFop(auth, BUCKET).get_status(ret["persistentId"])
        assert status["code"] == 2 and "keys" not in status["items"][0], status
        crash.kill9()
        assert object_files(crash) > baseline, "frames were staged before the kill"
        crash.start()
        [body] = receiver.wait("/vcrash", timeout=120)
        [item] = body["items"]
        assert body["code"] == 0 and item["keys"] == [f"crash/{i:06d}.jpg" for i in range(1, 14)], body
        with sqlite3.connect(f"file:{crash.data / 'vframe.db'}?mode=ro", uri=True) as db:
            rows = db.execute("SELECT COUNT(*) FROM objects").fetchone()[0]
        assert object_files(crash) == rows, "no staged file outlives the crash"
        assert not [p for p in (crash.data / "orphans").rglob("*") if p.is_file()], "nor is one kept aside"
        assert get(crash, "crash/000013.jpg").content == engine_thumbnail(long, "vframe/jpg/offset/360/w/64")
    finally:
        crash.stop()
