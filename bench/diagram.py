"""The single-line diagram's GUI-thread cost per scan, in-process and offscreen.

``python -m bench.diagram [--scans N]`` builds the overview diagram at 1920×1080, feeds it N
scans of the plant simulator and reports the median and p95 milliseconds of
``update_snapshot`` (states, values, loading bars, band gauges), of a full repaint of the
view, and — with a fault's alarms applied (20 alarms over 10 objects, markers blinking) —
of ``apply_alarms`` and of the same two again. Figures only: compare runs on one machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time

import numpy as np


def run(scans: int = 200) -> dict[str, float]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from app.alarms.engine import AlarmRow, AlarmState, AlarmView
    from app.field.sim.plant import PlantSimulator
    from app.runtime.snapshot import LiveSnapshot
    from app.station import clock, load_station
    from app.station.frame import ScanFrame
    from app.ui import theme
    from app.ui.sld import SldView

    app = QApplication.instance() or QApplication([])
    theme.apply(app)
    station = load_station()
    plant = PlantSimulator(station, seed=3, start=clock.now())
    view = SldView(station, plant.points)
    view.resize(1900, 760)
    view.show()
    app.processEvents()

    def snap() -> LiveSnapshot:
        s = plant.step(0.1)
        f = ScanFrame(seq=s.seq, t_acquired=s.timestamp, points=plant.points,
                      values=s.values, quality=s.quality, t_source_ns=s.t_source_ns, comm={})
        return LiveSnapshot(seq=s.seq, frame=f, twin=plant.twin_state)

    def measure(prefix: str) -> dict[str, float]:
        upd, paint = [], []
        for _ in range(scans):
            s = snap()
            t = time.perf_counter()
            view.update_snapshot(s)
            upd.append(time.perf_counter() - t)
            t = time.perf_counter()
            view.viewport().repaint()
            paint.append(time.perf_counter() - t)
        return {f"{prefix}update_ms_p50": 1e3 * float(np.median(upd)),
                f"{prefix}update_ms_p95": 1e3 * float(np.percentile(upd, 95)),
                f"{prefix}repaint_ms_p50": 1e3 * float(np.median(paint)),
                f"{prefix}repaint_ms_p95": 1e3 * float(np.percentile(paint, 95))}

    out = measure("")
    t0 = clock.now()
    rows = []
    for k, (asset, tag) in enumerate([("ICT1", "ICT1.LOADING"), ("ICT1", "ICT1.HOT_SPOT"),
                                      ("B220_M1_CVT", "B220_M1_CVT.V_AB"),
                                      ("ICT2H_Q0", "ICT2H_Q0.POS"), ("F3", "F3"),
                                      ("F1_CT", "F1_CT.P"), ("F2_CT", "F2_CT.I_A"),
                                      ("L1_21M1", "L1_21M1.OP"), ("TR1", "TR1.TOP_OIL"),
                                      ("B33_A_VT", "B33_A_VT.V_AB")]):
        for j in range(2):
            rows.append(AlarmRow(f"{tag}:{j}", tag, asset,
                                 "trip" if tag.endswith("POS") else "analog", 1 + (k + j) % 4,
                                 AlarmState.UNACK, "", 1.0, t0, True, None, None, "", False))
    alarms = AlarmView(t0 + dt.timedelta(seconds=1), tuple(rows), (), {}, {}, False, 0)
    t = time.perf_counter()
    view.apply_alarms(alarms)
    out["apply_alarms_ms"] = 1e3 * (time.perf_counter() - t)
    t = time.perf_counter()
    view.apply_alarms(alarms)  # the same view again: nothing changes, nothing is touched
    out["apply_alarms_unchanged_ms"] = 1e3 * (time.perf_counter() - t)
    out.update(measure("alarms_"))
    view.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.diagram")
    ap.add_argument("--scans", type=int, default=200)
    args = ap.parse_args()
    print(json.dumps({k: round(v, 3) for k, v in run(args.scans).items()}, indent=1))


if __name__ == "__main__":
    main()
