"""The live single-line diagram: layout file loader (Qt-free), items, view."""

from app.ui.sld.view import SldView

__all__ = ["SldView"]
