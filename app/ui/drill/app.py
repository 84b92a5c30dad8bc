"""``gridtwin drill [SCENARIO]``: the trainee's HMI and the instructor station on a drill.

The trainee gets the same HMI as ``gridtwin run`` — :func:`app.runtime.compose.compose` and
:func:`app.ui.app.assemble` — with its scans from a :class:`~app.runtime.drill.DrillFrameSource`
(the drill engine's in-process plant, on simulated time) and its commands judged and scored
(:class:`~app.runtime.drill.ScoredControl`). It is marked so nobody mistakes it for the live
station: ``DRILL —`` before the window title, a strip across the top of the window in the
drill colour (:data:`app.ui.theme.DRILL`, which means nothing else on the HMI) saying
"DRILL — <scenario> — not the live station", and the status bar's clock showing the drill's
simulated time.

Nothing reaches the live station's stores: the drill's configuration store (the trainee's
account, the audit log of their commands, the alarm rules) is a file of its own in the drill's
folder (``DATA_DIR/drills/<trainee>/<scenario>-<time>/``), and no historian records.

The instructor station (:class:`~app.ui.drill.instructor.InstructorWindow`) is a second
top-level window. Closing either window ends the drill.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.runtime.compose import FieldSpec, StoreSpec, compose
from app.runtime.drill import DrillFrameSource, ScoredControl
from app.ui.app import Hmi, StartError, assemble

if TYPE_CHECKING:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QMainWindow, QToolBar

    from app.station import Station
    from app.training.drill_goose import DrillGoose
    from app.training.scenario import Scenario
    from app.ui.drill.instructor import InstructorWindow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DrillOptions:
    """What ``gridtwin drill`` was asked for (:mod:`app.cli.drill`)."""

    scenario: str | None = None
    """A scenario id or file; None: the picker (or the snapshot's scenario)."""
    folder: str | None = None
    station: str | None = None
    data_dir: str | None = None
    trainee: str = "trainee"
    date: dt.date | None = None
    """The simulated day (default: the snapshot's, or today)."""
    speed: float = 1.0
    from_snapshot: str | None = None
    snapshot_every_min: float = 5.0
    period: float = 0.1
    no_3d: bool = False
    settings: str | None = None
    offscreen: bool = False
    duration: float = 10.0
    """With ``screenshot``: wall seconds to run before the screenshots are taken."""
    screenshot: str | None = None
    """A folder: run ``duration`` seconds offscreen, save trainee.png and instructor.png."""
    goose: str | None = None
    """A network interface: the bay IEDs publish their protection as GOOSE on it, and a
    subscriber there records it in the SOE (:mod:`app.training.drill_goose`)."""


class DrillHmi:
    """The trainee's HMI, the drill source and the instructor window, owned together."""

    def __init__(self, hmi: Hmi, source: DrillFrameSource, instructor: InstructorWindow,
                 out_dir: Path, root: Path, trainee: str, password: str,
                 goose: DrillGoose | None = None) -> None:
        self.hmi, self.source, self.instructor = hmi, source, instructor
        self.goose = goose
        self.out_dir, self.root, self.trainee = out_dir, root, trainee
        self._password = password
        self._closed = False

    @property
    def win(self) -> QMainWindow:
        return self.hmi.win

    def start(self, *, show: bool = True) -> None:
        """Start the HMI's workers, show both windows and log the trainee in."""
        self.hmi.start(show=show)
        if show:
            self.instructor.show()
        self.hmi.win.sessions.login_as(self.trainee, self._password)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.instructor.close()
        self.hmi.close()
        if self.goose is not None:
            self.goose.close()


def drill_banner(win: QMainWindow, text: str) -> QToolBar:
    """The DRILL strip across the top of ``win`` (its own toolbar row, not movable, not
    hideable), the title prefix."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QLabel, QSizePolicy, QToolBar

    from app.ui import theme

    bar = QToolBar("DRILL")
    bar.setObjectName("drillBanner")
    bar.setMovable(False)
    bar.setFloatable(False)
    bar.toggleViewAction().setVisible(False)
    bar.setContextMenuPolicy(Qt.ContextMenuPolicy.PreventContextMenu)
    label = QLabel(text)
    label.setObjectName("drillBannerText")
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
    label.setStyleSheet(f"background: {theme.DRILL.name()}; color: white; font-weight: bold;"
                        f" font-size: {theme.px(15)}px; padding: {theme.px(5)}px;"
                        f" letter-spacing: 1px;")
    bar.addWidget(label)
    bar.setStyleSheet(f"QToolBar {{ background: {theme.DRILL.name()}; border: 0; "
                      "spacing: 0; padding: 0; }")
    first = next((t for t in win.findChildren(QToolBar) if t is not bar
                  and win.toolBarArea(t) == Qt.ToolBarArea.TopToolBarArea), None)
    if first is not None:
        win.insertToolBar(first, bar)
        win.insertToolBarBreak(first)
    else:
        win.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
    win.setWindowTitle(f"DRILL — {win.windowTitle()}")
    win.drill_banner = bar  # type: ignore[attr-defined]
    win.drill_banner_label = label  # type: ignore[attr-defined]
    return bar


def show_drill_state(win: QMainWindow, banner: str, state: str) -> None:
    """The strip says when the drill is not running (the trainee sees values stand still
    and must know it is the simulator, not the station)."""
    words = {"FROZEN": "FROZEN by the instructor", "ENDED": "scenario ended",
             "FINISHED": "drill finished"}.get(state)
    text = banner if words is None else f"{banner} — {words}"
    label = win.drill_banner_label
    if label.text() != text:
        label.setText(text)


def restart_trends(win: QMainWindow) -> None:
    """After a backtrack simulated time goes back: the trainee's trends start again from the
    snapshot's time (the same points), rather than draw the undone future behind it."""
    trends = win.trends
    for tag in list(trends.series):
        trends.remove_tag(tag)
        trends.add_tag(tag)


def pick_scenario(folder: str | None = None) -> Path | None:
    """The scenario picker (a modal dialog): the chosen scenario's file, None if cancelled."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import (
        QDialog,
        QDialogButtonBox,
        QLabel,
        QListWidget,
        QListWidgetItem,
        QVBoxLayout,
    )

    from app.training.scenario import list_scenarios

    scs = list_scenarios(folder)
    dlg = QDialog()
    dlg.setWindowTitle("GridTwin drill — choose a scenario")
    lay = QVBoxLayout(dlg)
    lay.addWidget(QLabel("Scenarios (double-click to start):"))
    lst = QListWidget()
    desc = QLabel("")
    desc.setWordWrap(True)
    for sc in scs:
        it = QListWidgetItem(f"{sc.title}   [{sc.id}, {sc.duration_s / 60:.0f} min]")
        it.setData(Qt.ItemDataRole.UserRole, str(sc.path))
        it.setToolTip(sc.description)
        lst.addItem(it)
    lst.currentRowChanged.connect(lambda r: desc.setText(scs[r].description if r >= 0 else ""))
    lst.itemDoubleClicked.connect(lambda _i: dlg.accept())
    if scs:
        lst.setCurrentRow(0)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                               | QDialogButtonBox.StandardButton.Cancel)
    buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Start drill")
    buttons.accepted.connect(dlg.accept)
    buttons.rejected.connect(dlg.reject)
    lay.addWidget(lst)
    lay.addWidget(desc)
    lay.addWidget(buttons)
    dlg.resize(640, 420)
    dlg.picker_list = lst  # type: ignore[attr-defined]
    if dlg.exec() != QDialog.DialogCode.Accepted or lst.currentItem() is None:
        return None
    return Path(lst.currentItem().data(Qt.ItemDataRole.UserRole))


def _load(opts: DrillOptions, scenario_file: str | Path | None
          ) -> tuple[Station, Scenario, object, dt.date]:
    """The station, scenario, snapshot (or None) and day; bad input → StartError (one line)."""
    from app.station import StationFileError, load_station
    from app.training.scenario import ScenarioFileError, find_scenario, load_scenario
    from app.training.snapshots import SnapshotFileError, load_snapshot

    try:
        station = load_station(opts.station)
        snapfile = load_snapshot(opts.from_snapshot) if opts.from_snapshot else None
        name = scenario_file or opts.scenario or (snapfile.scenario if snapfile else None)
        if name is None:
            raise StartError("no scenario given (gridtwin drill SCENARIO)")
        sc = load_scenario(find_scenario(str(name), opts.folder), station)
        if snapfile is not None and snapfile.scenario != sc.id:
            raise StartError(f"{opts.from_snapshot}: field 'scenario': the snapshot is of "
                             f"scenario '{snapfile.scenario}', not '{sc.id}'")
        if snapfile is not None and snapfile.snapshot.t_s > sc.duration_s:
            raise StartError(f"{opts.from_snapshot}: field 't_s': {snapfile.snapshot.t_s:g} s "
                             f"is past the end of '{sc.id}' ({sc.duration_s:g} s)")
    except (StationFileError, ScenarioFileError, SnapshotFileError) as exc:
        raise StartError(str(exc)) from None
    except (FileNotFoundError, KeyError, ValueError) as exc:
        if isinstance(exc, StartError):
            raise
        raise StartError(str(exc.args[0]) if exc.args else str(exc)) from None
    from app.station import clock

    day = opts.date or (snapfile.day if snapfile and snapfile.day else clock.now().date())
    return station, sc, snapfile, day


def build_drill(opts: DrillOptions, scenario_file: str | Path | None = None, *,
                settings: QSettings | None = None, open_record=None) -> DrillHmi:  # noqa: ANN001
    """The drill's trainee HMI and instructor window, built, not started
    (:meth:`DrillHmi.start`). A QApplication must exist. Raises :class:`StartError`."""
    from PySide6.QtCore import QSettings

    from app.historian.db import data_dir
    from app.station import clock
    from app.station.points import build_point_table
    from app.training.drill import DrillEngine
    from app.training.scenario import ActionScript
    from app.training.snapshots import engine_at
    from app.ui import theme
    from app.ui.drill.instructor import InstructorWindow

    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]{0,39}", opts.trainee):
        raise StartError(f"--trainee: {opts.trainee!r} is not a user name (letters, digits, "
                         "._-; up to 40)")
    if not 0.5 <= opts.speed <= 20:
        raise StartError(f"--speed: {opts.speed:g} outside 0.5-20")
    if not 0 <= opts.snapshot_every_min <= 24 * 60:
        raise StartError(f"--snapshot-every: {opts.snapshot_every_min:g} minutes outside "
                         "0-1440 (0: off)")
    station, sc, snapfile, day = _load(opts, scenario_file)
    root = data_dir(opts.data_dir) / "drills"
    stamp = clock.now().strftime("%Y%m%dT%H%M%S")
    out = root / opts.trainee / f"{sc.id}-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    every = opts.snapshot_every_min * 60.0 or None
    script = ActionScript(trainee=opts.trainee)
    goose = None
    try:
        if opts.goose:
            from app.training.drill_goose import DrillGoose

            goose = DrillGoose(opts.goose)
        if snapfile is not None:
            engine = engine_at(station, sc, snapfile.snapshot, day=day, out_dir=out,
                               script=script, snapshot_every_s=every, goose=goose)
        else:
            engine = DrillEngine(station, sc, day=day, out_dir=out, script=script,
                                 snapshot_every_s=every, goose=goose)
        engine.set_speed(opts.speed)
        if snapfile is None:
            engine.snapshot("start")  # always somewhere to go back to
    except ValueError as exc:
        if goose is not None:
            goose.close()
        raise StartError(str(exc)) from None
    points = build_point_table(station)
    source = DrillFrameSource(engine, period_s=opts.period)
    runtime = compose(station, points, field=FieldSpec(source=source, period_s=opts.period),
                      store=StoreSpec(data_dir=str(out), record_history=False),
                      accounts={"session_timeout_min": 24 * 60.0}, clock=source.now)
    # Snapshots checkpoint the trainee's alarm state, backtracks put it back.
    runtime.processor.marks = source.take_marks
    try:
        if settings is None:
            settings = QSettings(opts.settings or str(root / "hmi-layout.ini"),
                                 QSettings.Format.IniFormat)
        hmi = assemble(runtime, settings=settings, yard3d=not opts.no_3d, data_dir=str(out))
    except BaseException:
        runtime.close()
        if goose is not None:
            goose.close()
        raise
    try:
        if hmi.control is not None:
            # The trainee's every command judged by the drill (app.runtime.drill).
            hmi.control.service = ScoredControl(hmi.control.service, source)
        password = secrets.token_urlsafe(24)
        runtime.accounts.create_user("drill", opts.trainee, password, "operator")
        win = hmi.win
        drill_banner(win, f"DRILL — {sc.title} — not the live station")
        from PySide6.QtWidgets import QLabel

        mark = QLabel(" DRILL — simulator ")
        mark.setObjectName("drillStatusMark")
        mark.setStyleSheet(f"background: {theme.DRILL.name()}; color: white; "
                           "font-weight: bold; padding: 0 6px;")
        win.statusBar().insertWidget(0, mark)
        win.drill_status_mark = mark  # type: ignore[attr-defined]
        win.status.latency_label.hide()  # scan-to-screen latency means nothing on a drill
        win.status.now = source.now
        win.status.clock_prefix = "DRILL simulated  "
        win.status.tick()
        win.trends.now = lambda: source.now().timestamp()
        win.events.now = source.now  # "Last hour" is the drill's last hour
        win.events.follow_now()
        if not win.trends.series:
            win.trends._show_empty()  # its empty axis was drawn on the wall clock
        instructor = InstructorWindow(source, station, root=root, trainee=opts.trainee,
                                      snapshot_every_min=opts.snapshot_every_min,
                                      open_record=open_record)
        hmi.pipeline.snapshot_ready.connect(instructor.refresh)
        banner = f"DRILL — {sc.title} — not the live station"
        hmi.pipeline.snapshot_ready.connect(
            lambda _snap: show_drill_state(win, banner, source.status.state))
        instructor.backtracked.connect(lambda _s: restart_trends(win))
        hmi.pipeline.rewound.connect(win.events.rewind)
        drill = DrillHmi(hmi, source, instructor, out, root, opts.trainee, password,
                         goose=goose)
        # Closing either window ends the drill.
        instructor.closing.connect(win.close)
        win.closing.connect(instructor.close)
    except BaseException:
        hmi.close()
        if goose is not None:
            goose.close()
        raise
    log.info("drill %s for %s in %s (theme %s)", sc.id, opts.trainee, out, theme.DRILL.name())
    return drill


def run_drill(opts: DrillOptions) -> int:
    """Run a drill until its windows close; 2 with one line on bad input."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.ui import theme

    headless = opts.offscreen or opts.screenshot is not None
    qt_args = sys.argv[:1] + (["-platform", "offscreen"] if headless else [])
    app = QApplication.instance() or QApplication(qt_args)
    app.setApplicationName("GridTwin")
    theme.apply(app)
    scenario_file = None
    if opts.scenario is None and opts.from_snapshot is None:
        if headless:
            print("gridtwin: a scenario is needed without a display (gridtwin drill SCENARIO)",
                  file=sys.stderr)
            return 2
        scenario_file = pick_scenario(opts.folder)
        if scenario_file is None:
            return 0
    settings = None
    if headless and opts.settings is None:
        from PySide6.QtCore import QSettings

        from app.scratch import scratch_file

        settings = QSettings(str(scratch_file("drill.ini")), QSettings.Format.IniFormat)
    try:
        drill = build_drill(opts, scenario_file, settings=settings)
    except StartError as exc:
        print(f"gridtwin: {exc}", file=sys.stderr)
        return exc.code
    try:
        if headless:  # a full-HD operator screen
            drill.win.resize(1920, 1080)
            drill.instructor.resize(1920, 1080)
        drill.start()
        if headless:
            def finish() -> None:
                if opts.screenshot:
                    out = Path(opts.screenshot)
                    out.mkdir(parents=True, exist_ok=True)
                    drill.win.grab().save(str(out / "trainee.png"))
                    drill.instructor.grab().save(str(out / "instructor.png"))
                    print(f"screenshots saved in {out}")
                drill.win.close()
                app.quit()

            QTimer.singleShot(int(opts.duration * 1000), finish)
        else:
            drill.win.fit_to_screen()
            screens = app.screens()
            if len(screens) > 1:  # the instructor's own screen, when there is one
                other = next((sc for sc in screens if sc != drill.win.screen()), None)
                if other is not None:
                    drill.instructor.move(other.availableGeometry().topLeft())
        print(f"drill folder: {drill.out_dir}")
        return app.exec()
    finally:
        drill.close()
