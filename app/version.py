"""GridTwin's version, and the commit it was built from.

The version is the installed distribution's (``pyproject.toml``). The commit is, in order:
``app/_build.py``'s ``COMMIT`` (written by the packaging build into a frozen bundle, which has no
git), else ``git rev-parse`` in the source checkout this module sits in (``+dirty`` when it has
uncommitted changes), else none.
"""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def version() -> str:
    try:
        return metadata.version("gridtwin")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def commit() -> str | None:
    try:
        from app import _build  # type: ignore[attr-defined]

        return str(_build.COMMIT)
    except ImportError:
        pass
    if not (ROOT / ".git").exists():
        return None
    try:
        sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=10", "HEAD"],
                             capture_output=True, text=True, timeout=5)
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def version_text() -> str:
    """``gridtwin 0.1.0 (commit 1a2b3c4d5e)`` — what ``gridtwin --version`` prints."""
    c = commit()
    return f"gridtwin {version()}" + (f" (commit {c})" if c else "")
