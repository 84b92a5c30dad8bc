"""The bay IEDs' IEC 61850 data model, described once for the server and the client.

One IED per 400/220 kV bay (and one for each main-bus pair's measurements), each its own MMS
server — as real bay IEDs each hold their own association — at consecutive ports from the
base port, in the station file's bay order. IED name ``GT``; logical device ``GT<bay>``
(e.g. ``GTF1``), holding:

* ``LLN0`` (Mod, Beh, Health; data set ``DSAll``; report control blocks ``brcbAll``
  buffered and ``urcbAll`` unbuffered on it), ``LPHD1`` (PhyHealth);
* per breaker ``XCBRn`` (Pos status with stVal/q/t, OpCnt) and per disconnector or earth
  switch ``XSWIn`` (Pos), each with a ``CSWIn`` whose Pos is controllable with
  select-before-operate with enhanced security;
* ``MMXU1`` for the bay meter (TotW, TotVAr, Hz, PhV phsA..C, A phsA..C), ``MMXUn`` per
  busbar on bus IEDs (Hz, PhV);
* on a transformer's IED: ``YPTR1``; ``STMP1`` top-oil, ``STMP2`` hot-spot, ``STMP3`` winding
  temperature (Tmp); ``SIML1`` dissolved gases (H2ppm, CH4ppm, C2H6ppm, C2H4ppm, C2H2ppm,
  COppm, CO2ppm) and moisture (H2Oppm); ``YLTC1`` TapPos.

Every member of ``DSAll`` is a data object with its functional constraint (MX or ST), so one
data-set read returns each value with its quality and time stamp. The remaining points of
these bays (relay flags, bay-controller indications, …) are served by the RTU over Modbus.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.station import Station
from app.station.points import PointTable

IED_NAME = "GT"


@dataclass(frozen=True, slots=True)
class Member:
    """One data object in the data set and the point rows it carries."""

    ln: str  # "MMXU1"
    do: str  # "TotW"
    fc: str  # "MX" or "ST"
    cdc: str  # "MV", "WYE", "DPS", "INS"
    rows: tuple[int, ...]  # one row, or phsA/B/C rows for WYE

    @property
    def dataset_ref(self) -> str:
        return f"{self.ln}${self.fc}${self.do}"


@dataclass(frozen=True, slots=True)
class Switch:
    asset: str
    xln: str  # "XCBR1" / "XSWI2"
    cswi: str  # "CSWI1"
    pos_row: int


@dataclass(frozen=True, slots=True)
class Ied:
    bay: str
    ld: str  # "GTF1"
    index: int  # port = base + index
    lns: tuple[str, ...]
    members: tuple[Member, ...]
    switches: tuple[Switch, ...] = field(default=())

    @property
    def dataset(self) -> str:
        return f"{self.ld}/LLN0.DSAll"

    def rows(self) -> list[int]:
        return [r for m in self.members for r in m.rows]


_GASES = (("H2", "H2ppm"), ("CH4", "CH4ppm"), ("C2H6", "C2H6ppm"), ("C2H4", "C2H4ppm"),
          ("C2H2", "C2H2ppm"), ("CO", "COppm"), ("CO2", "CO2ppm"), ("MOISTURE", "H2Oppm"))


def build_ieds(station: Station, points: PointTable) -> tuple[Ied, ...]:
    idx = points.index
    ieds = []
    k = 0
    for dev in points.devices:
        if dev.protocol != "mms":
            continue
        bay = dev.id
        members: list[Member] = []
        lns: list[str] = ["LLN0", "LPHD1"]
        switches: list[Switch] = []
        nx = {"XCBR": 0, "XSWI": 0}
        assets = [a for a in station.assets if a.bay == bay]
        for a in assets:
            if not a.is_switch:
                continue
            cls = "XCBR" if a.type == "breaker" else "XSWI"
            nx[cls] += 1
            xln = f"{cls}{nx[cls]}"
            cswi = f"CSWI{len(switches) + 1}"
            lns += [xln, cswi]
            row = idx[f"{a.id}.POS"]
            switches.append(Switch(a.id, xln, cswi, row))
            members.append(Member(xln, "Pos", "ST", "DPS", (row,)))
            if f"{a.id}.OPCNT" in idx:
                members.append(Member(xln, "OpCnt", "ST", "INS", (idx[f"{a.id}.OPCNT"],)))
        n_mmxu = 0
        for a in assets:
            if a.type == "ct":
                n_mmxu += 1
                ln = f"MMXU{n_mmxu}"
                lns.append(ln)
                for do, pt in (("TotW", "P"), ("TotVAr", "Q"), ("Hz", "HZ")):
                    if f"{a.id}.{pt}" in idx:
                        members.append(Member(ln, do, "MX", "MV", (idx[f"{a.id}.{pt}"],)))
                for do, pre in (("PhV", "V"), ("A", "I")):
                    tags = [f"{a.id}.{pre}_{p}" for p in "ABC"]
                    if all(t in idx for t in tags):
                        members.append(Member(ln, do, "MX", "WYE",
                                              tuple(idx[t] for t in tags)))
            if a.type == "busbar":
                n_mmxu += 1
                ln = f"MMXU{n_mmxu}"
                lns.append(ln)
                members.append(Member(ln, "Hz", "MX", "MV", (idx[f"{a.id}.HZ"],)))
                tags = [f"{a.id}.V_{p}" for p in "ABC"]
                if all(t in idx for t in tags):
                    members.append(Member(ln, "PhV", "MX", "WYE", tuple(idx[t] for t in tags)))
            if a.type in ("ict", "transformer"):
                lns += ["YPTR1", "STMP1", "STMP2", "STMP3", "SIML1", "YLTC1"]
                for ln, pt in (("STMP1", "TOP_OIL"), ("STMP2", "HOT_SPOT"), ("STMP3", "WTI")):
                    members.append(Member(ln, "Tmp", "MX", "MV", (idx[f"{a.id}.{pt}"],)))
                for pt, do in _GASES:
                    if f"{a.id}.{pt}" in idx:
                        members.append(Member("SIML1", do, "MX", "MV", (idx[f"{a.id}.{pt}"],)))
                members.append(Member("YLTC1", "TapPos", "ST", "INS", (idx[f"{a.id}.TAP"],)))
        if not members:
            continue
        ieds.append(Ied(bay, f"{IED_NAME}{bay}", k, tuple(dict.fromkeys(lns)), tuple(members),
                        tuple(switches)))
        k += 1
    return tuple(ieds)
