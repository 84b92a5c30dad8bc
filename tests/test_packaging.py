"""The packaging scripts' own logic (packaging/): the build itself is `make package`, and the
bundle is tested by `make package-test` (smoke test, bare Debian 12), not here."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STRIP = ROOT / "packaging" / "strip-libs.sh"


def _load_aligned(path: Path) -> bool:
    """The LOAD segments' offsets agree with their addresses modulo alignment (what the
    dynamic loader requires)."""
    out = subprocess.run(["readelf", "-lW", str(path)], capture_output=True, text=True,
                         check=True).stdout
    loads = [line.split() for line in out.splitlines() if line.split()[:1] == ["LOAD"]]
    return bool(loads) and all(int(f[1], 16) % int(f[-1], 16) == int(f[2], 16) % int(f[-1], 16)
                               for f in loads)


def _lib(pattern: str) -> Path:
    site = Path(np_file()).parent.parent
    found = sorted(site.glob(pattern))
    if not found:
        pytest.skip(f"no {pattern} in this environment")
    return found[0]


def np_file() -> str:
    import numpy

    return numpy.__file__


@pytest.mark.skipif(not (shutil.which("strip") and shutil.which("readelf")),
                    reason="binutils (strip, readelf) not installed")
def test_strip_keeps_a_library_strip_would_break_and_strips_the_others(tmp_path):
    # numpy's OpenBLAS was edited by patchelf (auditwheel): `strip` leaves its LOAD segments
    # misaligned and the loader refuses it; torch's libc10 strips cleanly.
    blas = tmp_path / "blas.so"
    shutil.copy(_lib("numpy.libs/libscipy_openblas*.so"), blas)
    c10 = tmp_path / "c10.so"
    shutil.copy(_lib("torch/lib/libc10.so"), c10)
    plain = subprocess.run(["strip", "--strip-unneeded", "-o", str(tmp_path / "x.so"),
                            str(blas)], capture_output=True)
    if plain.returncode == 0 and _load_aligned(tmp_path / "x.so"):
        pytest.skip("this numpy's OpenBLAS strips cleanly: nothing to guard against")
    before = {p: p.read_bytes() for p in (blas, c10)}
    subprocess.run(["bash", str(STRIP), str(blas), str(c10)], check=True)
    assert blas.read_bytes() == before[blas]  # left as it was, still loadable
    assert c10.stat().st_size < len(before[c10]) and _load_aligned(c10)
    assert not list(tmp_path.glob("*.strip-tmp"))


def _sizes():
    spec = importlib.util.spec_from_file_location("sizes", ROOT / "packaging" / "sizes.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_sizes_ranks_the_parts_and_fails_over_budget(tmp_path, capsys, monkeypatch):
    sizes = _sizes()
    inner = tmp_path / "gridtwin" / "_internal"
    (inner / "torch").mkdir(parents=True)
    (inner / "torch" / "lib.so").write_bytes(b"\0" * 3000)
    (inner / "PySide6").mkdir()
    (inner / "PySide6" / "a.so").write_bytes(b"\0" * 1000)
    (inner / "libpython3.11.so").write_bytes(b"\0" * 2000)
    (tmp_path / "gridtwin" / "gridtwin").write_bytes(b"\0" * 500)
    assert sizes.parts(tmp_path / "gridtwin") == [(3000, "torch"), (2000, "libpython3.11.so"),
                                                  (1000, "PySide6")]
    monkeypatch.setattr(sizes, "BUDGET_BYTES", 10_000)
    assert sizes.main([str(tmp_path / "gridtwin")]) == 0
    monkeypatch.setattr(sizes, "BUDGET_BYTES", 6_000)
    assert sizes.main([str(tmp_path / "gridtwin")]) == 1
    out = capsys.readouterr().out
    assert "(budget 0 MB: OVER)" in out and "torch  (46 %)" in out

