"""ISA-101 high-performance HMI palette: grey background, muted equipment, colour only for
abnormal states. One place for every colour the HMI uses."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

BACKGROUND = QColor("#D6D6D6")
PANEL = QColor("#E4E4E4")
TEXT = QColor("#1E1E1E")
TEXT_MUTED = QColor("#5A5A5A")
EQUIPMENT = QColor("#3C3C3C")
DEAD = QColor("#9A9A9A")

#: Energised busbars and conductors, muted, by nominal kV.
VOLTAGE = {400.0: QColor("#3F6FA6"), 220.0: QColor("#3E8C7A"), 33.0: QColor("#A8842E"),
           0.415: QColor("#6E6E6E")}

#: ISA-18.2 alarm priority colours (1 highest).
PRIORITY = {1: QColor("#D32F2F"), 2: QColor("#F08C00"), 3: QColor("#E8C800"),
            4: QColor("#8E63B5")}
PRIORITY_TEXT = {1: "Urgent", 2: "High", 3: "Medium", 4: "Low"}

#: Invalid or old data: unmistakable, never used for anything else.
INVALID = QColor("#D000D0")
#: A refused or failed command, a locked session: abnormal, needs the operator's attention.
ABNORMAL = QColor("#B71C1C")
SELECTION = QColor("#0078D7")
#: Results of an engineering study painted over the live diagram (fault levels, N-1):
#: a calm blue that reads as "computed", never as an alarm.
STUDY = QColor("#1F4E9E")
STUDY_FILL = QColor(31, 78, 158, 40)
#: A drill (the trainer's simulator, not the live station): the strip across the trainee's
#: window. A dark slate teal used for nothing else — not an alarm priority, not invalid data,
#: not a selection, not a study, and darker than any busbar colour.
DRILL = QColor("#1D4E57")

#: Distinct but calm trend pens.
TREND_PENS = ["#1F4E9E", "#B3541E", "#2E7D32", "#6A1B9A", "#00838F", "#8D6E00", "#AD1457",
              "#37474F", "#5D4037", "#1565C0", "#C62828", "#558B2F", "#4527A0", "#00695C",
              "#EF6C00", "#283593", "#6D4C41", "#00897B", "#7B1FA2", "#9E9D24"]


def ui_scale() -> float:
    """How much larger than a 96-dpi screen the UI draws: the primary screen's logical DPI
    over 96 (``QT_FONT_DPI`` and the desktop's text scaling raise it; ``QT_SCALE_FACTOR``
    and a HiDPI devicePixelRatio already scale logical pixels and leave it at 1)."""
    app = QApplication.instance()
    screen = app.primaryScreen() if app is not None else None
    if screen is None:
        return 1.0
    return max(1.0, screen.logicalDotsPerInch() / 96.0)


def px(n: float) -> int:
    """``n`` pixels at 96 dpi, in this display's logical pixels."""
    return int(round(n * ui_scale()))


def row_px(rows: float = 1.0) -> int:
    """The height of ``rows`` table rows in the application font, in logical pixels."""
    from PySide6.QtGui import QFontMetrics

    app = QApplication.instance()
    h = QFontMetrics(app.font()).height() if app is not None else 14
    return int(round(rows * (h + 8)))


def voltage_colour(nominal_kv: float) -> QColor:
    best = min(VOLTAGE, key=lambda k: abs(k - nominal_kv))
    return VOLTAGE[best]


def apply(app: QApplication) -> None:
    app.setStyle("Fusion")
    pal = QPalette()
    pal.setColor(QPalette.ColorRole.Window, BACKGROUND)
    pal.setColor(QPalette.ColorRole.Base, PANEL)
    pal.setColor(QPalette.ColorRole.AlternateBase, BACKGROUND)
    pal.setColor(QPalette.ColorRole.Button, PANEL)
    pal.setColor(QPalette.ColorRole.WindowText, TEXT)
    pal.setColor(QPalette.ColorRole.Text, TEXT)
    pal.setColor(QPalette.ColorRole.ButtonText, TEXT)
    pal.setColor(QPalette.ColorRole.Highlight, SELECTION)
    pal.setColor(QPalette.ColorRole.HighlightedText, QColor("white"))
    app.setPalette(pal)
