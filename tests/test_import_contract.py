"""The core stays Qt-free: only app/ui and the runtime's thin Qt adapters (app/runtime/qt) may
import PySide6, pyqtgraph, pyvista.

"The core" is every module under app/ and ml/ except app/ui and app/runtime/qt, found by
walking the tree, so a new package is covered the day it appears. Three checks: a static
walk of every import statement in the core, a fresh interpreter that imports every core
module and then looks in ``sys.modules``, and the import-linter contract declared in
pyproject.toml (source modules ``app.*`` and ``ml``, with app.ui's and app.runtime.qt's own Qt
imports set aside).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "ml")
#: May import Qt: the GUI and the runtime's thin Qt adapters.
QT_ALLOWED = ("app/ui", "app/runtime/qt")
FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "pyvista", "pyvistaqt", "qtpy", "vtk")
#: Core modules allowed to import app.ui lazily, inside a function that only the GUI path
#: calls. The ``run`` verb (app/cli/run.py) imports app.ui.app, which itself imports Qt only
#: inside ``run()``: ``gridtwin solve`` never loads Qt (checked below). The ``drill`` verb
#: (app/cli/drill.py) imports app.ui.drill.app the same way, only for the windowed drill.
LAZY_GUI_IMPORTS = {"app/cli/run.py": {"app.ui.app"},
                    "app/cli/drill.py": {"app.ui.drill.app"}}


def _core_files() -> list[Path]:
    files = []
    for pkg in PACKAGES:
        for p in sorted((ROOT / pkg).rglob("*.py")):
            rel = p.relative_to(ROOT).as_posix()
            if not any(rel == d or rel.startswith(d + "/") for d in QT_ALLOWED):
                files.append(p)
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


def test_core_is_every_module_but_the_gui_and_runtime():
    files = {p.relative_to(ROOT).as_posix() for p in _core_files()}
    assert {"app/cli/__init__.py", "app/resources.py", "app/twin/engine.py", "app/station/model.py",
            "ml/__init__.py"} <= files
    assert not [f for f in files if f.startswith(("app/ui/", "app/runtime/qt/"))]
    # The runtime's services are in the core (Qt-free); only its qt/ adapters are not.
    assert {"app/runtime/scan.py", "app/runtime/compose.py", "app/runtime/jobs.py"} <= files
    # Every top-level package of app/ is in the core or explicitly allowed Qt.
    tops = {p.name for p in (ROOT / "app").iterdir() if (p / "__init__.py").exists()}
    assert tops - {"ui"} <= {f.split("/")[1] for f in files if f.count("/") >= 2}


def test_core_imports_the_gui_only_where_exempted():
    """Apart from the listed lazy imports, nothing in the core imports app.ui at all."""
    bad = []
    for p in _core_files():
        rel = p.relative_to(ROOT).as_posix()
        for line, mod in _imports(p):
            if mod == "app.ui" or mod.startswith("app.ui."):
                if mod not in LAZY_GUI_IMPORTS.get(rel, set()):
                    bad.append(f"{rel}:{line} imports {mod}")
                else:
                    assert not _is_module_level(p, line), f"{rel}:{line} must stay lazy"
    assert not bad, "GUI imported from the core:\n" + "\n".join(bad)


def _is_module_level(path: Path, lineno: int) -> bool:
    tree = ast.parse(path.read_text(), filename=str(path))
    return any(getattr(n, "lineno", None) == lineno for n in tree.body)


def test_no_qt_import_statement_in_core():
    bad = [f"{p.relative_to(ROOT)}:{line} imports {mod}"
           for p in _core_files() for line, mod in _imports(p)
           if mod.split(".")[0] in FORBIDDEN]
    assert not bad, "Qt in the Qt-free core:\n" + "\n".join(bad)


def test_importing_the_core_loads_no_qt():
    mods = []
    for p in _core_files():
        if "migrations" in p.parts or p.name == "__main__.py":
            continue  # Alembic scripts run only inside Alembic, a __main__ runs its program
            # (both still checked statically)
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


def test_the_cli_without_the_gui_verb_loads_no_qt():
    """The exempted lazy import really is lazy: building the parser and solving imports
    app.ui.app (for `run`'s arguments) but no Qt."""
    code = ("import sys, contextlib, io\n"
            "from app.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    assert main(['solve', '--json']) == 0\n"
            f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
            "print(','.join(bad))\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "", f"gridtwin solve pulled in: {r.stdout.strip()}"


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


#: The layers of docs/ARCHITECTURE.md ("may import"): each core package and the app packages
#: it may use (itself always). The command line (app.cli) sits on top and may import anything;
#: top-level helper modules (resources, scratch, version) are usable by every layer.
MAY_IMPORT = {
    "station": {"resources"},
    "twin": {"station", "resources"},
    "field": {"station", "twin", "resources"},
    "historian": {"station", "resources"},
    "alarms": {"station", "historian", "resources"},
    "control": {"station", "field", "historian", "resources"},
    "training": {"station", "twin", "field", "historian", "alarms", "control", "resources"},
    # analytics drivers around ml: the model registry, training and evaluation on the plant
    # simulator (the runtime's solver is passed in, so the runtime may import this layer)
    "analytics": {"station", "twin", "field", "historian", "alarms", "resources", "version"},
    # the services that wire the layers into the scan pipeline: everything above but the GUI
    "runtime": {"station", "twin", "field", "historian", "alarms", "control", "training",
                "analytics", "resources", "scratch", "version"},
}
ML_MAY_IMPORT = {"app.station", "ml"}


def test_every_layer_imports_only_what_the_architecture_allows():
    bad = []
    for layer, allowed in MAY_IMPORT.items():
        for p in sorted((ROOT / "app" / layer).rglob("*.py")):
            for line, mod in _imports(p):
                parts = mod.split(".")
                if parts[0] == "app" and len(parts) > 1 and parts[1] not in allowed | {layer}:
                    bad.append(f"{p.relative_to(ROOT)}:{line} imports {mod}")
    for p in sorted((ROOT / "ml").rglob("*.py")):
        for line, mod in _imports(p):
            if mod.split(".")[0] in ("app", "ml") and not any(
                    mod == a or mod.startswith(a + ".") for a in ML_MAY_IMPORT):
                bad.append(f"{p.relative_to(ROOT)}:{line} imports {mod}")
    assert not bad, "imports across the layers of ARCHITECTURE.md:\n" + "\n".join(bad)
    # And the table covers every package there is.
    tops = {p.name for p in (ROOT / "app").iterdir() if (p / "__init__.py").exists()}
    assert tops - {"ui", "cli"} <= set(MAY_IMPORT)


def test_nothing_imports_the_command_line():
    """app.cli is the top: no layer, the GUI, the benchmarks or ml imports it (the GUI used
    to, for the alarm report's text and the run verb's options)."""
    bad = [f"{p.relative_to(ROOT)}:{line} imports {mod}"
           for pkg in ("app", "ml", "bench") for p in sorted((ROOT / pkg).rglob("*.py"))
           if not p.relative_to(ROOT).as_posix().startswith("app/cli/")
           for line, mod in _imports(p) if mod == "app.cli" or mod.startswith("app.cli.")]
    assert not bad, "the command line imported from below it:\n" + "\n".join(bad)
