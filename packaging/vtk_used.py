"""Which of VTK's files GridTwin's 3D view loads: printed one base name a line.

The PyInstaller hooks collect VTK by module, and pyvista's hook takes far more of
``vtkmodules`` than the yard ever loads (VTK-m accelerators, readers, volume rendering…):
565 MB, a third of the bundle. This renders the yard off-screen exactly as the static view's
child does (``app.ui.yard3d.render``), imports pyvistaqt (the live view), and lists the VTK
files then mapped into the process; the spec keeps only those.
Usage: python packaging/vtk_used.py OUT.txt (exit status 1, no file, if the render fails).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path


def main(out: str) -> int:
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    import pyvista  # noqa: F401 - every module pyvista imports for plotting
    import pyvista.plotting  # noqa: F401
    import pyvistaqt  # noqa: F401 - the live view

    from app.station import load_station
    from app.ui.yard3d.scene import render_png

    with tempfile.TemporaryDirectory() as d:
        render_png(load_station(), str(Path(d) / "yard.png"), None, (320, 200))
    import vtkmodules

    root = Path(vtkmodules.__file__).resolve().parent
    used = set()
    for line in Path("/proc/self/maps").read_text().splitlines():
        path = line.split(maxsplit=5)[-1] if len(line.split()) >= 6 else ""
        if path.startswith(str(root)):
            used.add(Path(path).name)
    for name, mod in list(sys.modules.items()):
        f = getattr(mod, "__file__", None) or ""
        if name.startswith("vtkmodules.") and f.startswith(str(root)):
            used.add(Path(f).name)
    Path(out).write_text("".join(f"{n}\n" for n in sorted(used)))
    print(f"{len(used)} VTK files used by the 3D view")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
