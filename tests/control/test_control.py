"""Users and roles, each station interlock both ways, select-before-operate and audit."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from app.control.interlocks import Interlocking
from app.control.service import CommandRefused, ControlService, MemoryAudit
from app.control.users import Accounts, AuthError, MemoryUsers, hash_password, verify_password
from app.field.sim.plant import PlantSimulator
from app.station import clock
from app.station.commands import ControlResult
from app.station.frame import ScanFrame
from app.twin.topology import switch_ends

PW = "correct horse battery"


class PlantCommander:
    """The bay IED's side of SBO, straight on the plant (the protocol commanders replace it)."""

    def __init__(self, plant: PlantSimulator) -> None:
        self.plant = plant
        self.cancelled: list[str] = []
        self.terminations: dict[str, ControlResult] = {}

    def path(self, asset_id: str) -> str | None:
        return "plant"

    def select(self, asset_id: str, close: bool) -> ControlResult:
        why = self.plant.check_interlock(asset_id, close)
        if why:
            return ControlResult(False, "blocked-by-interlocking", why)
        return ControlResult(True)

    def operate(self, asset_id: str, close: bool) -> ControlResult:
        return self.plant.operate(asset_id, close)

    def cancel(self, asset_id: str) -> None:
        self.cancelled.append(asset_id)

    def termination(self, asset_id: str) -> ControlResult | None:
        return self.terminations.get(asset_id)


@pytest.fixture
def rig(station):
    plant = PlantSimulator(station, seed=8, tick_s=0.05,
                           travel_s={"isolator": 0.2, "earth_switch": 0.2})
    ends = switch_ends(plant.engine, station)  # before the plant thread owns the engine
    stop = threading.Event()
    th = threading.Thread(target=plant.run, args=(stop,), daemon=True)
    th.start()

    def latest():
        s = plant.snapshot()
        frame = ScanFrame(s.seq, s.timestamp, plant.points, s.values, s.quality,
                          s.t_source_ns, {})
        tw = plant.twin_state
        return frame, (lambda bus: bool(tw.bus(bus).energised))

    accounts = Accounts(MemoryUsers())
    accounts.create_first_admin("admin", PW)
    now = clock.now()
    admin = accounts.login("admin", PW, now)
    for name, role in (("op", "operator"), ("eng", "engineer"), ("guest", "viewer")):
        accounts.create_user(admin, name, PW, role, now)
    audit = MemoryAudit()
    svc = ControlService(Interlocking(station, ends), accounts,
                         PlantCommander(plant), audit, latest, confirm_timeout_s=3.0)
    sessions = {n: accounts.login(n, PW, now) for n in ("op", "eng", "guest")}
    yield plant, svc, sessions, audit
    stop.set()
    th.join(5)


def do(svc, session, asset, close, **kw):
    return svc.operate(session, svc.select(session, asset, close, **kw))


# ------------------------------------------------------------------ users
def test_passwords_are_scrypt_hashed_and_there_is_no_default():
    h = hash_password(PW)
    assert h.startswith("scrypt$16384$8$1$") and PW not in h
    assert verify_password(PW, h) and not verify_password("wrong password!", h)
    acc = Accounts(MemoryUsers())
    assert acc.needs_first_admin()
    with pytest.raises(AuthError):
        acc.login("admin", "admin", clock.now())
    with pytest.raises(ValueError, match="at least 15"):
        acc.create_first_admin("admin", "short")
    acc.create_first_admin("admin", PW)
    with pytest.raises(AuthError, match="already exists"):
        acc.create_first_admin("root", PW)


def test_session_timeout_and_roles(rig):
    _, svc, s, audit = rig
    later = clock.now() + dt.timedelta(hours=1)
    with pytest.raises(AuthError, match="timed out"):
        svc.accounts.require(s["op"], "operator", later)


def test_viewer_is_refused_by_the_service(rig):
    _, svc, s, audit = rig
    with pytest.raises(AuthError, match="viewer"):
        svc.select(s["guest"], "F1_Q0", False)
    with pytest.raises(AuthError, match="not logged in"):
        svc.select(None, "F1_Q0", False)
    assert audit.entries[-1]["result"] == "refused" and audit.entries[-1]["user"] == "(nobody)"


# ------------------------------------------------------------------ SBO
def test_select_before_operate_is_confirmed_by_a_scan(rig):
    plant, svc, s, audit = rig
    out = do(svc, s["op"], "F1_Q0", False)
    assert out.ok and out.message.startswith("F1_Q0 open, confirmed by scan in ")
    e = audit.entries[-1]
    assert (e["user"], e["device"], e["before"], e["after"], e["result"]) == \
        ("op", "F1_Q0", "closed", "open", "success")
    with pytest.raises(CommandRefused, match="F1_Q0 is already open") as ei:
        svc.select(s["op"], "F1_Q0", False)
    assert ei.value.add_cause == "position-reached"
    sel = svc.select(s["op"], "F1_Q0", True)
    svc.cancel(s["op"], sel)
    with pytest.raises(CommandRefused, match="no such selection"):
        svc.operate(s["op"], sel)


def test_sbo_timeout_when_the_breaker_does_not_move(rig):
    plant, svc, s, audit = rig
    plant.inject("breaker_stuck", asset="F2_Q0")
    with pytest.raises(CommandRefused, match="did not reach 'open'") as ei:
        do(svc, s["op"], "F2_Q0", False)
    assert ei.value.add_cause == "time-limit-over"
    assert audit.entries[-1]["result"] == "failed"


def test_device_addcause_is_shown_when_its_own_interlock_refuses(rig):
    plant, svc, s, audit = rig
    # The engineer bypasses the station interlock; the bay IED still refuses on its own.
    with pytest.raises(CommandRefused, match="blocked-by-interlocking") as ei:
        svc.select(s["eng"], "F3_Q9", False,
                   bypass_reason="testing the bay IED's own interlock")
    assert ei.value.add_cause == "blocked-by-interlocking"
    kinds = [(e["action"], e["result"]) for e in audit.entries[-2:]]
    assert kinds == [("interlock bypass", "granted"), ("select open", "refused by device")]


def test_bypass_needs_an_engineer_and_a_reason(rig):
    _, svc, s, _ = rig
    with pytest.raises(AuthError, match="engineer"):
        svc.select(s["op"], "F3_Q9", False, bypass_reason="because I say so, really")
    with pytest.raises(ValueError, match="written reason"):
        svc.select(s["eng"], "F3_Q9", False, bypass_reason="x")


# ------------------------------------------------------------------ interlocks, both ways
def test_il1_disconnector_needs_its_breaker_open(rig):
    _, svc, s, _ = rig
    with pytest.raises(CommandRefused, match="IL-1: bay breaker F1_Q0 is closed"):
        svc.select(s["op"], "F1_Q9", False)
    do(svc, s["op"], "F1_Q0", False)
    assert do(svc, s["op"], "F1_Q9", False).ok


def test_il3_bus_transfer_needs_the_coupler_closed(rig):
    _, svc, s, _ = rig
    # F1 runs on bus I with its breaker closed: closing Q2 parallels the buses through it.
    assert do(svc, s["op"], "F1_Q2", True).ok  # coupler closed: allowed under load
    assert do(svc, s["op"], "F1_Q1", False).ok  # transfer completed onto bus II
    assert do(svc, s["op"], "BC2_Q0", False).ok
    with pytest.raises(CommandRefused, match="IL-3: bus transfer needs the coupler closed"):
        svc.select(s["op"], "F1_Q1", True)


def test_il2_earth_switch_needs_isolation_and_a_dead_section(rig):
    _, svc, s, _ = rig
    with pytest.raises(CommandRefused, match="IL-2: disconnector F4_Q9 is not open"):
        svc.select(s["op"], "F4_Q8", True)
    do(svc, s["op"], "F4_Q0", False)
    do(svc, s["op"], "F4_Q9", False)
    assert do(svc, s["op"], "F4_Q8", True).ok
    # A 400 kV line terminal stays live from the remote end.
    do(svc, s["op"], "L2_Q0", False)
    do(svc, s["op"], "L2_Q9", False)
    with pytest.raises(CommandRefused, match="IL-2: L2_T is live"):
        svc.select(s["op"], "L2_Q8", True)


def test_il4_no_disconnector_onto_an_earth(rig):
    _, svc, s, _ = rig
    do(svc, s["op"], "F4_Q0", False)
    do(svc, s["op"], "F4_Q9", False)
    do(svc, s["op"], "F4_Q8", True)
    with pytest.raises(CommandRefused, match="IL-4: earth switch F4_Q8 is not open"):
        svc.select(s["op"], "F4_Q9", True)
    do(svc, s["op"], "F4_Q8", False)
    assert do(svc, s["op"], "F4_Q9", True).ok


def _leak_until(plant, svc, asset, below_bar, rate_bar_h):
    """Leak SF6 until the scan shows less than ``below_bar``, then stop the leak."""
    inj = plant.inject("sf6_leak", asset=asset, bar_per_h=rate_bar_h)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        frame, _ = svc.latest()
        if frame.value(f"{asset}.SF6")[0] < below_bar:
            break
        time.sleep(0.01)
    plant.clear(inj)
    time.sleep(0.2)  # a scan after the leak stopped
    return svc.latest()[0].value(f"{asset}.SF6")[0]


def test_il5_breaker_blocked_at_sf6_lockout(rig):
    plant, svc, s, _ = rig
    assert do(svc, s["op"], "F1_Q0", False).ok
    for asset, close in (("F1_Q0", True), ("F2_Q0", False)):  # neither close nor open
        _leak_until(plant, svc, asset, 4.9, 36000.0)  # 10 bar/s: gone at once
        with pytest.raises(CommandRefused, match=rf"IL-5: {asset} SF6 density at lockout "
                                                 r"\(\d\.\d\d bar < lockout 5 bar\)"):
            svc.select(s["op"], asset, close)


def test_il5_close_blocked_at_the_low_sf6_alarm_stage_allowed_at_normal(rig, station):
    plant, svc, s, _ = rig
    assert station.asset("F1_Q0").nameplate.sf6_alarm_bar == 5.2  # the stage is data
    assert do(svc, s["op"], "F1_Q0", False).ok
    bar = _leak_until(plant, svc, "F1_Q0", 5.15, 1800.0)  # 0.5 bar/s
    assert 5.0 < bar < 5.2  # below the alarm stage, above lockout
    with pytest.raises(CommandRefused, match=r"IL-5: F1_Q0 SF6 density low \(5\.\d\d bar "
                                             r"< alarm stage 5.2 bar\): close blocked"):
        svc.select(s["op"], "F1_Q0", True)
    # The other way: at normal density the same operation goes through.
    assert do(svc, s["op"], "F2_Q0", False).ok
    assert do(svc, s["op"], "F2_Q0", True).ok


def test_engineer_bypass_is_logged_and_audited(rig):
    plant, svc, s, audit = rig
    assert do(svc, s["op"], "F1_Q0", False).ok
    _leak_until(plant, svc, "F1_Q0", 5.15, 1800.0)
    with pytest.raises(AuthError, match="engineer"):
        svc.select(s["op"], "F1_Q0", True, bypass_reason="restoring supply to the feeder")
    # The bay IED only blocks at lockout: with the station interlock bypassed it closes.
    out = do(svc, s["eng"], "F1_Q0", True, bypass_reason="restoring supply; gas top-up booked")
    assert out.ok
    rows = [(e["user"], e["action"], e["result"]) for e in audit.entries[-3:]]
    assert rows == [("eng", "interlock bypass", "granted"), ("eng", "select close", "selected"),
                    ("eng", "operate close", "success")]
    bypass = [e for e in audit.entries if e["action"] == "interlock bypass"][-1]
    assert "IL-5" in bypass["detail"] and "gas top-up booked" in bypass["detail"]
    assert "bypass: restoring supply" in audit.entries[-1]["detail"]


def test_interlocks_are_checked_again_at_operate(rig):
    plant, svc, s, audit = rig
    assert do(svc, s["op"], "F3_Q0", False).ok
    sel = svc.select(s["op"], "F3_Q9", False)  # allowed: the breaker is open
    plant.operate("F3_Q0", True)  # the field changes while the selection waits
    deadline = time.monotonic() + 5
    while svc._position(svc.latest()[0], "F3_Q0") != "closed" and time.monotonic() < deadline:
        time.sleep(0.02)
    with pytest.raises(CommandRefused, match="interlocked at operate — IL-1: bay breaker F3_Q0 "
                                             "is closed"):
        svc.operate(s["op"], sel)
    assert audit.entries[-1]["result"] == "refused: interlock"
    assert svc.commander.cancelled[-1] == "F3_Q9"


def test_negative_command_termination_ends_the_command_at_once(rig):
    plant, svc, s, audit = rig
    plant.inject("breaker_stuck", asset="F4_Q0")
    svc.commander.terminations["F4_Q0"] = ControlResult(False, "blocked-by-process",
                                                         "mechanism fault")
    svc.confirm_timeout_s = 60.0
    t0 = time.monotonic()
    with pytest.raises(CommandRefused, match="terminated by the bay device — "
                                             "blocked-by-process") as ei:
        do(svc, s["op"], "F4_Q0", False)
    assert time.monotonic() - t0 < 30  # not the confirmation timeout
    assert ei.value.add_cause == "blocked-by-process"
    assert "negative command termination" in audit.entries[-1]["detail"]


def test_selection_expires_and_is_cancelled_at_the_device(station, rig):
    plant, svc, s, audit = rig
    now = [clock.now()]
    svc.clock = lambda: now[0]
    svc.accounts.clock = svc.clock
    sel = svc.select(s["op"], "F2_Q0", False)
    now[0] += dt.timedelta(seconds=31)
    s["op"].touch(now[0])
    with pytest.raises(CommandRefused, match="expired") as ei:
        svc.operate(s["op"], sel)
    assert ei.value.add_cause == "time-limit-over"
    assert svc.commander.cancelled == ["F2_Q0"]
    assert audit.entries[-1]["detail"] == "selection expired after 30 s"


def test_only_the_selecting_user_operates_or_cancels(rig):
    _, svc, s, audit = rig
    sel = svc.select(s["op"], "F2_Q0", False)
    with pytest.raises(CommandRefused, match="someone else's"):
        svc.operate(s["eng"], sel)
    with pytest.raises(CommandRefused, match="someone else's"):
        svc.cancel(s["eng"], sel)
    svc.cancel(s["op"], sel)
    assert (audit.entries[-1]["action"], audit.entries[-1]["result"]) == ("cancel", "cancelled")
    with pytest.raises(AuthError, match="viewer"):
        svc.cancel(s["guest"], sel)


# ------------------------------------------------------------------ interlocks on crafted scans
@pytest.fixture
def il(station, engine):
    from app.field.sim.plant import PlantSimulator

    plant = PlantSimulator(station, seed=8)
    snap = plant.step(0.1)
    return Interlocking(station, switch_ends(engine, station)), plant.points, snap


def _frame(points, snap, **changes):
    from app.station import quality as Q

    v, q = snap.values.copy(), snap.quality.copy()
    for tag, val in changes.items():
        i = points.row(tag.replace("__", "."))
        if val is None:
            q[i] = Q.SENSOR_FAILED
        else:
            v[i], q[i] = val, Q.GOOD
    return ScanFrame(1, snap.timestamp, points, v, q, snap.t_source_ns, {})


def _codes(locks):
    return [str(x) for x in locks]


def test_il5_closing_spring_both_ways(il):
    lock, pts, snap = il
    live = lambda bus: True  # noqa: E731
    f = _frame(pts, snap, F1_Q0__POS=1, F1_Q0__SPRING=0)  # open, spring discharged
    assert _codes(lock.check("F1_Q0", True, f, live)) == ["IL-5: F1_Q0 closing spring not "
                                                          "charged"]
    assert lock.check("F1_Q0", False, f, live) == []  # opening needs no closing spring
    f = _frame(pts, snap, F1_Q0__POS=1, F1_Q0__SPRING=1)
    assert lock.check("F1_Q0", True, f, live) == []


def test_il5_density_monitor_contacts_count_and_unknown_density_refuses(il):
    lock, pts, snap = il
    live = lambda bus: True  # noqa: E731
    # The analog reading has failed, but the monitor's low-density contact is good and set.
    f = _frame(pts, snap, F1_Q0__POS=1, F1_Q0__SF6=None, F1_Q0__SF6_ALM=1, F1_Q0__SF6_LOCK=0)
    assert _codes(lock.check("F1_Q0", True, f, live)) == [
        "IL-5: F1_Q0 SF6 density low (density monitor): close blocked"]
    f = _frame(pts, snap, F1_Q0__POS=2, F1_Q0__SF6=None, F1_Q0__SF6_LOCK=1)
    assert _codes(lock.check("F1_Q0", False, f, live)) == [
        "IL-5: F1_Q0 SF6 density at lockout (density monitor): the breaker must not operate"]
    f = _frame(pts, snap, F1_Q0__POS=2, F1_Q0__SF6=None, F1_Q0__SF6_LOCK=None)
    assert _codes(lock.check("F1_Q0", False, f, live)) == [
        "IL-5: SF6 density of F1_Q0 is not known (invalid or old data)"]
    f = _frame(pts, snap, F1_Q0__POS=2, F1_Q0__SF6=6.0, F1_Q0__SF6_LOCK=0, F1_Q0__SF6_ALM=0)
    assert lock.check("F1_Q0", False, f, live) == []
    # A vacuum breaker has no SF6 interlock at all.
    assert lock.check("IND1_Q0", False, _frame(pts, snap, IND1_Q0__POS=2), live) == []


def test_il0_an_unknown_position_is_never_assumed(il):
    lock, pts, snap = il
    live = lambda bus: False  # noqa: E731
    f = _frame(pts, snap, F1_Q0__POS=None)
    assert "IL-0: position of F1_Q0 is not known" in _codes(lock.check("F1_Q0", False, f,
                                                                        live))[0]
    f = _frame(pts, snap, F1_Q0__POS=0)  # intermediate
    assert any(c.startswith("IL-0") for c in _codes(lock.check("F1_Q0", False, f, live)))
    f = _frame(pts, snap, F1_Q0__POS=None, F1_Q9__POS=2)
    assert _codes(lock.check("F1_Q9", False, f, live)) == [
        "IL-1: position of bay breaker F1_Q0 is not known"]
