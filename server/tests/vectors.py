"""Writes test vectors computed by Qiniu's own Python SDK (JSON on stdout) for the Rust unit
tests (server/tests/sdk_vectors.rs): request signatures (QBox, Qiniu v2), upload tokens,
private download URLs, etags, saveas entries and crc32. Keys and inputs are random per run."""

from __future__ import annotations

import json
import secrets
import sys
import time

import qiniu
from qiniu import utils


def pattern(size: int) -> bytes:
    """The bytes the Rust side regenerates: byte i is (i * 7 + 3) % 251."""
    return bytes((i * 7 + 3) % 251 for i in range(size))


def main() -> None:
    ak = "ak-" + secrets.token_hex(8)
    sk = secrets.token_urlsafe(30)
    auth = qiniu.Auth(ak, sk)
    mac = qiniu.QiniuMacAuth(ak, sk)
    host = f"127.0.0.1:{secrets.randbelow(60000) + 1024}"
    form = (
        "bucket=videos&key=" + secrets.token_hex(4) + ".mp4&fops=vframe%2Fjpg%2Foffset%2F7%7Csaveas%2FdjprLmpwZw%3D%3D"
    )
    qbox = []
    for path, body, ctype in [
        ("/pfop", form, "application/x-www-form-urlencoded"),
        ("/status/get/prefop?id=z0.abc", None, None),
        ("/pfop/?x=1&y=%7C", '{"a":1}', "application/json"),
    ]:
        token = auth.token_of_request(f"http://{host}{path}", body, ctype)
        qbox.append(
            {"path_and_query": path, "content_type": ctype, "body": body or "", "authorization": "QBox " + token}
        )
    v2 = []
    for method, path, ctype, headers, body in [
        ("POST", "/pfop/", "application/x-www-form-urlencoded", {"X-Qiniu-Date": "20260101T000000Z"}, form),
        ("GET", "/status/get/prefop?id=z0.x", None, {}, ""),
        (
            "PUT",
            "/buckets/b/objects/~/uploads",
            "application/octet-stream",
            {"X-Qiniu-Zeta": "z", "X-Qiniu-Alpha": "a b"},
            "binary",
        ),
        ("POST", "/x", "application/json", {"X-Qiniu-": "not a qiniu header"}, '{"k":"v"}'),
    ]:
        token = mac.token_of_request(method, host, f"http://{host}{path}", mac.qiniu_headers(headers), ctype, body)
        v2.append(
            {
                "method": method,
                "path_and_query": path,
                "host": host,
                "content_type": ctype,
                "headers": headers,
                "body": body,
                "authorization": "Qiniu " + token,
            }
        )
    uploads = []
    for bucket, key, policy in [
        ("videos", None, None),
        ("videos", "视频/a b.mp4", None),
        ("videos", "in/", {"isPrefixalScope": 1}),
        (
            "videos",
            "k.mp4",
            {
                "persistentOps": "vframe/jpg/offset/1;vframe/png/offset/2",
                "persistentNotifyUrl": "http://127.0.0.1:9/n",
                "insertOnly": 1,
            },
        ),
    ]:
        token = auth.upload_token(bucket, key, 3600, policy)
        _, _, decoded = qiniu.Auth.up_token_decode(token)
        uploads.append({"token": token, "policy": decoded})
    downloads = []
    for url in [
        f"http://{host}/a.mp4",
        f"http://{host}/dir/a%20b.mp4?vframe/jpg/offset/7/w/480",
        f"http://{host}/k?vframe/jpg/offset/1|saveas/YTpi",
    ]:
        signed = auth.private_download_url(url, expires=3600)
        downloads.append({"url": signed, "host": host, "target": signed.split(host, 1)[1]})
    sizes = [0, 1, 4 * 1024 * 1024 - 1, 4 * 1024 * 1024, 4 * 1024 * 1024 + 1, 9 * 1024 * 1024 + 5]
    etags = [{"size": n, "etag": utils.etag_stream(__import__("io").BytesIO(pattern(n)))} for n in sizes]
    crcs = [{"size": n, "crc32": utils.crc32(pattern(n))} for n in [0, 1, 1000, 65537]]
    saves = []
    for bucket, key in [("videos", "thumbs/a.jpg"), ("b-2", "中文 key.png"), ("b", "x:y")]:
        saves.append(
            {
                "fop": qiniu.op_save("vframe/jpg/offset/1", bucket, key),
                "bucket": bucket,
                "key": key,
                "entry": utils.entry(bucket, key),
            }
        )
    json.dump(
        {
            "sdk": qiniu.__version__,
            "generated": int(time.time()),
            "access_key": ak,
            "secret_key": sk,
            "qbox": qbox,
            "qiniu": v2,
            "upload_tokens": uploads,
            "downloads": downloads,
            "etags": etags,
            "crc32": crcs,
            "saveas": saves,
        },
        sys.stdout,
        ensure_ascii=False,
        indent=1,
    )


if __name__ == "__main__":
    main()
