"""``gridtwin bench field``: the pollers against a field-sim child process.

Figures:

* ``points`` — points read by one full Modbus scan of the station RTU;
* ``scan_ms`` — one full Modbus scan of every point (median);
* ``scans_per_s`` — sustainable full scans per second, back to back;
* ``scan_over_bare`` — the poller's full scan divided by a bare pymodbus client reading the
  same blocks in a loop with no decoding (what the poller's own work costs);
* ``mms_points`` / ``mms_scan_ms`` — the bay IEDs' data sets over IEC 61850 MMS;
* ``poller_cpu_pct`` — CPU of the poller thread (both protocols, frame assembly) at a 10 Hz
  scan; ``mms_client_cpu_pct`` — CPU of the MMS client process at the same rate.

Targets: ``points`` ≥ 2,500, sustained 10 Hz, ``scan_over_bare`` ≤ 1.3, ``poller_cpu_pct``
≤ 30.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time

TARGETS = {"points": 2500, "scans_per_s": 10.0, "scan_over_bare": 1.3, "poller_cpu_pct": 30.0}


def _proc_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _measure(sim, pts, n: int, seconds: float) -> dict:  # noqa: ANN001
    from pymodbus.client import AsyncModbusTcpClient

    from app.field.iec61850.poller import MmsPoller
    from app.field.rtu.poller import ModbusPoller
    from app.runtime.sources import ProtocolFrameSource

    host, port = sim.addresses["modbus"]
    poller = ModbusPoller(pts, host, port)
    await poller.scan_once()
    t = []
    for _ in range(n):
        t0 = time.perf_counter()
        await poller.scan_once()
        t.append(time.perf_counter() - t0)
    scan = statistics.median(t)
    poller.close()

    bare = AsyncModbusTcpClient(host, port=port)
    await bare.connect()
    m = poller.map
    tb = []
    for _ in range(n):
        t0 = time.perf_counter()
        for d in m.devices:
            for a, c in d.ir_blocks:
                await bare.read_input_registers(a, count=c, device_id=d.device_id)
            for a, c in d.di_blocks:
                await bare.read_discrete_inputs(a, count=c, device_id=d.device_id)
        tb.append(time.perf_counter() - t0)
    bare.close()
    bare_s = statistics.median(tb)

    mms = MmsPoller(pts, *sim.addresses["mms"])
    await mms.scan_once()
    tm = []
    for _ in range(n):
        t0 = time.perf_counter()
        await mms.scan_once()
        tm.append(time.perf_counter() - t0)
    mms_rows = len(mms.rows)
    mms.close()

    # 10 Hz with both protocols, as the HMI runs.
    src = ProtocolFrameSource(pts, modbus=(host, port), mms=sim.addresses["mms"], period_s=0.1)
    frames = []
    stop = asyncio.Event()
    await src.scan_once()
    child = src.mms._proc.pid
    c0, m0, w0 = time.thread_time(), _proc_cpu_s(child), time.perf_counter()
    task = asyncio.create_task(src.run(frames.append, stop))
    await asyncio.sleep(seconds)
    wall = time.perf_counter() - w0
    cpu = time.thread_time() - c0
    mms_cpu = _proc_cpu_s(child) - m0
    n_frames = len(frames)
    stop.set()
    await task
    return {
        "points": len(pts), "scan_ms": round(scan * 1000, 2),
        "scans_per_s": round(1.0 / scan, 1), "bare_scan_ms": round(bare_s * 1000, 2),
        "scan_over_bare": round(scan / bare_s, 3),
        "mms_points": mms_rows, "mms_scan_ms": round(statistics.median(tm) * 1000, 2),
        "rate_hz": round(n_frames / wall, 2),
        "poller_cpu_pct": round(100 * cpu / wall, 1),
        "mms_client_cpu_pct": round(100 * mms_cpu / wall, 1),
    }


def run(n: int = 30, seconds: float = 10.0) -> dict:
    from app.field.points import build_point_table
    from app.runtime.fieldsim import FieldSimProcess
    from app.station import load_station

    pts = build_point_table(load_station())
    sim = FieldSimProcess(seed=1).start()
    try:
        r = asyncio.run(_measure(sim, pts, n, seconds))
    finally:
        sim.stop()
    r["targets"] = TARGETS
    r["meets_targets"] = (r["points"] >= TARGETS["points"] and r["rate_hz"] >= 9.5
                          and r["scan_over_bare"] <= TARGETS["scan_over_bare"]
                          and r["poller_cpu_pct"] <= TARGETS["poller_cpu_pct"])
    return r


def main(json_out: bool = False, repeat: int = 30) -> int:
    r = run(n=max(5, min(repeat, 200)))
    if json_out:
        print(json.dumps(r, indent=2))
        return 0
    print("GridTwin field benchmark (field-sim child process, loopback)")
    print(f"  points              {r['points']:10d}   target >= {TARGETS['points']}")
    print(f"  scan_ms             {r['scan_ms']:10.2f}   (full Modbus scan, median)")
    print(f"  scans_per_s         {r['scans_per_s']:10.1f}")
    print(f"  bare_scan_ms        {r['bare_scan_ms']:10.2f}   (bare pymodbus, same blocks)")
    print(f"  scan_over_bare      {r['scan_over_bare']:10.3f}   target <= "
          f"{TARGETS['scan_over_bare']}")
    print(f"  mms_points          {r['mms_points']:10d}")
    print(f"  mms_scan_ms         {r['mms_scan_ms']:10.2f}")
    print(f"  rate_hz             {r['rate_hz']:10.2f}   (both protocols at a 10 Hz scan)")
    print(f"  poller_cpu_pct      {r['poller_cpu_pct']:10.1f}   target <= "
          f"{TARGETS['poller_cpu_pct']}")
    print(f"  mms_client_cpu_pct  {r['mms_client_cpu_pct']:10.1f}")
    print(f"  meets targets       {'yes' if r['meets_targets'] else 'NO'}")
    return 0
