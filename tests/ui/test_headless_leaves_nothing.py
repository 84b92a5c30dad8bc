"""A headless run leaves nothing behind in the temporary directory (issue 11: every run left
a ``gridtwin-*`` folder, field-sim logs and 3D probe images)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_headless_run_leaves_nothing_in_its_tmpdir(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    # A folder a killed run left behind (its pid is not running) is swept up as well.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = tmp / f"gridtwin-{dead.pid}-abc123"
    orphan.mkdir()
    (orphan / "field-sim-1.log").write_text("old")
    env = {**os.environ, "TMPDIR": str(tmp), "QT_QPA_PLATFORM": "offscreen",
           "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "app.cli", "run", "--headless", "--duration", "4",
                        "--data-dir", str(tmp_path / "data"), "--screenshot",
                        str(tmp_path / "hmi.png")], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "hmi.png").exists()
    assert sorted(p.name for p in tmp.iterdir()) == []
