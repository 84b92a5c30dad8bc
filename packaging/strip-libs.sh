#!/usr/bin/env bash
# Strip the symbol tables of the bundle's shared libraries, each only if it stays loadable.
# `strip` rewrites the layout of a library that patchelf edited (auditwheel's *.libs/ folders):
# numpy's OpenBLAS came out with LOAD segments the loader refuses ("ELF load command
# address/offset not page-aligned"). So each file is stripped to a copy, the copy's LOAD
# segments are checked (offset ≡ address modulo alignment), and only a good copy replaces it.
# Usage: packaging/strip-libs.sh FILE…   (run through xargs -P for parallelism)
set -uo pipefail
aligned() {
  local n=0 type off va rest al
  while read -r type off va rest; do
    [ "$type" = LOAD ] || continue
    al=${rest##* }
    n=$((n + 1))
    (( al > 1 && (off % al) != (va % al) )) && return 1
  done < <(readelf -lW "$1" 2>/dev/null)
  [ "$n" -gt 0 ]
}
for f in "$@"; do
  tmp="$f.strip-tmp"
  cp -p "$f" "$tmp" || continue
  if strip --strip-unneeded "$tmp" 2>/dev/null && aligned "$tmp" &&
     [ "$(stat -c %s "$tmp")" -lt "$(stat -c %s "$f")" ]; then
    mv "$tmp" "$f"
  else
    rm -f "$tmp"
  fi
done
