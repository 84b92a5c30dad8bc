"""The operator's HMI in PySide6: the main window (:mod:`~app.ui.main_window`) composed of a
session controller, a command controller, a status panel and docks — the single-line diagram
(:mod:`~app.ui.sld`), trends, the alarm list, the event log, the point browser, engineering
studies, the 3D switchyard (:mod:`~app.ui.yard3d`), faceplates — and :mod:`~app.ui.app`,
which assembles it on a composed station runtime and owns every thread's start and stop.

Widgets only paint and take input: they subscribe to the pipeline's immutable snapshots and
run no protocol I/O, OpenDSS, SQL or inference on the GUI thread.
"""
