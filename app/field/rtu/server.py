"""The station RTU's Modbus TCP server (pymodbus 3.16), in the field-sim process.

Each bay is a device (unit id) built with ``pymodbus.simulator.SimDevice``. Rather than
pushing 5,500 registers into the datastore every tick, :meth:`ModbusRtuServer.update` only
encodes the newest plant snapshot (numpy, the whole station at once) and swaps references; the
device's request hook copies the requested registers from it as each read arrives. So a
client always reads the newest snapshot, consistently per read, and the server's event loop
does almost nothing between requests.

The same hook answers every request to a bay that is "not answering" with exception 0x0B and
turns writes to the command coils into operations on the plant (whose bay IED interlocks
apply); a refused command gets exception 04 and its result register says why.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

import numpy as np
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from app.field.rtu.codec import StationEncoder
from app.field.rtu.map import (
    RESULT_ACCEPTED,
    RESULT_INTERLOCK,
    RESULT_NO_RESPONSE,
    RESULT_POSITION_REACHED,
    RESULT_REFUSED,
    build_register_map,
)
from app.field.sim.api import Plant, PlantSnapshot
from app.station.commands import ADD_CAUSE_BLOCKED_BY_INTERLOCKING, ADD_CAUSE_POSITION_REACHED

log = logging.getLogger(__name__)


class ModbusRtuServer:
    def __init__(self, plant: Plant, host: str = "127.0.0.1", port: int = 1502) -> None:
        self.plant = plant
        self.host, self.port = host, port
        self.map = build_register_map(plant.points)
        self._encoder = StationEncoder(self.map.devices)
        self._ir: list[np.ndarray] = []
        self._di: list[np.ndarray] = []
        self._lost: frozenset[str] = frozenset()
        self._results = [np.zeros(max(1, len(d.switches)), dtype=np.uint16)
                         for d in self.map.devices]
        self._server: ModbusTcpServer | None = None
        self._task: asyncio.Task | None = None
        self.requests = 0
        devices = []
        for k, dm in enumerate(self.map.devices):
            n_di = max(1, dm.di_count)  # BITS counts are in bits
            n_coil = max(1, 2 * len(dm.switches))
            devices.append(SimDevice(
                id=dm.device_id,
                simdata=([SimData(0, count=n_coil, values=False, datatype=DataType.BITS)],
                         [SimData(0, count=n_di, values=False, datatype=DataType.BITS)],
                         [SimData(0, count=max(1, len(dm.switches)),
                                  datatype=DataType.REGISTERS)],
                         [SimData(0, count=dm.ir_count, datatype=DataType.REGISTERS)]),
                action=partial(self._action, k)))
        self._devices = devices
        self.update(plant.snapshot())

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._server = ModbusTcpServer(self._devices, address=(self.host, self.port))
        self._task = asyncio.create_task(self._server.serve_forever(), name="modbus-rtu")
        for _ in range(200):  # wait until it listens
            if self._server.transport is not None:
                break
            await asyncio.sleep(0.01)
        sock = getattr(self._server.transport, "sockets", None)
        if sock:
            self.port = sock[0].getsockname()[1]
        log.info("Modbus RTU serving %d devices on %s:%d", len(self.map.devices), self.host,
                 self.port)

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        self._server = self._task = None

    # ------------------------------------------------------------------ data
    def update(self, snap: PlantSnapshot) -> None:
        """Take a new snapshot (any thread): encode every device and swap references."""
        ir, di = self._encoder.encode(snap.values, snap.quality)
        self._ir, self._di, self._lost = ir, di, snap.comm_lost

    async def _action(self, k: int, fc: int, start: int, address: int, count: int,
                      regs: list[int], values: list | None) -> ExcCodes | None:
        self.requests += 1
        dm = self.map.devices[k]
        if dm.device in self._lost:
            return ExcCodes.GATEWAY_NO_RESPONSE
        if fc == 4:
            off = address - start
            regs[off:off + count] = self._ir[k][off:off + count].tolist()
        elif fc == 2:
            packed = self._di[k]
            regs[: len(packed)] = packed.tolist()
        elif fc == 3:
            res = self._results[k]
            off = address - start
            regs[off:off + count] = res[off:off + count].tolist()
        elif fc in (5, 15) and values is not None:
            return self._command(k, address, values)
        return None

    def _command(self, k: int, bit: int, values: list) -> ExcCodes | None:
        dm = self.map.devices[k]
        out: ExcCodes | None = None
        for j, v in enumerate(values):
            coil = bit + j
            if not v:
                continue
            sw = coil // 2
            if sw >= len(dm.switches):
                return ExcCodes.ILLEGAL_ADDRESS
            asset, close = dm.switches[sw], coil % 2 == 1
            r = self.plant.operate(asset, close, origin="modbus")
            if r.ok:
                code = RESULT_ACCEPTED
            elif r.add_cause == ADD_CAUSE_BLOCKED_BY_INTERLOCKING:
                code = RESULT_INTERLOCK
            elif r.add_cause == ADD_CAUSE_POSITION_REACHED:
                code = RESULT_POSITION_REACHED
            elif "not answering" in r.message:
                code = RESULT_NO_RESPONSE
            else:
                code = RESULT_REFUSED
            self._results[k][sw] = code
            if not r.ok:
                log.info("modbus command %s %s refused: %s", asset,
                         "close" if close else "open", r.message)
                out = ExcCodes.DEVICE_FAILURE
            values[j] = False  # command coils are momentary
        return out
