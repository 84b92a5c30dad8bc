#!/usr/bin/env bash
# `make package`: the PyInstaller one-folder bundle dist/gridtwin/, a .tar.gz of it and a .deb
# (/opt/gridtwin, `gridtwin` on the PATH, a desktop entry and icon, the Debian libraries Qt and
# OpenGL need as Depends). Prints the sizes, the ten largest parts and the time it took.
# Usage: packaging/build.sh [PYTHON]   (PYTHON: the environment with every package and
# PyInstaller; default .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-.venv/bin/python}"
t0=$(date +%s)
version=$("$PY" -c 'from importlib import metadata; print(metadata.version("gridtwin"))')
commit=$(git rev-parse --short=10 HEAD 2>/dev/null || echo unknown)
if [ "$commit" != unknown ] && [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  commit="$commit+dirty"
fi
arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
work=build/package
mkdir -p "$work" dist

# The commit, baked in: the bundle has no .git (app.version reads app._build first).
trap 'rm -f app/_build.py' EXIT
printf '"""Written by packaging/build.sh; not in git."""\n\nCOMMIT = "%s"\n' "$commit" > app/_build.py

echo "== the VTK files the 3D view loads (the rest of vtkmodules stays out)"
if PYTHONPATH="$PWD" "$PY" packaging/vtk_used.py "$work/vtk-used.txt"; then
  export GRIDTWIN_VTK_USED="$PWD/$work/vtk-used.txt"
else
  echo "   the off-screen render failed here: all of vtkmodules goes in" >&2
  unset GRIDTWIN_VTK_USED
fi

echo "== PyInstaller: dist/gridtwin/ (gridtwin $version, commit $commit)"
nice -n 10 "$PY" -m PyInstaller --noconfirm --log-level WARN --distpath dist \
  --workpath "$work/pyinstaller" packaging/gridtwin.spec
rm -f app/_build.py

# Symbol tables nothing reads at run time (libtorch_cpu alone: 434 → 345 MB). The dynamic
# symbols stay (--strip-unneeded); a library strip would leave unloadable is left as it is
# (packaging/strip-libs.sh); the bootloader is not touched.
echo "== strip the shared libraries"
before=$(du -sm dist/gridtwin | cut -f1)
find dist/gridtwin/_internal -type f \( -name '*.so' -o -name '*.so.*' \) -print0 |
  nice -n 10 xargs -0 -P 2 -n 16 packaging/strip-libs.sh
echo "   $before MB -> $(du -sm dist/gridtwin | cut -f1) MB"
t_bundle=$(date +%s)

echo "== dist/gridtwin-$version-linux-x86_64.tar.gz"
tarball="dist/gridtwin-$version-linux-x86_64.tar.gz"
tar -C dist -cf - gridtwin | nice -n 10 gzip -6 > "$tarball"
t_tar=$(date +%s)

echo "== dist/gridtwin_${version}_${arch}.deb"
root="$work/deb"
rm -rf "$root"
mkdir -p "$root/DEBIAN" "$root/opt" "$root/usr/bin" "$root/usr/share/applications" \
         "$root/usr/share/icons/hicolor/scalable/apps"
cp -a dist/gridtwin "$root/opt/gridtwin"
# A wrapper, not a symlink: the bundle finds its files next to the real binary.
printf '#!/bin/sh\nexec /opt/gridtwin/gridtwin "$@"\n' > "$root/usr/bin/gridtwin"
chmod 755 "$root/usr/bin/gridtwin"
cp packaging/gridtwin.desktop "$root/usr/share/applications/gridtwin.desktop"
cp resources/icons/gridtwin.svg "$root/usr/share/icons/hicolor/scalable/apps/gridtwin.svg"
installed_kb=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$installed_kb/" \
  packaging/debian/control.in > "$root/DEBIAN/control"
deb="dist/gridtwin_${version}_${arch}.deb"
nice -n 10 dpkg-deb --root-owner-group -Zzstd -z9 --build "$root" "$deb" >/dev/null
rm -rf "$root"
t_deb=$(date +%s)

echo "== sizes"
"$PY" packaging/sizes.py dist/gridtwin "$tarball" "$deb"
echo "== time: bundle $((t_bundle - t0)) s, tar.gz $((t_tar - t_bundle)) s, .deb $((t_deb - t_tar)) s;" \
     "total $((t_deb - t0)) s"
