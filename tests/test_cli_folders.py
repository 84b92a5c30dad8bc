"""Where a user's data and the packaged program's log go, and that ``--help`` names them."""

from __future__ import annotations

import logging
import os
import sys

import pytest

from app import cli
from app.historian.db import data_dir


@pytest.fixture
def home(tmp_path, monkeypatch):
    for var in ("GRIDTWIN_DATA_DIR", "GRIDTWIN_LOG_DIR", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


@pytest.mark.skipif(sys.platform != "linux", reason="the Linux (XDG) folders")
def test_data_and_log_go_to_the_users_platform_folders(home):
    assert data_dir() == home / ".local" / "share" / "gridtwin"
    assert cli.log_dir() == home / ".local" / "state" / "gridtwin" / "log"


@pytest.mark.skipif(sys.platform != "linux", reason="the Linux (XDG) folders")
def test_help_names_both_folders(home):
    # (argparse wraps at spaces and hyphens: compare with all white space taken out)
    text = "".join(cli.build_parser().format_help().split())
    assert f"{home}/.local/share/gridtwin(--data-dir,$GRIDTWIN_DATA_DIR)" in text
    assert f"{home}/.local/state/gridtwin/log/gridtwin.log($GRIDTWIN_LOG_DIR)" in text


def test_environment_overrides_both(home, monkeypatch):
    monkeypatch.setenv("GRIDTWIN_DATA_DIR", str(home / "d"))
    monkeypatch.setenv("GRIDTWIN_LOG_DIR", str(home / "l"))
    assert data_dir() == home / "d" and cli.log_dir() == home / "l"


@pytest.fixture
def root_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {h: h.level for h in handlers}
    yield root
    for h in root.handlers[:]:
        if h not in handlers:
            root.removeHandler(h)
            h.close()
    for h, lv in levels.items():
        h.setLevel(lv)
    root.setLevel(level)


def test_packaged_program_logs_info_to_the_file_and_keeps_stderr_quiet(home, root_logging,
                                                                      monkeypatch):
    monkeypatch.setenv("GRIDTWIN_LOG_DIR", str(home / "logs"))
    console = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 - closed by fixture
    root_logging.addHandler(console)
    root_logging.setLevel(logging.WARNING)
    path = cli.log_to_file()
    assert path == home / "logs" / "gridtwin.log"
    logging.getLogger("app.test").info("field-sim serving")
    for h in root_logging.handlers:
        h.flush()
    text = path.read_text()
    assert f"[{os.getpid()}] INFO app.test: field-sim serving" in text
    assert console.level == logging.WARNING  # the console still shows warnings and worse only


def test_an_unwritable_log_folder_does_not_stop_the_program(home, root_logging, monkeypatch,
                                                            caplog):
    (home / "afile").write_text("")
    monkeypatch.setenv("GRIDTWIN_LOG_DIR", str(home / "afile" / "log"))
    assert cli.log_to_file() is None
    assert f"no log file at {home}/afile/log/gridtwin.log" in caplog.text
