"""``gridtwin bench field``: the pollers against a field-sim child process.

Figures:

* ``points`` — points read by one full Modbus scan of the station RTU;
* ``scan_ms`` — one full Modbus scan of every point (median);
* ``scans_per_s`` — sustained rate of full scans of both protocols (the frame source: Modbus
  and MMS together, frame assembly), back to back for ``sustain_s`` seconds: frames ÷ time;
* ``scan_over_bare`` — the poller's full Modbus scan (its own master, every reply validated,
  the station decoded, each device's state tracked) divided by a bare pymodbus client reading
  the same blocks with no checks and no decoding (what the poller's own work costs against a
  library client). The two run interleaved, one scan each in turn, so both see the same load
  on a shared machine; medians;
* ``mms_points`` / ``mms_scan_ms`` — the bay IEDs' data sets over IEC 61850 MMS;
* ``rate_hz``, ``poller_cpu_pct`` — the frame source's loop at a 10 Hz period, as the HMI
  runs it: frames per second achieved and the CPU of the poller thread (frame assembly)
  plus its Modbus front-end process (``frontend_cpu_pct``: the Modbus client itself);
  ``mms_client_cpu_pct`` — CPU of the MMS client process at the same rate.

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
KEYS = ("points", "scan_ms", "scans_per_s", "sustained_frames", "bare_scan_ms",
        "scan_over_bare", "mms_points", "mms_scan_ms", "rate_hz", "poller_cpu_pct",
        "frontend_cpu_pct", "mms_client_cpu_pct", "targets", "meets_targets")


def _proc_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _bare_scan(client, m) -> None:  # noqa: ANN001
    for d in m.devices:
        for a, c in d.ir_blocks:
            await client.read_input_registers(a, count=c, device_id=d.device_id)
        for a, c in (d.di_blocks if d.polls_di else ()):
            await client.read_discrete_inputs(a, count=c, device_id=d.device_id)


async def _measure(sim, pts, n: int, seconds: float, sustain_s: float) -> dict:  # noqa: ANN001
    from pymodbus.client import AsyncModbusTcpClient

    from app.field.iec61850.poller import MmsPoller
    from app.field.rtu.poller import ModbusPoller
    from app.runtime.sources import ProtocolFrameSource

    host, port = sim.addresses["modbus"]
    # Poller and bare client, interleaved scan by scan.
    poller = ModbusPoller(pts, host, port)
    bare = AsyncModbusTcpClient(host, port=port)
    await bare.connect()
    await poller.scan_once()
    await _bare_scan(bare, poller.map)
    t, tb = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        await poller.scan_once()
        t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        await _bare_scan(bare, poller.map)
        tb.append(time.perf_counter() - t0)
    poller.close()
    bare.close()
    scan, bare_s = statistics.median(t), statistics.median(tb)

    mms = MmsPoller(pts, *sim.addresses["mms"])
    await mms.scan_once()
    tm = []
    for _ in range(n):
        t0 = time.perf_counter()
        await mms.scan_once()
        tm.append(time.perf_counter() - t0)
    mms_rows = len(mms.rows)
    mms.close()

    # Sustained: both protocols, full frames, back to back.
    src = ProtocolFrameSource(pts, modbus=(host, port), mms=sim.addresses["mms"], period_s=0.1)
    await src.scan_once()
    frames = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < sustain_s:
        await src.scan_once()
        frames += 1
    sustained = frames / (time.perf_counter() - t0)

    # 10 Hz with both protocols, as the HMI runs.
    ticks = []
    stop = asyncio.Event()
    child, front = src.mms._proc.pid, src.modbus.pid
    c0, m0, w0 = time.thread_time(), _proc_cpu_s(child), time.perf_counter()
    f0 = _proc_cpu_s(front)
    task = asyncio.create_task(src.run(ticks.append, stop))
    await asyncio.sleep(seconds)
    wall = time.perf_counter() - w0
    cpu = time.thread_time() - c0
    front_cpu = _proc_cpu_s(front) - f0
    mms_cpu = _proc_cpu_s(child) - m0
    n_ticks = len(ticks)
    stop.set()
    await task
    return {
        "points": len(pts), "scan_ms": round(scan * 1000, 2),
        "scans_per_s": round(sustained, 1), "sustained_frames": frames,
        "bare_scan_ms": round(bare_s * 1000, 2), "scan_over_bare": round(scan / bare_s, 3),
        "mms_points": mms_rows, "mms_scan_ms": round(statistics.median(tm) * 1000, 2),
        "rate_hz": round(n_ticks / wall, 2),
        "poller_cpu_pct": round(100 * (cpu + front_cpu) / wall, 1),
        "frontend_cpu_pct": round(100 * front_cpu / wall, 1),
        "mms_client_cpu_pct": round(100 * mms_cpu / wall, 1),
    }


def run(n: int = 30, seconds: float = 10.0, sustain_s: float = 5.0) -> dict:
    from app.runtime.fieldsim import FieldSimProcess
    from app.station import load_station
    from app.station.points import build_point_table

    pts = build_point_table(load_station())
    sim = FieldSimProcess(seed=1).start()
    try:
        r = asyncio.run(_measure(sim, pts, n, seconds, sustain_s))
    finally:
        sim.stop()
    r["targets"] = TARGETS
    r["meets_targets"] = (r["points"] >= TARGETS["points"]
                          and r["scans_per_s"] >= TARGETS["scans_per_s"]
                          and r["rate_hz"] >= 9.5
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
    print(f"  scans_per_s         {r['scans_per_s']:10.1f}   (both protocols, back to back; "
          f"target >= {TARGETS['scans_per_s']:g})")
    print(f"  bare_scan_ms        {r['bare_scan_ms']:10.2f}   (bare pymodbus, same blocks, "
          "interleaved)")
    print(f"  scan_over_bare      {r['scan_over_bare']:10.3f}   target <= "
          f"{TARGETS['scan_over_bare']}")
    print(f"  mms_points          {r['mms_points']:10d}")
    print(f"  mms_scan_ms         {r['mms_scan_ms']:10.2f}")
    print(f"  rate_hz             {r['rate_hz']:10.2f}   (both protocols at a 10 Hz period)")
    print(f"  poller_cpu_pct      {r['poller_cpu_pct']:10.1f}   (poller thread + Modbus "
          f"front-end; target <= {TARGETS['poller_cpu_pct']})")
    print(f"  frontend_cpu_pct    {r['frontend_cpu_pct']:10.1f}   (of it, the Modbus "
          "front-end process)")
    print(f"  mms_client_cpu_pct  {r['mms_client_cpu_pct']:10.1f}")
    print(f"  meets targets       {'yes' if r['meets_targets'] else 'NO'}")
    return 0
