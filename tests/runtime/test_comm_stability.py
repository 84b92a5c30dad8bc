"""The communication state stays put when the field does: on a host with both cores busy,
and with the bay IEDs unreachable while the RTU answers (the issue's flapping bays).

Both poll a real field-sim child process as the HMI does (the frame source's own loop at
0.1 s, the Modbus client in its front-end process, the MMS client in its own), with the
default hold-off and hysteresis."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from app.alarms.changes import ChangeDetector
from app.alarms.engine import AlarmEngine
from app.runtime.fieldsim import FieldSimProcess, free_port_block
from app.runtime.sources import ProtocolFrameSource
from app.station.frame import Comm

PERIOD_S = 0.1


@pytest.fixture(scope="module")
def pts(station):
    from app.station.points import build_point_table

    return build_point_table(station)


class BusyCores:
    """Two processes burning a core each until stopped (always: a context manager)."""

    def __init__(self) -> None:
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                      for _ in range(2)]

    def burning(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        for p in self.procs:
            p.wait(30)

    def __enter__(self) -> BusyCores:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _collect(src: ProtocolFrameSource, until) -> list:  # noqa: ANN001
    """Run the source's loop until ``until(frames)``; the frames."""
    frames: list = []

    async def go():
        stop = asyncio.Event()
        task = asyncio.create_task(src.run(frames.append, stop))
        try:
            while not until(frames):
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await task

    asyncio.run(go())
    return frames


def _transitions(frames: list) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for a, b in zip(frames, frames[1:], strict=False):
        for dev, c in b.comm.items():
            p = a.comm.get(dev)
            if p is not None and p.state != c.state:
                out.setdefault(dev, []).append(f"{p.state.value}→{c.state.value}")
    return out


@pytest.mark.slow
def test_no_comm_transition_on_a_loaded_host(pts):
    """Both cores busy with CPU burners the whole time; after start-up (every device OK),
    25 s of polling both protocols at 10 Hz give not one communication state change — and
    every point stays good."""
    started: list[int] = []

    def until(frames: list) -> bool:
        if not started and frames and all(c.state == Comm.OK for c in frames[-1].comm.values()):
            started.append(len(frames) - 1)
        assert len(frames) < 600, "never all OK"
        return bool(started) and len(frames) >= started[0] + 250  # 25 s at 10 Hz

    with BusyCores() as burners:
        sim = FieldSimProcess(seed=11).start()
        try:
            src = ProtocolFrameSource(pts, modbus=sim.addresses["modbus"],
                                      mms=sim.addresses["mms"], period_s=PERIOD_S)
            try:
                frames = _collect(src, until)
                assert burners.burning()  # they burnt all along
            finally:
                burners.stop()  # before the clean-up, which has its own timeouts
                src.close()
        finally:
            sim.stop()
    steady = frames[started[0]:]
    assert _transitions(steady) == {}, (_transitions(steady), src.modbus.stats,
                                        src.modbus.late)
    assert all(f.good().mean() > 0.99 for f in steady)  # (a few sensors may be failed)
    span = (steady[-1].t_acquired - steady[0].t_acquired).total_seconds()
    assert span >= 20.0, span


@pytest.mark.slow
def test_unreachable_ieds_make_their_bays_lost_once_and_for_good(pts, station):
    """The RTU answers, the IEDs' address has nobody listening: each IED bay goes from
    connecting to LOST once, after comm_loss_s, and stays LOST — its state says the IED path
    is down and why, its points stay good from the RTU; the RTU-only bays stay OK; the alarm
    engine raises one comm alarm per IED bay and the SOE records one comm event per bay."""
    sim = FieldSimProcess(mms=False, seed=12).start()
    nowhere = ("127.0.0.1", free_port_block(64))
    src = ProtocolFrameSource(pts, modbus=sim.addresses["modbus"], mms=nowhere,
                              period_s=PERIOD_S)
    ied_bays = {i.bay for i in src.mms.ieds}

    def until(frames: list) -> bool:
        assert len(frames) < 400
        return len(frames) >= 150  # 15 s: the IEDs lost after 3 s, then 12 s more

    try:
        frames = _collect(src, until)
    finally:
        src.close()
        sim.stop()
    changes = _transitions(frames)
    why = (changes, {d: s for d, s in src.modbus.stats.items() if s.timeouts or s.deferred},
           src.modbus.late, src.modbus.link_stats)
    for bay in ied_bays:
        assert changes.get(bay) == ["connecting→lost"], (bay, changes.get(bay))
        c = frames[-1].comm[bay]
        assert c.protocol == "iec61850" and c.last_error.startswith("iec61850 lost: connect")
        assert [p.state for p in c.paths] == [Comm.OK, Comm.LOST]
        assert frames[-1].good()[pts.device(bay).points].all()  # from the RTU
    for dev, c in frames[-1].comm.items():
        if dev not in ied_bays:
            assert c.state == Comm.OK and changes.get(dev, ["connecting→ok"]) == \
                ["connecting→ok"], (dev, why)
    # What the alarm side makes of it: one comm alarm and one comm event per IED bay.
    eng = AlarmEngine(pts, [], asset_types={a.id: a.type for a in station.assets})
    det = ChangeDetector(pts)
    raised, events = [], []
    for f in frames:
        raised += [t for t in eng.evaluate(f) if t.key.endswith(":comm")]
        events += [e for e in det.changes(f) if e.event_type == "comm"]
    assert sorted(t.key for t in raised) == sorted(f"{b}:comm" for b in ied_bays)
    lost_events = [e for e in events if e.after == "lost"]
    assert sorted(e.asset for e in lost_events) == sorted(ied_bays)
