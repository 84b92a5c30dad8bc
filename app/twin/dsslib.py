"""Load the OpenDSS library safely for a process whose environment may change later.

The OpenDSS engine inside ``opendssdirect`` is built with Free Pascal. Its runtime keeps the
``envp`` pointer the dynamic loader hands it when the library is loaded, and reads that array
again later (``FPGETENV``, e.g. when a new thread first calls into the engine). glibc, though,
``realloc``\\s and frees its own environment array whenever a variable is *added*: pytest adds
``PYTEST_CURRENT_TEST`` around every test, Qt and libraries call ``setenv``, a user's code may
too. Once the array Free Pascal kept is freed, the next engine call from a new thread reads
freed memory and the process dies with a segmentation fault.

So, just before the library is loaded, the process's ``environ`` is pointed at a private copy of
the current array that this module keeps for the life of the process. glibc never frees an
array it did not allocate (it copies into a fresh one on the next ``setenv``), so the pointer
Free Pascal keeps stays valid whatever the process does to its environment afterwards. The
strings themselves are never freed by glibc's ``setenv``/``unsetenv``.

Import ``opendssdirect`` only through this module (``from app.twin.dsslib import
opendssdirect``); an import-contract test enforces it.
"""

from __future__ import annotations

import ctypes
import sys

_PINNED: list[object] = []   # the private environment arrays; never released


def _pin_environ() -> None:
    if not sys.platform.startswith("linux") or "opendssdirect" in sys.modules:
        return
    try:
        libc = ctypes.CDLL(None)
        environ = ctypes.c_void_p.in_dll(libc, "environ")
    except (OSError, ValueError):        # not glibc: nothing we know how to do
        return
    if not environ.value:
        return
    current = ctypes.cast(environ.value, ctypes.POINTER(ctypes.c_void_p))
    entries: list[int] = []
    while current[len(entries)]:
        entries.append(current[len(entries)])
    private = (ctypes.c_void_p * (len(entries) + 1))(*entries, None)
    _PINNED.append(private)
    environ.value = ctypes.addressof(private)


_pin_environ()

import opendssdirect  # noqa: E402  (must come after the pin)
from dss._cffi_api_util import CffiApiUtil  # noqa: E402
from opendssdirect.OpenDSSDirect import OpenDSSDirect as DssContext  # noqa: E402

__all__ = ["CffiApiUtil", "DssContext", "opendssdirect"]
#: ``DssContext``: one OpenDSS engine (``opendssdirect.NewContext()``); ``CffiApiUtil``: the
#: DSS C-API's cffi bindings behind it (for its batch functions).
