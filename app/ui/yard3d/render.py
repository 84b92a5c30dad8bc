"""Child-process renderer for the static 3D view: ``python -m app.ui.yard3d.render OUT.png
[STATE.npz]`` renders the yard off-screen (EGL, no X server needed). Run in a child process
because VTK without any OpenGL crashes instead of raising."""

from __future__ import annotations

import os
import sys


def main() -> int:
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    from app.field.lifeline import die_with_parent

    die_with_parent()  # a render or GL probe never outlives the HMI
    import numpy as np

    from app.station import load_station
    from app.ui.yard3d.scene import render_png

    out = sys.argv[1]
    colours = bus_live = None
    if len(sys.argv) > 2:
        data = np.load(sys.argv[2])
        colours, bus_live = data["colours"], list(data["bus_live"])
    tmp = out + ".part.png"
    render_png(load_station(), tmp, colours, bus_live)
    os.replace(tmp, out)  # the GUI never sees a half-written image
    return 0


if __name__ == "__main__":
    sys.exit(main())
