"""The write path refuses a device whose command path is not OK — SUSPECT included."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from app.runtime.commander import ProtocolCommander
from app.station.frame import Comm, CommState

NOW = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)  # no wall-clock logic meets it


class _Mms:
    def __init__(self) -> None:
        sw = SimpleNamespace(asset="F1_Q0")
        self.ieds = [SimpleNamespace(bay="F1", switches=[sw])]
        self.comm = {"F1": CommState("F1", "iec61850", Comm.OK, NOW)}
        self.calls: list[str] = []

    def switches(self) -> set[str]:
        return {"F1_Q0"}

    async def select(self, asset: str, close: bool):  # noqa: ANN201
        self.calls.append(asset)


def _source() -> SimpleNamespace:
    rtu_dev = SimpleNamespace(device="T1L", switches=("T1L_Q0",))
    modbus = SimpleNamespace(devices=[rtu_dev],
                             comm={"T1L": CommState("T1L", "modbus", Comm.OK, NOW)})
    return SimpleNamespace(modbus=modbus, mms=_Mms())


@pytest.mark.parametrize("state", [Comm.SUSPECT, Comm.LOST, Comm.CONNECTING])
def test_no_select_through_a_path_that_is_not_ok(state):
    src = _source()
    sent = []

    def submit(coro):  # noqa: ANN001, ANN202
        sent.append(coro)
        coro.close()
        raise RuntimeError("not expected")

    c = ProtocolCommander(src.modbus, src.mms, submit)
    src.mms.comm["F1"] = CommState("F1", "iec61850", state, NOW, "no good reply for 1 s")
    src.modbus.comm["T1L"] = CommState("T1L", "modbus", state, NOW, "timeout")
    ied = c.select("F1_Q0", False)
    assert not ied.ok and ied.message == (f"IED of bay F1 is not answering ({state.value}: "
                                          "no good reply for 1 s): cannot select F1_Q0")
    rtu = c.select("T1L_Q0", False)
    assert not rtu.ok and rtu.message == (f"RTU device T1L is not answering ({state.value}: "
                                          "timeout): cannot select T1L_Q0")
    assert sent == []  # nothing went out


def test_an_ok_path_is_selected():
    src = _source()
    c = ProtocolCommander(src.modbus, src.mms,
                          lambda coro: pytest.fail("an RTU select sends nothing"))
    assert c.select("T1L_Q0", True).ok  # the RTU's select is a local reservation
