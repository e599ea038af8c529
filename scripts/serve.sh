#!/usr/bin/env bash
# `make serve`: starts vframe-server on SERVE_LISTEN with its data in SERVE_DATA. Credentials
# come from VFRAME_ACCESS_KEY/VFRAME_SECRET_KEY; when unset, demo credentials are made once
# (random), kept next to the data directory, and printed. Extra arguments go to the server.
set -euo pipefail
cd "$(dirname "$0")/.."
listen=${SERVE_LISTEN:-127.0.0.1:8080}
data=${SERVE_DATA:-target/serve-data}
mkdir -p "$data"
if [ -z "${VFRAME_ACCESS_KEY:-}" ] || [ -z "${VFRAME_SECRET_KEY:-}" ]; then
    creds="$data.credentials"
    if [ ! -f "$creds" ]; then
        umask 077
        printf 'VFRAME_ACCESS_KEY=demo-%s\nVFRAME_SECRET_KEY=%s\n' \
            "$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
            "$(head -c 30 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')" > "$creds"
    fi
    set -a; . "./$creds"; set +a
    echo "serve: demo credentials (from $creds):"
    echo "serve:   access key $VFRAME_ACCESS_KEY"
    echo "serve:   secret key $VFRAME_SECRET_KEY"
fi
echo "serve: data in $data; bucket 'videos' is the default download bucket"
exec target/release/vframe-server --listen "$listen" --data "$data" --default-bucket videos "$@"
