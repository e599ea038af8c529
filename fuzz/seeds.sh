#!/usr/bin/env bash
# Writes the fuzzers' seed corpora into fuzz/seeds/<target> (not committed): the tiny
# fixtures of scripts/fixtures.sh (a few KB each, one per container and codec), the
# playlist and indirection formats vframe must refuse, and a set of spec strings.
# Idempotent and quick.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
fixtures=$("$root/scripts/fixtures.sh" "$root/target/fixtures")
case $fixtures in /*) ;; *) fixtures="$root/$fixtures" ;; esac

media="$here/seeds/extract_memory"
mkdir -p "$media"
cp "$fixtures"/tiny_* "$media/"
printf '#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n/etc/passwd\n#EXT-X-ENDLIST\n' >"$media/hls.m3u8"
printf 'ffconcat version 1.0\nfile subfile,,start,0,end,4096,,:/etc/passwd\n' >"$media/concat.ffconcat"
printf '<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static"><Period><AdaptationSet><Representation id="1" bandwidth="1"><BaseURL>/etc/passwd</BaseURL></Representation></AdaptationSet></Period></MPD>\n' >"$media/dash.mpd"
printf 'YUV4MPEG2 W65535 H65535 F25:1 C420jpeg\nFRAME\n' >"$media/huge.y4m"

specs="$here/seeds/spec_parse"
mkdir -p "$specs"
i=0
for s in 'vframe/jpg/offset/7' 'vframe/png/offset/0.04/w/480/h/360' '?vframe/jpeg/offset/3600.125/rotate/auto' \
         'vframe/jpg/offset/7/rotate/90/h/2160/w/3840' 'vframe/jpg/offset/9999999.9995' 'vframe/png/offset/1/rotate/0' \
         'vframe/jpg/w/1/offset/00000000000.5' 'vframe/jpg/offset/7/w/0' 'vframe/gif/offset/1' 'vframe//offset/1/'; do
    printf '%s' "$s" >"$specs/seed-$i"
    i=$((i + 1))
done
# vframe-server's parsers.
mkdir -p "$here/seeds/server_fops" "$here/seeds/server_multipart" "$here/seeds/server_resumable" "$here/seeds/server_tokens"
printf 'vframe/jpg/offset/7/w/480|saveas/dmlkZW9zOnRodW1icy9hLmpwZw==;avthumb/mp4;vframe/png/offset/1' >"$here/seeds/server_fops/seed-0"
printf -- '--XX\r\nContent-Disposition: form-data; name="token"\r\n\r\nak:sig:e30=\r\n--XX\r\nContent-Disposition: form-data; name="key"\r\n\r\na.mp4\r\n--XX\r\nContent-Disposition: form-data; name="file"; filename="a.mp4"\r\nContent-Type: video/mp4\r\n\r\nDATA\r\n--XX--\r\n' >"$here/seeds/server_multipart/seed-0"
printf 'bucket=videos&key=a.mp4&fops=vframe%%2Fjpg%%2Foffset%%2F1&notifyURL=http%%3A%%2F%%2Fh%%2Fn&force=1' >"$here/seeds/server_multipart/seed-1"
printf '/mkfile/10/key/YS5tcDQ=/x:a/MQ==' >"$here/seeds/server_resumable/seed-0"
printf '/buckets/videos/objects/YS5tcDQ=/uploads/0123456789abcdef0123456789abcdef/3' >"$here/seeds/server_resumable/seed-1"
printf '{"parts":[{"etag":"e","partNumber":1}],"fname":"a","mimeType":"video/mp4","metadata":{"x-qn-meta-a":"1"}}' >"$here/seeds/server_resumable/seed-2"
printf '{"scope":"videos:a.mp4","deadline":1,"persistentOps":"vframe/jpg/offset/1","isPrefixalScope":0}' >"$here/seeds/server_tokens/seed-0"
printf '/a.mp4?vframe/jpg/offset/1&e=100&token=ak:c2lnbmF0dXJl' >"$here/seeds/server_tokens/seed-1"
echo "$here/seeds"
