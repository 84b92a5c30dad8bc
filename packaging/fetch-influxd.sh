#!/usr/bin/env bash
# Unpack Debian's InfluxDB 1.x server into .cache/influxdb (no system install), for the
# historian's InfluxDB backend tests. Usage: packaging/fetch-influxd.sh [DEST]
set -euo pipefail
dest="${1:-.cache/influxdb}"
[ -x "$dest/usr/bin/influxd" ] && exit 0
command -v apt-get >/dev/null 2>&1 || { echo "apt-get not available: skipping influxd" >&2; exit 0; }
mkdir -p "$dest"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
( cd "$tmp" && (apt-get download -qq influxdb 2>/dev/null || { apt-get update -qq && apt-get download -qq influxdb; }) )
dpkg-deb -x "$tmp"/influxdb_*.deb "$dest"
echo "influxd unpacked into $dest"
