"""Where GridTwin's data files are: the circuit, the station file, the single-line layout.

The one resolver for resource paths. The data live in two folders, ``circuits/`` and
``resources/``, found under the first of these that has them:

1. ``$GRIDTWIN_HOME`` (an explicit override);
2. a PyInstaller bundle (``sys._MEIPASS``);
3. the source checkout this module sits in (and an editable install of it);
4. an installed wheel: ``pyproject.toml`` ships both folders as data files into
   ``<prefix>/share/gridtwin`` (the environment's data path, or the user scheme's for a
   ``pip install --user``).
"""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

#: The subfolder of an installation's data path that holds ``circuits/`` and ``resources/``.
SHARE = Path("share") / "gridtwin"


def candidate_roots() -> list[Path]:
    """Every place searched for the data folders, in order."""
    env = os.environ.get("GRIDTWIN_HOME")
    if env:
        return [Path(env)]
    out: list[Path] = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        out.append(Path(bundle))
    out.append(Path(__file__).resolve().parent.parent)
    seen = set()
    for scheme in (None, f"{os.name}_user"):
        try:
            data = sysconfig.get_path("data", scheme) if scheme else sysconfig.get_path("data")
        except KeyError:
            continue
        if data and data not in seen:
            seen.add(data)
            out.append(Path(data) / SHARE)
    out.append(Path(sys.prefix) / SHARE)
    return out


def project_root() -> Path:
    """The first candidate root holding the station's circuit folder (else the first one,
    so that the error names a sensible path)."""
    roots = candidate_roots()
    for root in roots:
        if (root / "circuits" / "station.toml").is_file():
            return root
    return roots[0]


def circuits_dir() -> Path:
    return project_root() / "circuits"


def resources_dir() -> Path:
    return project_root() / "resources"
