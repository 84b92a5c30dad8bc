"""The OpenDSS engine survives a process that changes its environment after loading it.

Free Pascal keeps the environment array it was loaded with; glibc frees that array when a
variable is added. Without app.twin.dsslib's pin, the script below dies with SIGSEGV when a new
thread first calls into the engine (it did, in CI, under pytest's PYTEST_CURRENT_TEST).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import os, threading
os.environ["GRIDTWIN_T0"] = "1"            # environ now lives in glibc's own heap array
from app.twin.engine import TwinEngine
for i in range(300):                       # grow it: realloc moves and frees the old array
    os.environ[f"GRIDTWIN_T{i + 1}"] = "x" * 64
errors = []
def solve():
    try:
        eng = TwinEngine(CIRCUIT)
        eng.solve()
    except Exception as exc:               # noqa: BLE001
        errors.append(repr(exc))
for _ in range(4):
    t = threading.Thread(target=solve)
    t.start()
    t.join()
print("ok" if not errors else errors)
"""


def test_engine_in_new_threads_after_environment_grows(station):
    code = f"CIRCUIT = {str(station.circuit_path)!r}\n" + SCRIPT
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, f"exit {r.returncode}: {r.stderr[-2000:]}"
    assert r.stdout.strip().endswith("ok"), r.stdout
