#!/usr/bin/env bash
# Install the .deb on a bare Debian 12 and run the smoke test there (as root).
#
# A minimal root filesystem (debootstrap --variant=minbase bookworm; made once and kept as
# BASE) is copied to a scratch root; apt-get installs the package there with
# --no-install-recommends, so only its declared Depends come in (the test of that line);
# /proc, /sys and /dev are mounted for the run and unmounted after, however it ends; then
# packaging/smoke.sh runs `gridtwin` from the PATH inside, and its screenshot is copied out.
# Usage: packaging/debian-test.sh DEB [BASE] [WORK]
#   BASE default build/debian12-base, WORK default build/debian12-test (removed after).
set -euo pipefail
cd "$(dirname "$0")/.."
deb="$(realpath "$1")"
base="${2:-build/debian12-base}"
work="${3:-build/debian12-test}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
[ "$(id -u)" -eq 0 ] || { echo "debian-test: needs root (debootstrap, chroot, mount)" >&2; exit 1; }
command -v debootstrap >/dev/null || ./packaging/debian-deps.sh debootstrap

if [ ! -x "$base/bin/sh" ]; then
  echo "== debootstrap minbase bookworm into $base"
  debootstrap --variant=minbase bookworm "$base" "$mirror" >/dev/null
fi
echo "== scratch root $work (a copy of $base)"
rm -rf "$work"
cp -a "$base" "$work"
mounted=()
cleanup() {
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" || true; done
  rm -rf "$work"
}
trap cleanup EXIT
mount -t proc proc "$work/proc" && mounted+=("$work/proc")
mount -t sysfs sys "$work/sys" && mounted+=("$work/sys")
mount --bind /dev "$work/dev" && mounted+=("$work/dev")
mount -t tmpfs -o mode=1777 shm "$work/dev/shm" && mounted+=("$work/dev/shm")
cp /etc/resolv.conf "$work/etc/resolv.conf"
cp "$deb" "$work/var/tmp/"
cp packaging/smoke.sh "$work/var/tmp/smoke.sh"

echo "== apt-get install ./$(basename "$deb") (declared Depends only)"
t0=$(date +%s)
chroot "$work" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
  sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends \
         /var/tmp/$(basename "$deb") >/var/tmp/apt.log 2>&1 || { tail -20 /var/tmp/apt.log; exit 1; }"
echo "   installed in $(( $(date +%s) - t0 )) s (download included);" \
     "$(chroot "$work" dpkg-query -W -f='${Installed-Size}' gridtwin) kB for gridtwin itself"
chroot "$work" sh -c 'command -v gridtwin && ls /usr/share/applications/gridtwin.desktop \
  /usr/share/icons/hicolor/scalable/apps/gridtwin.svg'

echo "== shared libraries the installed bundle cannot resolve (ldd, the bundle's folder searched)"
chroot "$work" sh -c 'find /opt/gridtwin -name "*.so*" -type f | while read -r f; do
    LD_LIBRARY_PATH=/opt/gridtwin/_internal ldd "$f" 2>/dev/null | sed -n "s|^\t\(.*\) => not found|\1 (needed by ${f#/opt/gridtwin/_internal/})|p"
  done' | sort > "$work/var/tmp/unresolved.txt"
# Every library of the bundle must resolve against the bundle and the declared Depends (the
# xcb platform plugin of the desktop included, which the headless smoke test never loads).
if [ -s "$work/var/tmp/unresolved.txt" ]; then
  sed 's/^/   /' "$work/var/tmp/unresolved.txt"
  echo "debian-test: libraries the bundle does not carry and the Depends do not bring" >&2
  exit 1
fi
echo "   none"

echo "== smoke test inside the bare Debian 12"
chroot "$work" /bin/sh /var/tmp/smoke.sh /usr/bin/gridtwin /var/tmp/smoke
mkdir -p build/package
cp "$work/var/tmp/smoke/hmi.png" build/package/debian12-hmi.png
cp "$work/var/tmp/smoke/home/.local/state/gridtwin/log/gridtwin.log" build/package/debian12-gridtwin.log
echo "debian-test: passed (screenshot build/package/debian12-hmi.png)"
