"""Child-process renderer for the static 3D view: ``python -m app.ui.yard3d.render OUT.png
[STATE.npz]`` (a :class:`app.ui.yard3d.state.YardState`) renders the yard off-screen (EGL, no X server needed). Run in a child process
because VTK without any OpenGL crashes instead of raising."""

from __future__ import annotations

import os
import sys


def main() -> int:
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    from app.field.lifeline import die_with_parent

    die_with_parent()  # a render or GL probe never outlives the HMI
    from app.station import load_station
    from app.ui.yard3d.scene import render_png
    from app.ui.yard3d.state import YardState

    out = sys.argv[1]
    state = YardState.load(sys.argv[2]) if len(sys.argv) > 2 else None
    size = (1200, 800)
    if len(sys.argv) > 3:
        w, h = sys.argv[3].split("x")
        size = (int(w), int(h))
    tmp = out + ".part.png"
    render_png(load_station(), tmp, state, size)
    os.replace(tmp, out)  # the GUI never sees a half-written image
    return 0


if __name__ == "__main__":
    sys.exit(main())
