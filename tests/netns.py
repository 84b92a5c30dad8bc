"""A network namespace of the test's own with a veth pair, for raw-Ethernet (GOOSE) tests.

The test process cannot switch namespaces, so the raw-Ethernet parts run in a child Python
started with ``ip netns exec``. Skipped, with the reason, when not root, when ``ip`` is
missing or when the kernel refuses (the failing command's own message).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_n = itertools.count()


@dataclass(frozen=True)
class VethNs:
    name: str
    a: str = "gva"
    b: str = "gvb"

    def run(self, *args: str, timeout: float = 120.0, prefix: tuple[str, ...] = ()
            ) -> subprocess.CompletedProcess:
        """``python ARGS`` inside the namespace (the repository on the path)."""
        env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen")
        return subprocess.run(["ip", "netns", "exec", self.name, *prefix, sys.executable,
                               *args], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=timeout)

    def run_json(self, *args: str, timeout: float = 120.0) -> object:
        r = self.run(*args, timeout=timeout)
        assert r.returncode == 0, f"child failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
        return json.loads(r.stdout)


def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)


def veth_namespace():
    """Generator for a fixture: a namespace with the veth pair gva <-> gvb, both up."""
    if os.geteuid() != 0:
        pytest.skip(f"creating a network namespace needs root (euid {os.geteuid()})")
    if shutil.which("ip") is None:
        pytest.skip("the 'ip' command (iproute2) is not installed")
    ns = VethNs(f"gt-goose-{os.getpid()}-{next(_n)}")
    r = _ip("netns", "add", ns.name)
    if r.returncode != 0:
        pytest.skip(f"ip netns add refused: {r.stderr.strip()}")
    try:
        for cmd in (("link", "add", ns.a, "type", "veth", "peer", "name", ns.b),
                    ("link", "set", ns.a, "up"), ("link", "set", ns.b, "up")):
            r = _ip("-n", ns.name, *cmd)
            if r.returncode != 0:
                pytest.skip(f"ip {' '.join(cmd)} refused: {r.stderr.strip()}")
        yield ns
    finally:
        _ip("netns", "del", ns.name)
