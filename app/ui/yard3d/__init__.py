"""The 3D switchyard: layout rules (Qt-free), geometry (pyvista), the dock widget."""

from app.ui.yard3d.widget import Yard3DView, YardProbe, create_yard_view

__all__ = ["Yard3DView", "YardProbe", "create_yard_view"]
