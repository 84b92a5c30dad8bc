#!/bin/sh
# The packaged program's smoke test: run it from a scratch directory with an empty
# environment (env -i PATH=/usr/bin:/bin HOME=<scratch>): --version, solve --json, the first
# administrator from stdin, and the HMI headless for 15 s against its own field-sim, with a
# screenshot. Fails if any step fails, the screenshot is missing, or the station took more
# than 8 s from the program's start to its first live frame.
# Usage: packaging/smoke.sh GRIDTWIN [SCRATCH_DIR]   (POSIX sh: it runs in a bare Debian too)
set -eu
gt="$1"
scratch="${2:-$(mktemp -d /var/tmp/gridtwin-smoke.XXXXXX)}"
budget_s=8
mkdir -p "$scratch/home"
cd "$scratch"
clean() { env -i PATH=/usr/bin:/bin HOME="$scratch/home" "$@"; }
ms() { date +%s%N | cut -c1-13; }

echo "== gridtwin --version"
t=$(ms); clean "$gt" --version | tee version.txt
echo "   ($(( $(ms) - t )) ms)"
grep -Eq '^gridtwin [0-9][^ ]* \(commit [0-9a-f]{10}' version.txt

echo "== gridtwin solve --json"
t=$(ms); clean "$gt" solve --json > solve.json
echo "   ($(( $(ms) - t )) ms) $(grep -o '"total_load_mw": [0-9.]*' solve.json)"
grep -q '"converged": true' solve.json

echo "== gridtwin users add admin (the first account: the administrator)"
printf 'Kestrel-Busbar-4711-Ops\n' | clean "$gt" users add admin
clean "$gt" users list --json > users.json
grep -q '"role": "admin"' users.json

echo "== gridtwin run --headless --duration 15 --screenshot hmi.png"
t=$(ms)
clean "$gt" run --headless --duration 15 --screenshot "$scratch/hmi.png" 2>run.err | tee run.txt
echo "   ($(( $(ms) - t )) ms in all)"
test -s hmi.png
first=$(sed -n 's/^first live frame \([0-9.]*\) s.*/\1/p' run.txt)
[ -n "$first" ] || { echo "smoke: no first-live-frame line; stderr:" >&2; cat run.err >&2; exit 1; }
awk -v f="$first" -v b="$budget_s" 'BEGIN { exit !(f <= b) }' || {
  echo "smoke: first live frame after $first s: over the $budget_s s budget" >&2; exit 1; }

echo "== first run's folders"
data="$scratch/home/.local/share/gridtwin"
log="$scratch/home/.local/state/gridtwin/log/gridtwin.log"
ls "$data"/*.sqlite
test -s "$log" && echo "$log: $(wc -l < "$log") lines"
grep -o 'first live frame.*\|3D view: .*' "$log" | sed 's/^/   /' || true
echo "smoke: passed (first live frame $first s; screenshot $scratch/hmi.png)"
