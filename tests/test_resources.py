"""One resolver finds the station's data: source checkout, bundle, or an installed wheel."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import app.resources as res

ROOT = Path(__file__).resolve().parent.parent


def test_source_checkout_is_found():
    assert res.circuits_dir() == ROOT / "circuits"
    assert (res.resources_dir() / "single_line" / "station.json").is_file()


def test_home_override_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDTWIN_HOME", str(tmp_path))
    assert res.circuits_dir() == tmp_path / "circuits"


def test_installed_data_path_is_found(tmp_path, monkeypatch):
    """Installed from a wheel there is no checkout next to the package: the data come from
    <prefix>/share/gridtwin."""
    share = tmp_path / "prefix" / "share" / "gridtwin"
    (share / "circuits").mkdir(parents=True)
    (share / "circuits" / "station.toml").write_text("")
    monkeypatch.delenv("GRIDTWIN_HOME", raising=False)
    monkeypatch.setattr(res, "__file__", str(tmp_path / "site" / "app" / "resources.py"))
    monkeypatch.setattr(sysconfig, "get_path", lambda name, scheme=None:
                        str(tmp_path / "prefix") if scheme is None else str(tmp_path / "nope"))
    assert res.circuits_dir() == share / "circuits"
    assert res.resources_dir() == share / "resources"


@pytest.mark.slow
def test_a_non_editable_install_finds_the_station(tmp_path):
    """Build the wheel, install it (no editable link to this checkout) into a fresh prefix,
    and solve the station from a directory far from the source tree."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "screenshots")
    for name in ("app", "ml", "bench", "circuits", "resources"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    r = subprocess.run([*pip, "wheel", str(src), "--no-deps", "--no-build-isolation", "-w",
                        str(tmp_path / "whl")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    wheel = next((tmp_path / "whl").glob("gridtwin-*.whl"))
    # Into a scratch virtual environment of its own: pip run on this environment with
    # --prefix would first uninstall the project's editable install from it (`make run` then
    # found no .venv/bin/gridtwin). `pip --python` installs into the scratch one only.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    vpy = venv / "bin" / "python"
    r = subprocess.run([*pip, "--python", str(vpy), "install", "--no-deps", str(wheel)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    site = Path(subprocess.run([str(vpy), "-c", "import sysconfig; print(sysconfig.get_path("
                                "'purelib'))"], capture_output=True, text=True,
                               check=True).stdout.strip())
    assert (site / "app" / "resources.py").is_file()
    assert (venv / "share" / "gridtwin" / "circuits" / "station.dss").is_file()
    # The scratch environment's own site-packages hold the wheel; this environment's
    # packages come after it for the dependencies (PYTHONPATH processes no .pth files, so this
    # checkout's editable link is not used); the package finds its data under sys.prefix.
    env = {**os.environ, "PYTHONPATH": sysconfig.get_path("purelib"), "GRIDTWIN_STATION": ""}
    env.pop("GRIDTWIN_HOME", None)
    code = ("import sys, app; assert app.__file__.startswith(sys.argv[1]), app.__file__; "
            "from app.cli import main; sys.exit(main(['solve', '--json']))")
    run_dir = tmp_path / "elsewhere"
    run_dir.mkdir()
    r = subprocess.run([str(vpy), "-c", code, str(site)], cwd=run_dir, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["converged"] and 300 <= out["total_load_mw"] <= 350
    # ... and this environment still has the project installed, as `make run` needs it.
    r = subprocess.run([sys.executable, "-m", "pip", "show", "-f", "gridtwin"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "Editable project location" in r.stdout, r.stdout + r.stderr
