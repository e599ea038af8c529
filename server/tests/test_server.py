"""vframe-server driven by Qiniu's own Python SDK (`qiniu` from PyPI, unchanged): uploads with
persistentOps (form and both resumable protocols), pfop and prefop, notify, sync URLs public and
private, authentication failures, traversal keys, overwrite rules, limits, crash recovery, load."""

from __future__ import annotations

import fcntl
import hashlib
import http.client
import io
import os
import re
import socket
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import qiniu
import requests
from qiniu import PersistentFop, build_op, op_save, urlsafe_base64_encode

from conftest import (
    AK,
    BUCKET,
    PRIVATE,
    SK,
    Receiver,
    Server,
    engine_thumbnail,
    get,
    make_server,
    read_until_closed,
    upload_token,
    wait_done,
)


def test_health_metrics_and_reqid_everywhere(sdk: Server) -> None:
    for method, path, status in [
        ("GET", "/health", 200),
        ("GET", "/metrics", 200),
        ("GET", "/no-such-key", 404),
        ("POST", "/pfop", 401),
        ("DELETE", "/x", 405),
        ("GET", "/status/get/prefop", 400),
    ]:
        r = requests.request(method, sdk.base + path, timeout=10)
        assert r.status_code == status, (path, r.text)
        assert r.headers.get("X-Reqid"), path
        if status >= 400:
            assert r.headers["Content-Type"] == "application/json" and "error" in r.json()
    text = requests.get(sdk.base + "/metrics", timeout=10).text
    for name in [
        "vframe_http_requests_total",
        "vframe_http_request_seconds_bucket",
        "vframe_job_queue_depth",
        "vframe_sync_queue_depth",
        "vframe_job_seconds_bucket",
    ]:
        assert name in text, name


def test_form_upload_with_persistent_ops_notifies_and_saves_exact_thumbnails(
    sdk: Server, auth: qiniu.Auth, receiver: Receiver, small_video: Path
) -> None:
    jpg = build_op("vframe", "jpg", offset=1, w=320)
    png = "vframe/png/offset/2.5/h/90"
    ops = ";".join([op_save(jpg, BUCKET, "thumbs/small.jpg"), png])
    token = upload_token(auth, BUCKET, "small.mp4", persistentOps=ops, persistentNotifyUrl=receiver.url + "/form")
    ret, info = qiniu.put_file(token, "small.mp4", str(small_video))
    assert info.status_code == 200, info
    assert ret["key"] == "small.mp4" and ret["hash"] == qiniu.etag(str(small_video))
    pid = ret["persistentId"]
    [notified] = receiver.wait("/form")
    assert receiver.received("attempts:/form")[0]["content_type"] == "application/json"
    status, info = PersistentFop(auth, BUCKET).get_status(pid)
    assert info.status_code == 200
    assert notified == status, "the notify body is the prefop answer"
    assert status["id"] == pid and status["code"] == 0 and status["inputKey"] == "small.mp4"
    assert status["inputBucket"] == BUCKET and status["creationDate"] and status["type"] == 0
    first, second = status["items"]
    assert (first["code"], first["key"], first["returnOld"]) == (0, "thumbs/small.jpg", 0)
    saved = get(sdk, "thumbs/small.jpg")
    assert saved.status_code == 200 and saved.headers["Content-Type"] == "image/jpeg"
    assert saved.content == engine_thumbnail(small_video, jpg)
    assert first["hash"] == qiniu.utils.etag_stream(io.BytesIO(saved.content))
    # No saveas: Qiniu's default key, urlsafe_base64(sha1(op)) + "/" + the source's etag.
    default_key = urlsafe_base64_encode(hashlib.sha1(png.encode()).digest()) + "/" + ret["hash"]
    assert second["key"] == default_key and second["code"] == 0
    assert get(sdk, default_key).content == engine_thumbnail(small_video, png)
    # The stored video is served back unchanged.
    assert get(sdk, "small.mp4").content == small_video.read_bytes()


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_resumable_uploads_of_a_big_video(
    sdk: Server, auth: qiniu.Auth, receiver: Receiver, big_video: Path, version: str
) -> None:
    key = f"big-{version}.mp4"
    spec = "vframe/jpg/offset/33.4/w/480/h/270"
    ops = op_save(spec, BUCKET, f"thumbs/{key}.jpg")
    path = f"/big-{version}"
    token = upload_token(auth, BUCKET, key, persistentOps=ops, persistentNotifyUrl=receiver.url + path)
    route = "mkblk" if version == "v1" else "uploads_v2"
    before = sdk.metric("vframe_http_requests_total", f'route="{route}"')
    ret, info = qiniu.put_file(
        token, key, str(big_video), version=version, part_size=4 * 1024 * 1024, bucket_name=BUCKET
    )
    assert info.status_code == 200, info
    assert ret["hash"] == qiniu.etag(str(big_video)) and ret["key"] == key
    assert sdk.metric("vframe_http_requests_total", f'route="{route}"') - before >= 3, "the upload went resumable"
    [notified] = receiver.wait(path)
    assert notified["code"] == 0 and notified["id"] == ret["persistentId"]
    assert get(sdk, key).content == big_video.read_bytes()
    assert get(sdk, f"thumbs/{key}.jpg").content == engine_thumbnail(big_video, spec)


def test_pfop_two_fops_saveas_status_and_force(sdk: Server, auth: qiniu.Auth, small_video: Path) -> None:
    ret, info = qiniu.put_file(upload_token(auth, BUCKET, "pfop.mp4"), "pfop.mp4", str(small_video))
    assert info.status_code == 200
    a, b = "vframe/jpg/offset/0.5/w/200", "vframe/png/offset/4/w/100/rotate/90"
    fops = [op_save(a, BUCKET, "pfop/a.jpg"), op_save(b, BUCKET, "pfop/b.png")]
    ret, info = PersistentFop(auth, BUCKET).execute("pfop.mp4", fops, 1)
    assert info.status_code == 200, info
    status = wait_done(ret["persistentId"], auth)
    assert status["code"] == 0 and [i["code"] for i in status["items"]] == [0, 0]
    assert [i["cmd"] for i in status["items"]] == fops
    assert get(sdk, "pfop/a.jpg").content == engine_thumbnail(small_video, a)
    assert get(sdk, "pfop/b.png").content == engine_thumbnail(small_video, b)
    # Without force an existing output is kept (returnOld 1); with force it is written again.
    ret, _ = PersistentFop(auth, BUCKET).execute("pfop.mp4", fops)
    assert [i["returnOld"] for i in wait_done(ret["persistentId"], auth)["items"]] == [1, 1]
    ret, _ = PersistentFop(auth, BUCKET).execute("pfop.mp4", fops, 1)
    assert [i["returnOld"] for i in wait_done(ret["persistentId"], auth)["items"]] == [0, 0]
    # A fop never replaces an uploaded object, even with force.
    ret, _ = PersistentFop(auth, BUCKET).execute("pfop.mp4", [op_save(a, BUCKET, "pfop.mp4")], 1)
    status = wait_done(ret["persistentId"], auth)
    assert status["code"] == 3 and "uploaded object" in status["items"][0]["error"]
    assert get(sdk, "pfop.mp4").content == small_video.read_bytes()


def test_unsupported_fops_fail_per_item_or_whole(sdk: Server, auth: qiniu.Auth, small_video: Path) -> None:
    qiniu.put_file(upload_token(auth, BUCKET, "mixed.mp4"), "mixed.mp4", str(small_video))
    ret, info = PersistentFop(auth, BUCKET).execute(
        "mixed.mp4", ["vframe/jpg/offset/1", "avthumb/mp4", "vframe/gif/offset/1"]
    )
    assert info.status_code == 200, info
    status = wait_done(ret["persistentId"], auth)
    assert status["code"] == 3
    ok, avthumb, gif = status["items"]
    assert ok["code"] == 0 and avthumb["code"] == 3 and gif["code"] == 3
    assert "avthumb" in avthumb["error"] and "gif" in gif["error"]
    assert status["items"][1]["desc"] == "The fop is failed"
    ret, info = PersistentFop(auth, BUCKET).execute("mixed.mp4", ["avthumb/mp4", "vsample/gif/ss/1"])
    assert info.status_code == 400 and "avthumb" in info.error


def test_sync_processing_public_and_signed_private(sdk: Server, auth: qiniu.Auth, small_video: Path) -> None:
    spec = "vframe/jpg/offset/3/w/240"
    qiniu.put_file(upload_token(auth, BUCKET, "public.mp4"), "public.mp4", str(small_video))
    r = get(sdk, "public.mp4", spec)
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/jpeg" and r.headers["X-Reqid"]
    assert r.content == engine_thumbnail(small_video, spec)
    assert get(sdk, "public.mp4", "vframe/gif/offset/1").status_code == 400
    assert get(sdk, "public.mp4", "avthumb/mp4").status_code == 400
    assert get(sdk, "missing.mp4", spec).status_code == 404

    ret, info = qiniu.put_file(upload_token(auth, PRIVATE, "private.mp4"), "private.mp4", str(small_video))
    assert info.status_code == 200, info
    url = f"http://localhost:{sdk.port}/private.mp4?{spec}"
    unsigned = requests.get(url, timeout=30)
    assert unsigned.status_code == 401 and unsigned.headers["X-Reqid"]
    signed = requests.get(auth.private_download_url(url, expires=300), timeout=30)
    assert signed.status_code == 200 and signed.content == engine_thumbnail(small_video, spec)
    expired = requests.get(auth.private_download_url(url, expires=-10), timeout=30)
    assert expired.status_code == 401 and expired.json()["error"] == "token out of date"
    wrong = requests.get(qiniu.Auth(AK, "not-the-secret").private_download_url(url, expires=300), timeout=30)
    assert wrong.status_code == 401
    plain = f"http://localhost:{sdk.port}/private.mp4"
    assert requests.get(plain, timeout=30).status_code == 401
    assert requests.get(auth.private_download_url(plain), timeout=30).content == small_video.read_bytes()
    # A signed URL for a key that does not exist is a 404, an unsigned one a 401 (no existence leak).
    assert (
        requests.get(auth.private_download_url(f"http://localhost:{sdk.port}/nope.mp4"), timeout=30).status_code == 404
    )
    assert requests.get(f"http://localhost:{sdk.port}/nope.mp4", timeout=30).status_code == 401


def test_wrong_key_expired_token_and_unknown_ids(sdk: Server, auth: qiniu.Auth, small_video: Path) -> None:
    wrong = qiniu.Auth(AK, "not-the-secret")
    ret, info = qiniu.put_data(upload_token(wrong, BUCKET, "w.bin"), "w.bin", b"data")
    assert info.status_code == 401 and ret is None
    ret, info = qiniu.put_data(upload_token(qiniu.Auth("unknown-ak", SK), BUCKET, "w.bin"), "w.bin", b"data")
    assert info.status_code == 401
    ret, info = qiniu.put_data(upload_token(auth, BUCKET, "w.bin", expires=-10), "w.bin", b"data")
    assert info.status_code == 401 and "token out of date" in info.error
    ret, info = PersistentFop(wrong, BUCKET).execute("small.mp4", ["vframe/jpg/offset/1"])
    assert info.status_code == 401
    ret, info = PersistentFop(auth, BUCKET).get_status("z0.00000000000000000000000000000000")
    assert info.status_code == 612 and "not such id" in info.error
    ret, info = PersistentFop(auth, BUCKET).execute("never-uploaded.mp4", ["vframe/jpg/offset/1"])
    assert info.status_code == 612
    ret, info = PersistentFop(auth, "no-such-bucket").execute("a.mp4", ["vframe/jpg/offset/1"])
    assert info.status_code == 631
    # The v2 signature (Qiniu <AK>:<sig> over method, host, headers and body) is accepted too,
    # and a request dated more than 15 minutes away is refused.
    qiniu.put_data(upload_token(auth, BUCKET, "v2sig.bin"), "v2sig.bin", small_video.read_bytes()[:100000])
    mac = qiniu.QiniuMacAuth(AK, SK)
    body = {"bucket": BUCKET, "key": "v2sig.bin", "fops": "vframe/jpg/offset/1"}
    r = requests.post(sdk.base + "/pfop/", data=body, auth=qiniu.auth.QiniuMacRequestsAuth(mac), timeout=10)
    assert r.status_code == 200 and r.json()["persistentId"], r.text
    stale = qiniu.QiniuMacAuth(AK, SK, disable_qiniu_timestamp_signature=True)
    r = requests.post(
        sdk.base + "/pfop/",
        data=body,
        headers={"X-Qiniu-Date": "20200101T000000Z"},
        auth=qiniu.auth.QiniuMacRequestsAuth(stale),
        timeout=10,
    )
    assert r.status_code == 403, r.text


def test_pfop_acts_only_on_a_body_the_signature_covers(sdk: Server, auth: qiniu.Auth, small_video: Path) -> None:
    qiniu.put_data(upload_token(auth, BUCKET, "signed-body.mp4"), "signed-body.mp4", small_video.read_bytes()[:100000])
    form = {"bucket": BUCKET, "key": "signed-body.mp4", "fops": "vframe/jpg/offset/1", "force": "1"}
    # The SDK's own pfop (QBox over a form body) works.
    ret, info = PersistentFop(auth, BUCKET).execute("signed-body.mp4", ["vframe/jpg/offset/1"])
    assert info.status_code == 200 and ret["persistentId"], info
    # A QBox token over the path alone (replayable: QBox has no date) never authorizes a body:
    # any Content-Type but exactly application/x-www-form-urlencoded leaves it unsigned.
    submitted = sdk.metric("vframe_jobs_submitted_total")
    path_only = "QBox " + auth.token_of_request(sdk.base + "/pfop/")
    for content_type in [None, "text/plain", "application/x-www-form-urlencoded; charset=utf-8"]:
        headers = {"Authorization": path_only}
        if content_type:
            headers["Content-Type"] = content_type
        r = requests.post(sdk.base + "/pfop/", data=urllib.parse.urlencode(form).encode(), headers=headers, timeout=10)
        assert r.status_code == 400 and "not covered by the signature" in r.json()["error"], (content_type, r.text)
    # Qiniu v2 does not sign an application/octet-stream body either.
    mac = qiniu.QiniuMacAuth(AK, SK)

    def post_v2(content_type: str) -> requests.Response:
        return requests.post(
            sdk.base + "/pfop/",
            data=urllib.parse.urlencode(form).encode(),
            headers={"Content-Type": content_type},
            auth=qiniu.auth.QiniuMacRequestsAuth(mac),
            timeout=10,
        )

    r = post_v2("application/octet-stream")
    assert r.status_code == 400 and "not covered by the signature" in r.json()["error"], r.text
    assert sdk.metric("vframe_jobs_submitted_total") == submitted
    # v2 signs a form body with a charset parameter, and that body is what runs.
    r = post_v2("application/x-www-form-urlencoded; charset=utf-8")
    assert r.status_code == 200 and r.json()["persistentId"], r.text


def test_traversal_and_invalid_keys_are_refused(sdk: Server, auth: qiniu.Auth) -> None:
    bad_keys = ["../escape.bin", "/etc/passwd", "a/../../b", "a\x00b", "k" * 751, "..", "dir/./x", "a\nb"]
    for key in bad_keys:
        ret, info = qiniu.put_data(upload_token(auth, BUCKET), key, b"payload")
        assert info.status_code == 400, (key, info)
        ret, info = qiniu.put_data(upload_token(auth, BUCKET, key), key, b"payload")
        assert info.status_code in (400, 401), (key, info)  # the scope itself is refused
    # Raw requests whose path tries to climb out: never a file from outside.
    for target in [
        "/../../../../etc/passwd",
        "/..%2f..%2f..%2fetc%2fpasswd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/a%00b",
        "/" + "k" * 9000,
    ]:
        conn = http.client.HTTPConnection("127.0.0.1", sdk.port, timeout=10)
        conn.request("GET", target)
        response = conn.getresponse()
        body = response.read()
        assert response.status in (400, 404, 414), (target, response.status)
        assert b"root:" not in body and response.getheader("X-Reqid")
        conn.close()
    # Nothing named after a key exists anywhere in the data directory.
    names = {p.name for p in sdk.data.rglob("*")}
    assert not any("escape" in n or "passwd" in n or n.endswith(".bin") for n in names), names
    assert not (sdk.data.parent / "escape.bin").exists()


def test_overwrite_rules(sdk: Server, auth: qiniu.Auth) -> None:
    ret, info = qiniu.put_data(upload_token(auth, BUCKET), "ow.bin", b"first")
    assert info.status_code == 200
    ret, info = qiniu.put_data(upload_token(auth, BUCKET), "ow.bin", b"second")
    assert info.status_code == 614 and "file exists" in info.error, "scope 'bucket' is insert-only"
    ret, info = qiniu.put_data(upload_token(auth, BUCKET), "ow.bin", b"first")
    assert info.status_code == 200, "the same content again is fine"
    ret, info = qiniu.put_data(upload_token(auth, BUCKET, "ow.bin", insertOnly=1), "ow.bin", b"second")
    assert info.status_code == 614
    ret, info = qiniu.put_data(upload_token(auth, BUCKET, "ow.bin"), "ow.bin", b"second")
    assert info.status_code == 200, "scope 'bucket:key' may overwrite"
    assert get(sdk, "ow.bin").content == b"second"
    ret, info = qiniu.put_data(upload_token(auth, BUCKET, "ow.bin"), "other.bin", b"x")
    assert info.status_code == 403, "a key outside the scope"


def test_prefix_scope_never_replaces(sdk: Server, auth: qiniu.Auth, tmp_path: Path) -> None:
    """A token for a key prefix (what an app hands each end user) may add objects under the
    prefix but never replace one with other content: Qiniu's "isPrefixalScope 为 1 时无法覆盖
    上传", for the form upload and both resumable protocols."""
    token = upload_token(auth, BUCKET, "user42/", isPrefixalScope=1)
    ret, info = qiniu.put_data(token, "user42/avatar.jpg", b"ORIGINAL")
    assert info.status_code == 200, info
    ret, info = qiniu.put_data(token, "user42/avatar.jpg", b"REPLACED")
    assert info.status_code == 614 and "file exists" in info.error, info
    big = tmp_path / "big.bin"
    big.write_bytes(b"R" * (9 << 20))  # over the SDK's 8 MiB: put_file goes resumable
    for version, route in (("v1", "mkblk"), ("v2", "uploads_v2")):
        before = sdk.metric("vframe_http_requests_total", f'route="{route}"')
        ret, info = qiniu.put_file(
            token, "user42/avatar.jpg", str(big), version=version, part_size=4 << 20, bucket_name=BUCKET
        )
        assert info.status_code == 614, (version, info)
        assert sdk.metric("vframe_http_requests_total", f'route="{route}"') > before, "the upload went resumable"
    assert get(sdk, "user42/avatar.jpg").content == b"ORIGINAL"
    ret, info = qiniu.put_data(token, "user42/avatar.jpg", b"ORIGINAL")
    assert info.status_code == 200, "the same content again is fine"
    ret, info = qiniu.put_data(token, "user42/new.jpg", b"NEW")
    assert info.status_code == 200 and get(sdk, "user42/new.jpg").content == b"NEW"
    ret, info = qiniu.put_data(token, "user43/x.jpg", b"x")
    assert info.status_code == 403, "a key outside the prefix"


def test_uploading_a_jobs_output_makes_it_the_users(sdk: Server, auth: qiniu.Auth, small_video: Path) -> None:
    """Bytes identical to a job's output, uploaded under its key with an insert-only token:
    the object is the user's from then on, and no fop replaces it, even with force=1."""
    qiniu.put_file(upload_token(auth, BUCKET, "own.mp4"), "own.mp4", str(small_video))
    fop = PersistentFop(auth, BUCKET)
    ret, info = fop.execute("own.mp4", [op_save("vframe/jpg/offset/1/w/64", BUCKET, "own.jpg")])
    assert wait_done(ret["persistentId"], auth)["code"] == 0
    made = get(sdk, "own.jpg").content
    ret, info = qiniu.put_data(upload_token(auth, BUCKET), "own.jpg", made)
    assert info.status_code == 200, info
    ret, info = PersistentFop(auth, BUCKET).execute(
        "own.mp4", [op_save("vframe/jpg/offset/2/w/64", BUCKET, "own.jpg")], force=1
    )
    assert info.status_code == 200, info
    [item] = wait_done(ret["persistentId"], auth)["items"]
    assert item["code"] == 3 and "uploaded object" in item["error"], item
    assert get(sdk, "own.jpg").content == made


def test_sync_and_downloads_racing_overwrites_serve_a_whole_version(
    sdk: Server, auth: qiniu.Auth, small_video: Path
) -> None:
    """A key overwritten again and again while it is read and processed: every answer is one
    of its versions (the one looked up), never an error or a server file path."""
    versions = [small_video.read_bytes(), small_video.read_bytes() + b"\0" * 1000]
    token = upload_token(auth, BUCKET, "race.mp4")
    assert qiniu.put_data(token, "race.mp4", versions[0])[1].status_code == 200
    spec = "vframe/jpg/offset/1/w/64"
    expected = engine_thumbnail(small_video, spec)
    stop = threading.Event()

    def overwrite() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            assert qiniu.put_data(token, "race.mp4", versions[n % 2])[1].status_code == 200

    writer = ThreadPoolExecutor(1)
    writing = writer.submit(overwrite)
    try:
        with requests.Session() as session:
            for _ in range(150):
                r = session.get(f"{sdk.base}/race.mp4?{spec}", timeout=30)
                assert r.status_code == 200 and r.content == expected, (r.status_code, r.text[:300])
                r = session.get(f"{sdk.base}/race.mp4", timeout=30)
                assert r.status_code == 200 and r.content in versions, r.status_code
    finally:
        stop.set()
        writing.result()
        writer.shutdown()
    assert list((sdk.data / "spool").iterdir()) == [], "no pin outlives its request"


def test_keys_under_buckets_are_downloaded_like_any_other(sdk: Server, auth: qiniu.Auth, small_video: Path) -> None:
    """`/buckets/…` is the v2 upload API only for its calls (POST, PUT, DELETE, and GET with an
    upload token): a key starting with `buckets/` is served and processed like any other."""
    ret, info = qiniu.put_file_v2(upload_token(auth, BUCKET, "buckets/clip.mp4"), "buckets/clip.mp4", str(small_video))
    assert info.status_code == 200, info
    assert get(sdk, "buckets/clip.mp4").content == small_video.read_bytes()
    assert requests.head(f"{sdk.base}/buckets/clip.mp4", timeout=10).status_code == 200
    spec = "vframe/jpg/offset/1/w/64"
    assert get(sdk, "buckets/clip.mp4", spec).content == engine_thumbnail(small_video, spec)
    # Listing an upload's parts (a GET with the token) still reaches the upload API.
    token = upload_token(auth, BUCKET, "listed.bin")
    path = f"/buckets/{BUCKET}/objects/{urlsafe_base64_encode('listed.bin')}/uploads"
    headers = {"Authorization": f"UpToken {token}"}
    upload_id = requests.post(sdk.base + path, headers=headers, timeout=10).json()["uploadId"]
    r = requests.get(f"{sdk.base}{path}/{upload_id}", headers=headers, timeout=10)
    assert r.status_code == 200 and r.json()["parts"] == [], r.text


def test_crc32_mismatch_and_policy_checks(sdk: Server, auth: qiniu.Auth, receiver: Receiver) -> None:
    token = upload_token(auth, BUCKET)
    files = {"file": ("c.bin", b"abc", "application/octet-stream")}
    r = requests.post(sdk.base + "/", data={"token": token, "key": "c.bin", "crc32": "1"}, files=files, timeout=10)
    assert r.status_code == 406 and r.headers["X-Reqid"]
    r = requests.post(
        sdk.base + "/",
        data={"token": token, "key": "c.bin", "crc32": str(qiniu.utils.crc32(b"abc"))},
        files=files,
        timeout=10,
    )
    assert r.status_code == 200
    policies: list[tuple[dict[str, Any], int]] = [
        ({"persistentOps": "avthumb/mp4"}, 400),
        ({"persistentOps": "vframe/jpg/offset/1", "persistentNotifyUrl": "file:///etc/passwd"}, 400),
        ({"persistentOps": "vframe/jpg/offset/1", "persistentNotifyUrl": "http://10.9.9.9/n"}, 400),
        ({"persistentOps": "vframe/jpg/offset/1", "persistentNotifyUrl": "http://127.0.0.1:99999/n"}, 400),
        ({"returnBody": "$(key)"}, 400),
        ({"fsizeLimit": 2}, 413),
    ]
    for policy, status in policies:
        ret, info = qiniu.put_data(upload_token(auth, BUCKET, **policy), "p.bin", b"payload")
        assert info.status_code == status, (policy, info)
    assert get(sdk, "p.bin").status_code == 404, "nothing was stored"


def test_notify_retries_then_code_4(sdk: Server, auth: qiniu.Auth, receiver: Receiver, small_video: Path) -> None:
    qiniu.put_file(upload_token(auth, BUCKET, "n.mp4"), "n.mp4", str(small_video))
    receiver.fail["/flaky"] = 2
    ret, _ = PersistentFop(auth, BUCKET, notify_url=receiver.url + "/flaky").execute("n.mp4", ["vframe/jpg/offset/1"])
    [body] = receiver.wait("/flaky")
    assert len(receiver.received("attempts:/flaky")) == 3 and body["code"] == 0
    receiver.fail["/dead"] = 1000
    ret, _ = PersistentFop(auth, BUCKET, notify_url=receiver.url + "/dead").execute("n.mp4", ["vframe/jpg/offset/1"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status, _ = PersistentFop(auth, BUCKET).get_status(ret["persistentId"])
        if status["code"] == 4:
            break
        time.sleep(0.1)
    assert status["code"] == 4 and status["desc"] == "Callback failed"
    assert status["items"][0]["code"] == 0, "processing itself succeeded"
    assert len(receiver.received("attempts:/dead")) == 3
    receiver.fail["/dead"] = 0
    # A port that is no TCP port is refused at submit, never sent to the default port.
    ret, info = PersistentFop(auth, BUCKET, notify_url="http://127.0.0.1:99999/hook").execute(
        "n.mp4", ["vframe/jpg/offset/1"]
    )
    assert info.status_code == 400 and "port" in info.error, info


def test_load_hundreds_of_sync_requests(sdk: Server, auth: qiniu.Auth, media: Path) -> None:
    files = ["h264_high_bframes_960x540_aac.mp4", "hevc_main_bframes_854x480.mp4", "vp9_profile2_10bit_426x240.webm"]
    for name in files:
        ret, info = qiniu.put_file(upload_token(auth, BUCKET, "load/" + name), "load/" + name, str(media / name))
        assert info.status_code == 200, info
    specs = ["vframe/jpg/offset/1/w/160", "vframe/png/offset/2/w/120", "vframe/jpg/offset/0.5"]
    expected = {(f, s): engine_thumbnail(media / f, s) for f in files for s in specs}
    jobs = [(files[i % 3], specs[(i // 3) % 3]) for i in range(240)]
    session = threading.local()

    def one(job: tuple[str, str]) -> tuple[int, bool]:
        if not hasattr(session, "s"):
            session.s = requests.Session()
        r = session.s.get(f"{sdk.base}/load/{job[0]}?{job[1]}", timeout=120)
        return r.status_code, r.content == expected[job]

    rejected_before = sdk.metric("vframe_sync_rejected_total")
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, jobs))
    assert [r for r in results if r != (200, True)] == []
    assert sdk.metric("vframe_sync_queue_peak") <= 32, "the sync queue stayed within its bound"
    assert sdk.metric("vframe_sync_rejected_total") == rejected_before


def test_limits_busy_queues_and_upload_size(tmp_path: Path, auth: qiniu.Auth, media: Path) -> None:
    tight = make_server(tmp_path, queue=2, sync_queue=2, sync_wait_ms=200, max_upload=2 * 1024 * 1024, workers=1)
    tight.start()
    try:
        ret, info = qiniu.put_data(upload_token(auth, BUCKET, "huge.bin"), "huge.bin", b"x" * (2 * 1024 * 1024 + 1))
        assert info.status_code == 413
        long = media / "h264_cbaseline_1080p_6min_gop250_lowbitrate.mp4"
        ret, info = qiniu.put_file(upload_token(auth, BUCKET, "long.mp4"), "long.mp4", str(long))
        assert info.status_code == 200, info
        fops = [f"vframe/jpg/offset/{300 + 8 * i}/w/64" for i in range(4)]
        answers = [PersistentFop(auth, BUCKET).execute("long.mp4", fops, 1)[1] for _ in range(8)]
        codes = [a.status_code for a in answers]
        assert set(codes) == {200, 503} and codes[:2] == [200, 200], codes
        busy = next(a for a in answers if a.status_code == 503)
        assert busy.exception is None and "queue is full" in busy.error
        with ThreadPoolExecutor(8) as pool:
            sync = list(
                pool.map(
                    lambda i: requests.get(f"{tight.base}/long.mp4?vframe/jpg/offset/{200 + i}", timeout=60), range(8)
                )
            )
        statuses = sorted(r.status_code for r in sync)
        assert 503 in statuses and set(statuses) <= {200, 503}, statuses
        assert all(r.headers.get("Retry-After") == "1" for r in sync if r.status_code == 503)
        assert requests.get(tight.base + "/health", timeout=5).status_code == 200
    finally:
        tight.stop()


def test_kill9_mid_job_then_restart_completes_and_notifies(
    tmp_path: Path, auth: qiniu.Auth, receiver: Receiver, media: Path
) -> None:
    crash = make_server(tmp_path, workers=1)
    crash.start()
    long = media / "h264_cbaseline_1080p_6min_gop250_lowbitrate.mp4"
    ret, info = qiniu.put_file(upload_token(auth, BUCKET, "crash.mp4"), "crash.mp4", str(long))
    assert info.status_code == 200
    specs = [f"vframe/jpg/offset/{100 + 40 * i}/w/320" for i in range(4)]
    ids = []
    for job in range(3):
        fops = [op_save(s, BUCKET, f"crash/{job}/{i}.jpg") for i, s in enumerate(specs)]
        ret, info = PersistentFop(auth, BUCKET, notify_url=f"{receiver.url}/crash{job}").execute("crash.mp4", fops)
        assert info.status_code == 200, info
        ids.append(ret["persistentId"])
    # Kill while the first job is being processed, with at least one item done.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, _ = PersistentFop(auth, BUCKET).get_status(ids[0])
        if status["code"] == 2 and any(i["code"] == 0 for i in status["items"]):
            break
        time.sleep(0.01)
    assert status["code"] == 2, status
    crash.kill9()
    assert not receiver.received("/crash2"), "the last job had not finished at the kill"
    crash.start()
    for job, pid in enumerate(ids):
        [body] = receiver.wait(f"/crash{job}", timeout=120)
        assert body["id"] == pid and body["code"] == 0, body
        assert [i["code"] for i in body["items"]] == [0] * len(specs)
        assert [i["returnOld"] for i in body["items"]] == [0] * len(specs), "as if nothing happened"
        for i, spec in enumerate(specs):
            saved = requests.get(f"{crash.base}/crash/{job}/{i}.jpg", timeout=30).content
            assert saved == engine_thumbnail(long, spec), (job, i)
    crash.stop()
    leftovers = [p for p in (crash.data / "spool").iterdir()]
    assert leftovers == []


@pytest.mark.parametrize("stderr", ["closed pipe", "/dev/full", "pipe nobody reads"])
def test_an_unwritable_log_never_stops_requests_or_jobs(
    tmp_path: Path, auth: qiniu.Auth, small_video: Path, stderr: str
) -> None:
    """stderr whose reader has exited (`vframe-server 2>&1 | logger`, the logger dead), on a
    full disk, or blocked (a reader that stopped reading): every request and job completes,
    the lines that could not be written are dropped and counted."""
    if stderr == "/dev/full":
        sink = os.open("/dev/full", os.O_WRONLY)
    else:
        reader, sink = os.pipe()
        if stderr == "closed pipe":
            os.close(reader)
        else:
            fcntl.fcntl(sink, fcntl.F_SETPIPE_SZ, 4096)
    s = make_server(tmp_path, workers=2)
    s.stderr = sink
    s.start()
    os.close(sink)
    try:
        s.point_sdk()
        spec = "vframe/jpg/offset/1/w/64"
        token = upload_token(auth, BUCKET, "log.mp4", persistentOps=op_save(spec, BUCKET, "log/up.jpg"))
        ret, info = qiniu.put_file(token, "log.mp4", str(small_video))
        assert info.status_code == 200 and ret["persistentId"], info
        assert wait_done(ret["persistentId"], auth, timeout=30)["code"] == 0
        # More jobs than workers, then sync requests: no worker was lost to a log line.
        for n in range(6):
            ret, info = PersistentFop(auth, BUCKET).execute("log.mp4", [op_save(spec, BUCKET, f"log/{n}.jpg")])
            assert info.status_code == 200, info
            assert wait_done(ret["persistentId"], auth, timeout=30)["code"] == 0
        expected = engine_thumbnail(small_video, spec)
        with requests.Session() as session:
            for _ in range(4):
                assert session.get(f"{s.base}/log.mp4?{spec}", timeout=30).content == expected
            # Enough requests to fill the pipe and the log queue behind it.
            for _ in range(1500 if stderr == "pipe nobody reads" else 50):
                assert session.get(s.base + "/health", timeout=10).status_code == 200
        assert get(s, "log/5.jpg").content == expected
        assert s.metric("vframe_log_lines_dropped_total") > 0
    finally:
        s.stop()
        if stderr == "pipe nobody reads":
            os.close(reader)
    assert s.proc is not None and s.proc.returncode == 0, "a clean stop"


def test_start_contract_errors(tmp_path: Path) -> None:
    import subprocess

    from conftest import SERVER

    env = {k: v for k, v in os.environ.items() if not k.startswith("VFRAME_")}
    r = subprocess.run([str(SERVER), "--data", str(tmp_path)], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "VFRAME_ACCESS_KEY" in r.stderr
    r = subprocess.run([str(SERVER), "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "--domain" in r.stdout and "--private" in r.stdout


def test_a_lost_database_moves_object_files_aside_never_deletes_them(tmp_path: Path, auth: qiniu.Auth) -> None:
    s = make_server(tmp_path)
    s.start()
    payloads = {f"kept{i}.bin": os.urandom(1000 + i) for i in range(3)}
    for key, data in payloads.items():
        ret, info = qiniu.put_data(upload_token(auth, BUCKET, key), key, data)
        assert info.status_code == 200, info
    s.stop()
    for name in ["vframe.db", "vframe.db-wal", "vframe.db-shm"]:
        (s.data / name).unlink(missing_ok=True)
    s.start()
    assert requests.get(f"{s.base}/kept0.bin", timeout=10).status_code == 404
    s.stop()
    kept = sorted(p.read_bytes() for p in (s.data / "orphans").rglob("*") if p.is_file())
    assert kept == sorted(payloads.values()), "every object's bytes are still on disk"
    assert s.log is not None
    log = re.sub(r"\x1b\[[0-9;]*m", "", s.log.read_text())
    assert "no database row names" in log and "count=3" in log and str(s.data / "orphans") in log, log


def test_a_signed_private_url_opens_only_the_key_it_names(sdk: Server, auth: qiniu.Auth) -> None:
    qiniu.put_data(upload_token(auth, PRIVATE, "my file.txt"), "my file.txt", b"shared by the owner")
    qiniu.put_data(upload_token(auth, PRIVATE, "my%20file.txt"), "my%20file.txt", b"SECRET: never shared")
    shared = auth.private_download_url(f"http://localhost:{sdk.port}/my%20file.txt", expires=300)
    assert requests.get(shared, timeout=10).content == b"shared by the owner"
    # The same token on the target whose key (decoded once) is `my%20file.txt`: refused.
    evil = requests.get(shared.replace("/my%20file.txt", "/my%2520file.txt"), timeout=10)
    assert evil.status_code == 401 and b"SECRET" not in evil.content
    # Signed with the key unencoded (the client encodes the space): still the same key.
    unencoded = auth.private_download_url(f"http://localhost:{sdk.port}/my file.txt", expires=300)
    assert requests.get(unencoded, timeout=10).content == b"shared by the owner"


def test_a_refused_mkfile_keeps_its_blocks_for_a_retry(sdk: Server, auth: qiniu.Auth) -> None:
    qiniu.put_data(upload_token(auth, BUCKET, "mk.bin"), "mk.bin", b"old")
    insert_only = {"Authorization": "UpToken " + upload_token(auth, BUCKET)}
    block = requests.post(f"{sdk.base}/mkblk/5", data=b"hello", headers=insert_only, timeout=10)
    assert block.status_code == 200, block.text
    ctx = block.json()["ctx"]
    mkfile = f"{sdk.base}/mkfile/5/key/{urlsafe_base64_encode('mk.bin')}"
    refused = requests.post(mkfile, data=ctx, headers=insert_only, timeout=10)
    assert refused.status_code == 614, refused.text
    overwrite = {"Authorization": "UpToken " + upload_token(auth, BUCKET, "mk.bin")}
    retried = requests.post(mkfile, data=ctx, headers=overwrite, timeout=10)
    assert retried.status_code == 200, retried.text
    assert get(sdk, "mk.bin").content == b"hello"
    # Once stored, the blocks are gone.
    assert requests.post(mkfile, data=ctx, headers=overwrite, timeout=10).status_code == 701


def test_slow_clients_cannot_hold_the_connections(tmp_path: Path, auth: qiniu.Auth) -> None:
    """Slowloris: bodies trickled a byte at a time, a connection that never sends, a client that
    never reads its answer. Each is cut within its configured time, so the slots come free."""
    paced = make_server(
        tmp_path,
        limits="max_connections = 4\nheader_timeout_ms = 1000\nbody_timeout_ms = 1000\n"
        "body_min_rate = 1000\nwrite_stall_ms = 1000",
    )
    paced.start()
    try:
        big = os.urandom(40 * 1024 * 1024)
        ret, info = qiniu.put_data(upload_token(auth, BUCKET, "big.bin"), "big.bin", big)
        assert info.status_code == 200, info

        def trickle(path: str, headers: str, answers: list[bytes]) -> None:
            """Sends a request's headers, then its body a byte every 0.3 s; keeps what comes back."""
            with paced.connect() as s:
                s.sendall(
                    f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n{headers}\r\n".encode()
                )
                s.settimeout(0.3)
                answer = b""
                for _ in range(200):  # 60 s at most
                    try:
                        s.send(b"-")
                    except OSError:
                        pass
                    try:
                        chunk = s.recv(65536)
                    except TimeoutError:
                        continue
                    except OSError:
                        break
                    if not chunk:
                        break
                    answer += chunk
                answers.append(answer)

        token = upload_token(auth, BUCKET)
        answers: list[bytes] = []
        bodies = [
            ("/", "Content-Type: multipart/form-data; boundary=b\r\n"),
            ("/pfop", "Content-Type: application/x-www-form-urlencoded\r\n"),
            ("/mkblk/100000", f"Authorization: UpToken {token}\r\nContent-Type: application/octet-stream\r\n"),
            ("/pfop", "Content-Type: application/x-www-form-urlencoded\r\n"),
        ]
        time.sleep(1.5)  # the upload's keep-alive connection is closed by the header timeout
        started = time.monotonic()
        threads = [threading.Thread(target=trickle, args=(path, headers, answers)) for path, headers in bodies]
        for t in threads:
            t.start()
        time.sleep(0.3)
        # Every slot is held by a trickled body; the server must still answer within seconds.
        health = requests.get(paced.base + "/health", timeout=30)
        assert health.status_code == 200
        assert time.monotonic() - started < 6
        for t in threads:
            t.join(timeout=60)
        assert len(answers) == len(bodies)
        for answer in answers:
            assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
            assert b"too slowly (under 1000 bytes/s)" in answer, answer
        # A connection that says nothing is closed by the header timeout.
        with paced.connect() as idle:
            started = time.monotonic()
            assert idle.recv(1024) == b""
            assert time.monotonic() - started < 5

        # A client that asks for 40 MB and reads none of it is cut within 4 stall times (plus
        # what its kernel took at first): it finds only what the sockets held.
        with paced.connect() as s:
            s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            time.sleep(10)
            s.settimeout(10)
            got = len(read_until_closed(s))
            assert 0 < got < len(big) // 2, got

        # One that reads steadily at 128 kB/s, far above the rate, though its 200 kB buffer
        # opens its window only in steps longer apart than the stall time, is not cut: after
        # 8 s of that it reads the rest at full speed, and gets it all.
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 200_000)
            s.settimeout(30)
            s.connect(("127.0.0.1", paced.port))
            s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            got, until = 0, time.monotonic() + 8
            while time.monotonic() < until:
                got += len(s.recv(65536))
                time.sleep(0.5)
            while chunk := s.recv(1 << 20):
                got += len(chunk)
                if got > len(big):
                    break
            assert got > len(big), f"cut after {got} bytes"
        # One that reads at full speed gets it all.
        assert requests.get(paced.base + "/big.bin", timeout=60).content == big
    finally:
        paced.stop()


def test_connections_per_address_and_per_connection_bounds(tmp_path: Path) -> None:
    """One address may hold max_connections_per_ip connections (more get 503 at once); a connection
    closes after max_requests_per_connection requests, or at its first answer past keepalive_time."""
    bounded = make_server(
        tmp_path, limits="max_connections_per_ip = 2\nmax_requests_per_connection = 3\nkeepalive_time_ms = 1000"
    )
    bounded.start()

    def refused_at_once(s: socket.socket) -> bool:
        # A refused connection gets its 503 (or is closed) at once; an admitted one, nothing.
        s.settimeout(0.2)
        try:
            s.recv(1, socket.MSG_PEEK)
            return True
        except TimeoutError:
            return False
        finally:
            s.settimeout(10)

    def two_admitted() -> tuple[socket.socket, socket.socket]:
        # The /health call of start() may hold its share a moment after it closed (the server
        # has yet to see the close): until both are admitted, again.
        for _ in range(50):
            pair = bounded.connect(10), bounded.connect(10)
            if not any(refused_at_once(s) for s in pair):
                return pair
            for s in pair:
                s.close()
            time.sleep(0.2)
        raise AssertionError("two connections were never admitted at once")

    try:
        first, second = two_admitted()
        with bounded.connect(10) as third:
            refused = read_until_closed(third)
        assert refused.startswith(b"HTTP/1.1 503 "), refused
        assert b"Retry-After: 1" in refused and b"too many connections from this address" in refused
        first.close()
        time.sleep(0.3)
        assert requests.get(bounded.base + "/health", timeout=10).status_code == 200
        second.close()
        time.sleep(0.3)

        with bounded.connect(10) as pipelined:
            pipelined.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" * 5)
            answers = read_until_closed(pipelined)
        assert answers.count(b"HTTP/1.1 200 ") == 3, answers
        assert answers.lower().count(b"connection: close") == 1

        aging = http.client.HTTPConnection("127.0.0.1", bounded.port, timeout=10)
        aging.request("GET", "/health")
        young = aging.getresponse()
        young.read()
        assert young.getheader("connection") is None
        time.sleep(1.1)
        aging.request("GET", "/health")
        old = aging.getresponse()
        old.read()
        assert old.status == 200 and old.getheader("connection") == "close"
        aging.close()
    finally:
        bounded.stop()
