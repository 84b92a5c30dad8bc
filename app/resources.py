"""Where GridTwin's data files are: the circuit, the station file, the single-line layout.

Works from a source checkout, an installed wheel and a PyInstaller bundle (``sys._MEIPASS``).
``GRIDTWIN_HOME`` overrides the search.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def project_root() -> Path:
    env = os.environ.get("GRIDTWIN_HOME")
    if env:
        return Path(env)
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle)
    return Path(__file__).resolve().parent.parent


def circuits_dir() -> Path:
    return project_root() / "circuits"


def resources_dir() -> Path:
    return project_root() / "resources"
