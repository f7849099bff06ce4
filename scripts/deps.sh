#!/usr/bin/env bash
# scripts/deps.sh — installs everything the build and the tests need on Debian 12 (run as root
# or with sudo available). Idempotent. Called by `make deps` and .ci/run.
set -eu
SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
PKGS="build-essential pkg-config clang libclang-rt-14-dev
  libzmq3-dev libmsgpack-dev liblz4-dev lz4 libopenblas-dev libdnnl-dev libpcre2-dev libjansson-dev libsodium-dev libmicrohttpd-dev
  python3 python3-numpy python3-msgpack python3-lz4 python3-zmq
  bc curl util-linux bible-kjv fortunes fortunes-de fortunes-ru fortunes-zh python3-doc iproute2"
missing=
command -v npm >/dev/null 2>&1 || missing="nodejs npm"
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -f "$here/tests/npm/package.json" ]; then
    (cd "$here/tests/npm" && npm install --no-audit --no-fund --silent >/dev/null)
fi
echo "deps: ok"
