"""``gridtwin run``: start the HMI on the simulated station (or attach to a running one).

By default it starts ``gridtwin field-sim`` as a child process and polls it over Modbus TCP
and IEC 61850 MMS, exactly as it would poll a real station. ``--field HOST:PORT`` attaches to
a station already running (Modbus at that address, MMS at ``--mms``). ``--headless`` runs on
Qt's offscreen platform for ``--duration`` seconds and saves ``--screenshot`` at the end; it
exits with status 1 when no live data reached the window by then (a smoke test for ops and CI).

Users: on a display the HMI asks who is there — the "create the administrator" dialog on the
first run (no users yet), the login dialog otherwise; cancelling leaves viewer rights.
``--headless`` never opens a dialog: it runs with nobody logged in (viewer) unless ``--user
NAME`` is given, with the password in ``$GRIDTWIN_PASSWORD``.

:class:`Hmi` is the one owner of every thread the HMI starts — the scan pipeline's poller and
solver, the control runtime's control and accounts runners, the ``queries`` and ``studies``
job runners — and of the station runtime (stores, audit, field-sim child): :meth:`Hmi.start`
starts them, :meth:`Hmi.close` stops them in order. The window starts and stops nothing.
:func:`assemble` builds an Hmi from a composed station runtime
(:func:`app.runtime.compose.compose`); ``gridtwin run``, the HMI benchmark and the test
fixtures all go through it.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import TYPE_CHECKING

from app.control.users import LockoutPolicy, Session
from app.historian import HistorianBackend, HistorianOptions
from app.runtime.compose import AnalyticsSpec, FieldSpec, StationRuntime, StoreSpec, compose
from app.runtime.studyproc import StudyProcess
from app.station import quality as Q

if TYPE_CHECKING:  # Qt is imported when the HMI starts, never by ``gridtwin solve``
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.analytics.training import TrainResult
    from app.runtime.fieldsim import FieldSimProcess
    from app.runtime.jobs import Job
    from app.runtime.qt.control import ControlRuntime
    from app.runtime.qt.inference import InferenceWorker
    from app.runtime.qt.jobs import JobRunner
    from app.runtime.qt.pipeline import Pipeline
    from app.runtime.snapshot import LiveSnapshot
    from app.ui.main_window import MainWindow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    """What ``gridtwin run`` was asked for (its command line: :mod:`app.cli.run`)."""

    station: str | None = None
    field: str | None = None
    """HOST:PORT of a running station's Modbus RTU; None starts the simulated station."""
    mms: str | None = None
    period: float = 0.1
    speed: float = 1.0
    data_dir: str | None = None
    db: str | None = None
    no_historian: bool = False
    no_3d: bool = False
    headless: bool = False
    duration: float = 10.0
    screenshot: str | None = None
    settings: str | None = None
    trend: tuple[str, ...] = ()
    user: str | None = None
    session_timeout: float = 15.0
    lockout: LockoutPolicy | None = None
    """None: the default lock-out policy."""
    historian_options: HistorianOptions = dc_field(default_factory=HistorianOptions)
    """:func:`app.historian.open_historian` keyword arguments (retention, InfluxDB)."""
    analytics: bool = True
    """Run the inference worker (anomalies, root-cause analysis) on the live scans."""
    model: str | None = None
    """An anomaly model file instead of the registry's active version."""


class StartError(RuntimeError):
    """The HMI could not start (the message says why, for the operator). ``code`` is the
    exit status: 2 for bad input, 1 for a part that would not start."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def freeze_heap() -> None:
    """Everything built so far lives as long as the HMI: keep it out of the garbage
    collector's full passes, which otherwise stall every thread (the GUI's included) for
    40-230 ms each on the ~200,000 objects of a running HMI."""
    gc.collect()
    gc.freeze()


#: The inference worker scores at most one scan in this many seconds (1 Hz of the 10 Hz scan):
#: ``bench hmi --analytics`` measured GUI stall p99 1.2 s with every scan scored, 18 ms at 2 Hz
#: and 11.7–16.8 ms at 1 Hz (the HMI without analytics: 11–18 ms) on a quiet machine.
ANALYTICS_INTERVAL_S = 1.0


class Hmi:
    """Everything ``gridtwin run`` starts, owned in one place: the station runtime, the scan
    pipeline, the control runtime, the GUI's job runners and the window."""

    def __init__(self, runtime: StationRuntime, pipeline: Pipeline,
                 control: ControlRuntime | None, win: MainWindow, queries: JobRunner,
                 studies: JobRunner, study_process: StudyProcess | None = None,
                 app: QApplication | None = None, inference: InferenceWorker | None = None,
                 training: JobRunner | None = None) -> None:
        self.runtime, self.pipeline, self.control, self.win = runtime, pipeline, control, win
        self.queries, self.studies, self.study_process = queries, studies, study_process
        self.inference, self.training = inference, training
        self.app = app
        self._started = False
        self._closed = False

    @property
    def sim(self) -> FieldSimProcess | None:
        """The field-sim child process, when the HMI started one."""
        return self.runtime.sim

    @property
    def historian(self) -> HistorianBackend | None:
        return self.runtime.historian

    def start(self, *, show: bool = True) -> None:
        """Start every worker and show the window."""
        freeze_heap()
        self.queries.start()
        self.studies.start()
        if self.win.analytics_jobs is not None:
            self.win.analytics_jobs.start()
        if self.training is not None:
            self.training.start()
        if self.inference is not None:
            self.inference.start()
        if self.control is not None:
            self.control.start()
        if show:
            self.win.show()
        self.pipeline.start()
        self._started = True

    def close(self) -> None:
        """Close the window (its parts let go of their input), then stop the pipeline's
        threads, the control runtime, the job runners, and close the station runtime (audit
        log, stores, and last the field-sim: the MMS client process goes before the server).
        Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.win.close()
        self.pipeline.stop()
        if self.inference is not None:
            self.inference.stop()
        if self.control is not None:
            self.control.stop()
        self.queries.stop()
        self.studies.stop()
        if self.win.analytics_jobs is not None:
            self.win.analytics_jobs.stop()
        if self.training is not None:
            self.training.stop()
        if self.study_process is not None:
            self.study_process.close()
        self.runtime.close()


def assemble(runtime: StationRuntime, *, settings: QSettings | None = None, yard3d: bool = True,
             control: bool = True, confirm_timeout_s: float = 20.0,
             select_timeout_s: float = 30.0, idle_check_ms: int = 1000,
             data_dir: str | None = None) -> Hmi:
    """The HMI on a composed station runtime, built, not started (:meth:`Hmi.start`).
    ``control`` needs the runtime's accounts (compose(..., accounts={...})); ``data_dir``:
    where models trained from the HMI are kept (default the user's data folder)."""
    from app.runtime.qt.control import ControlRuntime
    from app.runtime.qt.jobs import JobRunner
    from app.runtime.qt.pipeline import Pipeline
    from app.ui.main_window import MainWindow

    pipeline = Pipeline(runtime)
    ctl = None
    if control and runtime.accounts is not None and runtime.audit is not None:
        ctl = ControlRuntime(runtime.station, pipeline, runtime.accounts, runtime.audit,
                             confirm_timeout_s=confirm_timeout_s,
                             select_timeout_s=select_timeout_s)
    queries, studies = JobRunner("queries"), JobRunner("studies")
    # Studies run in a process of their own (started on the first one): a study on a thread
    # here competed with the GUI for the interpreter (app.runtime.studyproc).
    study_process = StudyProcess(runtime.station.path, pipeline.circuit_path)
    inference = training = train_job = None
    models = runtime.analytics
    if models is not None:  # the inference worker, on its own thread (app.runtime.qt.inference)
        from app.runtime.inference import InferenceEngine, training_job
        from app.runtime.qt.inference import InferenceWorker

        engine = InferenceEngine(runtime.station, runtime.points, models.models,
                                 names=models.names, reader=runtime.historian)
        inference = InferenceWorker(engine, min_interval_s=ANALYTICS_INTERVAL_S)
        inference.attach(pipeline)
        training = JobRunner("training")
        spec, station = models.spec, runtime.station

        def train_job() -> Job[TrainResult]:
            return training_job(station, data_dir=spec.data_dir, db_url=spec.db_url)

    if data_dir is None and models is not None:
        data_dir = models.spec.data_dir
    win = MainWindow(runtime.station, runtime.points, pipeline=pipeline, control=ctl,
                     historian=runtime.historian, queries=queries, studies=studies,
                     run_study=study_process.run, settings=settings, yard3d=yard3d,
                     idle_check_ms=idle_check_ms, data_dir=data_dir, inference=inference,
                     training=training,
                     train_job=train_job)
    hmi = Hmi(runtime, pipeline, ctl, win, queries, studies, study_process,
              inference=inference, training=training)
    if models is not None and models.problem:
        win.analytics.state_label.setText(models.problem)
        win.status.analytics_label.setText(models.problem)
    if models is not None and models.pending and inference is not None \
            and training is not None:
        _load_models_after_first_frame(runtime, pipeline, win, inference, training)
    win.closing.connect(lambda: None)  # the owner closes everything (Hmi.close)
    problems = runtime.rules.problems if runtime.rules is not None else ()
    if problems:
        win.statusBar().showMessage(f"{len(problems)} alarm rule(s) refused and skipped: "
                                    f"{problems[0]}", 30_000)
    return hmi


def _load_models_after_first_frame(runtime: StationRuntime, pipeline: Pipeline,
                                   win: MainWindow, inference: InferenceWorker,
                                   training: JobRunner) -> None:
    """Load the anomaly models (``AnalyticsSpec.at_start`` False) on the training runner once
    the first live frame is on screen, then hand them to the inference worker: importing
    torch and building a network takes seconds, and the operator sees the station first."""
    from app.runtime.compose import AnalyticsModels, load_analytics

    assert runtime.analytics is not None
    spec = runtime.analytics.spec
    station, points, store = runtime.station, runtime.points, runtime.store
    win.status.analytics_label.setText("analytics: loading the model…")

    def loaded(models: AnalyticsModels | None, error: BaseException | None) -> None:
        if error is not None or models is None:
            text = f"analytics: model not loaded — {error}"
            log.error("%s", text)
        elif models.problem:
            text = models.problem
        else:
            if models.models:
                inference.set_models(models.models, models.names)
            text = ""
        if text:
            win.analytics.state_label.setText(text)
        win.status.analytics_label.setText(text)

    def first(_snap: object) -> None:
        pipeline.snapshot_ready.disconnect(first)
        training.call("load anomaly model",
                      lambda: load_analytics(station, points, spec, engine=store), loaded)

    pipeline.snapshot_ready.connect(first)


def build(args: RunOptions) -> Hmi:
    """``gridtwin run``'s start-up from its options: the Qt application, the station runtime
    (the field-sim started as a child process, or a running station's addresses), then
    :func:`assemble`; the window is built but not shown. Raises :class:`StartError`; anything
    started is stopped again."""
    if not 0.1 <= args.period <= 5.0:
        raise StartError("--period must be between 0.1 and 5 seconds")
    if args.user and args.headless and not os.environ.get("GRIDTWIN_PASSWORD"):
        raise StartError("--user with --headless needs the password in $GRIDTWIN_PASSWORD")
    modbus = mms = None
    if args.field:  # a bad address is one line and exit status 2, before anything starts
        from app.field.sim.runner import AddressError, parse_addr

        try:
            modbus = parse_addr(args.field, "--field")
            mms = parse_addr(args.mms, "--mms") if args.mms else None
        except AddressError as exc:
            raise StartError(str(exc)) from None
    qt_args = sys.argv[:1] + (["-platform", "offscreen"] if args.headless else [])
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.runtime.fieldsim import FieldSimError
    from app.station import load_station
    from app.station.points import build_point_table
    from app.ui import theme

    station = load_station(args.station)
    points = build_point_table(station)
    app = QApplication.instance() or QApplication(qt_args)
    app.setApplicationName("GridTwin")
    theme.apply(app)

    if args.settings:
        settings = QSettings(args.settings, QSettings.Format.IniFormat)
    elif args.headless:  # scripted runs neither use nor change the operator's saved layout
        from app.scratch import scratch_file  # (a throw-away file, removed at exit)

        settings = QSettings(str(scratch_file("hmi.ini")), QSettings.Format.IniFormat)
    else:
        settings = None
    runtime = compose(
        station, points,
        field=FieldSpec(modbus=modbus, mms=mms, period_s=args.period, speed=args.speed,
                        station_file=args.station,
                        comm_loss_s=getattr(args, "comm_loss_s", None)),
        store=StoreSpec(data_dir=args.data_dir, db_url=args.db,
                        record_history=not args.no_historian,
                        historian_options=args.historian_options),
        accounts={"session_timeout_min": args.session_timeout, "lockout": args.lockout},
        analytics=AnalyticsSpec(model_file=args.model, at_start=False)
        if args.analytics else None)
    try:
        hmi = assemble(runtime, settings=settings, yard3d=not args.no_3d,
                       data_dir=args.data_dir)
    except BaseException:
        runtime.close()
        raise
    try:
        runtime.wait_field()
    except FieldSimError as exc:
        hmi.close()
        raise StartError(str(exc), code=1) from None
    hmi.app = app
    for tag in args.trend:
        if not hmi.win.trends.add_tag(tag):
            log.warning("--trend: no point '%s'", tag)
            print(f"gridtwin: --trend: no point '{tag}'", file=sys.stderr)
    return hmi


def process_age_s() -> float | None:
    """Seconds since this process started (Linux: its start time in ``/proc/self/stat``
    against the time since boot; a monotonic clock, not the wall clock), None elsewhere."""
    try:
        stat = Path("/proc/self/stat").read_text()
        uptime_s = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError):
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": field 3 onwards
    start_ticks = int(fields[19])  # field 22, starttime, in clock ticks since boot
    return max(0.0, uptime_s - start_ticks / os.sysconf("SC_CLK_TCK"))


def run(args: RunOptions, on_started: Callable[[Hmi], None] | None = None) -> int:
    """Run the HMI until its window closes. ``on_started(hmi)``, when given, is called once
    everything runs (the HMI benchmark installs its probes there)."""
    from PySide6.QtCore import QTimer

    try:
        hmi = build(args)
    except StartError as exc:
        print(f"gridtwin: {exc}", file=sys.stderr)
        return exc.code
    app, win = hmi.app, hmi.win
    sessions = win.sessions
    password = os.environ.get("GRIDTWIN_PASSWORD")
    failed: list[str] = []
    first_live_s: list[float] = []

    def first_live(snap: LiveSnapshot) -> None:
        # How long an operator waits for the station: the program's start (the process's, so
        # a packaged program's unpacking and imports count) to the first scan with good data.
        if not first_live_s and Q.good_mask(snap.frame.quality).any():
            age = process_age_s()
            first_live_s.append(age if age is not None else float("nan"))
            log.info("first live frame %.2f s after the program started", first_live_s[0])
            hmi.pipeline.snapshot_ready.disconnect(first_live)

    hmi.pipeline.snapshot_ready.connect(first_live)
    try:
        hmi.start()
        if on_started is not None:
            on_started(hmi)
        if args.user and password:
            def logged_in(_session: Session | None, error: BaseException | None) -> None:
                if error is None:
                    return
                print(f"gridtwin: --user {args.user}: {error}", file=sys.stderr)
                if args.headless:
                    failed.append(str(error))
                    app.exit(2)
                else:
                    sessions.login_dialog(args.user)

            sessions.login_as(args.user, password, logged_in)
        elif not args.headless:
            if args.user:
                QTimer.singleShot(0, lambda: sessions.login_dialog(args.user))
            else:
                QTimer.singleShot(0, sessions.start_login)
        if args.headless:
            def finish() -> None:
                # A headless run is how ops and CI check a station: with no live data at
                # the end (nothing polled, or every device lost) it says so and fails.
                snap = hmi.pipeline.last_snapshot
                if snap is None or not Q.good_mask(snap.frame.quality).any():
                    print(f"gridtwin: no live data from the station after {args.duration:g} s "
                          "(see the log above)", file=sys.stderr)
                    failed.append("no live data")
                elif first_live_s:
                    print(f"first live frame {first_live_s[0]:.2f} s after the program started")
                if args.screenshot:
                    Path(args.screenshot).parent.mkdir(parents=True, exist_ok=True)
                    win.grab().save(args.screenshot)
                    print(f"screenshot saved to {args.screenshot}")
                win.close()
                app.quit()

            QTimer.singleShot(int(args.duration * 1000), finish)
        code = app.exec()
        if "no live data" in failed:
            return 1
        return 2 if failed else code
    finally:
        hmi.close()
