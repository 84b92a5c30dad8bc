"""The core stays Qt-free: only app/ui and app/runtime may import PySide6, pyqtgraph, pyvista.

Two checks: a static walk of every import statement in the core packages, and a run of a
fresh interpreter that imports every core module and then looks in ``sys.modules``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ["app/station", "app/twin", "app/field", "app/historian", "app/alarms", "app/control",
        "app/training", "ml"]
FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "pyvista", "pyvistaqt", "qtpy", "vtk")


def _core_files() -> list[Path]:
    files = []
    for pkg in CORE:
        d = ROOT / pkg
        if d.is_dir():
            files += sorted(d.rglob("*.py"))
    return files


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
    return out


def test_core_packages_exist():
    assert _core_files(), "no core modules found"


def test_no_qt_import_statement_in_core():
    bad = [f"{p.relative_to(ROOT)}:{line} imports {mod}"
           for p in _core_files() for line, mod in _imports(p)
           if mod.split(".")[0] in FORBIDDEN]
    assert not bad, "Qt in the Qt-free core:\n" + "\n".join(bad)


def test_importing_the_core_loads_no_qt():
    mods = []
    for p in _core_files():
        if "migrations" in p.parts:
            continue  # Alembic scripts run only inside Alembic (still checked statically)
        rel = p.relative_to(ROOT).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        mods.append(".".join(parts))
    code = ("import sys\n"
            f"for m in {mods!r}:\n    __import__(m)\n"
            f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
            "print(','.join(bad))\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "", f"core modules pulled in: {r.stdout.strip()}"


def test_import_linter_contract():
    """The same rule as a declared contract in pyproject.toml, when import-linter is present."""
    lint = Path(sys.executable).parent / "lint-imports"
    if not lint.exists():
        import pytest

        pytest.skip("import-linter not installed")
    r = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def test_opendss_is_loaded_only_through_dsslib():
    """app.twin.dsslib pins the environment before the Free Pascal engine loads (see there)."""
    files = [p for pkg in ("app", "ml", "bench", "tests") for p in sorted((ROOT / pkg).rglob("*.py"))]
    bad = [f"{p.relative_to(ROOT)}:{line} imports {mod}"
           for p in files if p.name != "dsslib.py"
           for line, mod in _imports(p)
           if mod.split(".")[0] in ("opendssdirect", "dss")]
    assert not bad, "import OpenDSS via app.twin.dsslib:\n" + "\n".join(bad)
