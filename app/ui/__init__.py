"""PySide6 widgets: main window, single-line diagram, trends, 3D yard, alarm list, event log, faceplates.

Nothing here yet: this layer arrives with its issue (see the README's roadmap)."""
