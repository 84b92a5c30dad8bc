"""Child processes from a checkout and from the packaged program (app.field.childproc).

From a checkout a child is ``python -m MODULE``; in the PyInstaller bundle ``sys.executable``
is the ``gridtwin`` binary, which re-enters itself with ``--gridtwin-child`` and runs the
module through packaging/entry.py. The bundle itself is tested by ``make package-test``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.field.childproc import CHILD_FLAG, python_command, run_child

ROOT = Path(__file__).resolve().parents[2]
ENTRY = ROOT / "packaging" / "entry.py"


def test_from_a_checkout_a_child_is_the_interpreter_as_before(monkeypatch):
    monkeypatch.delattr(sys, "frozen", raising=False)
    assert python_command("-m", "app.cli", "field-sim", "--tick", "0.1") == \
        [sys.executable, "-m", "app.cli", "field-sim", "--tick", "0.1"]
    assert python_command("-c", "print(1)", "x") == [sys.executable, "-c", "print(1)", "x"]


def test_in_the_bundle_a_child_re_enters_the_program(monkeypatch):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/opt/gridtwin/gridtwin")
    assert python_command("-m", "app.field.rtu.frontend") == \
        ["/opt/gridtwin/gridtwin", CHILD_FLAG, "-m", "app.field.rtu.frontend"]
    assert python_command("-c", "pass") == ["/opt/gridtwin/gridtwin", CHILD_FLAG, "-c", "pass"]


@pytest.mark.parametrize("args", [(), ("app.cli",), ("-m",), ("-x", "mod")])
def test_a_child_command_is_module_or_code(args):
    with pytest.raises(ValueError, match="-m MODULE or -c CODE"):
        python_command(*args)
    with pytest.raises(ValueError, match=CHILD_FLAG):
        run_child(list(args))


def test_run_child_runs_a_module_as_main_with_its_arguments(tmp_path, monkeypatch):
    (tmp_path / "gt_child_probe.py").write_text(
        "import sys, pathlib\n"
        "if __name__ == '__main__':\n"
        "    pathlib.Path(sys.argv[1]).write_text(repr(sys.argv))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    out = tmp_path / "argv.txt"
    assert run_child(["-m", "gt_child_probe", str(out), "b"]) == 0
    argv = eval(out.read_text())  # noqa: S307 - our own repr of a list of strings
    assert argv[1:] == [str(out), "b"]
    assert argv[0] == str(tmp_path / "gt_child_probe.py")  # as python -m sets it


def test_run_child_runs_code_and_passes_its_exit_status_on(monkeypatch):
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    with pytest.raises(SystemExit) as stop:
        run_child(["-c", "import sys; sys.exit(int(sys.argv[1]) + len(sys.argv))", "3"])
    assert stop.value.code == 5  # argv is ['-c', '3'], as python -c gives it


def _entry(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(ENTRY), *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd, env=env)


def test_the_bundle_entry_point_dispatches_children_and_the_cli(tmp_path):
    code = _entry(CHILD_FLAG, "-c", "import sys; print(sys.argv)", "a", cwd=tmp_path)
    assert code.returncode == 0, code.stderr
    assert code.stdout.strip() == "['-c', 'a']"
    child = _entry(CHILD_FLAG, "-m", "app.cli", "--version", cwd=tmp_path)
    assert child.returncode == 0, child.stderr
    assert child.stdout.startswith("gridtwin ")
    direct = _entry("--version", cwd=tmp_path)
    assert direct.returncode == 0 and direct.stdout == child.stdout
    bad = _entry(CHILD_FLAG, "app.cli", cwd=tmp_path)
    assert bad.returncode != 0 and "-m MODULE or -c CODE" in bad.stderr
