"""A report subscriber for the IEC 61850 tests, run as its own process:
``python -m tests.field.report_client HOST PORT LD RCB N``.

pyiec61850 calls a report handler from the connection's thread, which needs the GIL; a
blocking library call in the same process holds it, so a report arriving while one is
under way deadlocks. Hence its own process, the handler installed only after the report
control block is enabled (no report can be dispatched to Python before), nothing blocking
after that, and ``os._exit`` instead of a teardown that would block. Prints one JSON object.
"""

from __future__ import annotations

import json
import os
import sys
import time

import pyiec61850 as L

from app.field.iec61850.client import _value_and_error, open_association, probe_reference


class _Handler(L.RCBHandler):
    def __init__(self, out: list) -> None:
        super().__init__()
        self.out = out

    def trigger(self) -> None:
        try:
            r = self._client_report
            vals = L.ClientReport_getDataSetValues(r)
            n = L.MmsValue_getArraySize(vals) if vals is not None else 0
            reasons = [L.ReasonForInclusion_getValueAsString(
                L.ClientReport_getReasonForInclusion(r, i)) for i in range(n)]
            types = []
            for i in range(n):  # members not included are None: never pass None back in
                el = L.MmsValue_getElement(vals, i) if reasons[i] != "not-included" else None
                types.append(L.MmsValue_getTypeString(el) if el is not None else None)
            self.out.append({
                "rcb": L.ClientReport_getRcbReference(r),
                "rpt_id": L.ClientReport_getRptId(r),
                "data_set": L.ClientReport_getDataSetName(r)
                if L.ClientReport_hasDataSetName(r) else None,
                "seq": L.ClientReport_getSeqNum(r) if L.ClientReport_hasSeqNum(r) else None,
                "size": n, "types": types, "reasons": reasons,
            })
        except Exception as exc:  # never let an exception into the C thread
            self.out.append({"error": repr(exc)})


def main(host: str, port: int, ld: str, rcb_ref: str, n: int, timeout_s: float = 20.0) -> dict:
    con, why, _ = open_association(L, host, port, probe=probe_reference(ld))
    if con is None:
        return {"error": why}
    rcb, err = _value_and_error(L.IedConnection_getRCBValues(con, rcb_ref, None))
    if err != L.IED_ERROR_OK or rcb is None:
        return {"error": f"getRCBValues {rcb_ref}: error {err}"}
    buffered = bool(L.ClientReportControlBlock_isBuffered(rcb))
    rpt_id = L.ClientReportControlBlock_getRptId(rcb)
    L.ClientReportControlBlock_setTrgOps(rcb, L.TRG_OPT_DATA_CHANGED | L.TRG_OPT_INTEGRITY)
    L.ClientReportControlBlock_setIntgPd(rcb, 300)
    L.ClientReportControlBlock_setRptEna(rcb, True)
    err = L.IedConnection_setRCBValues(
        con, rcb, L.RCB_ELEMENT_RPT_ENA | L.RCB_ELEMENT_TRG_OPS | L.RCB_ELEMENT_INTG_PD, True)
    if err != L.IED_ERROR_OK:
        return {"error": f"enabling {rcb_ref}: error {err}"}
    reports: list = []
    handler = _Handler(reports)
    handler.thisown = 0
    sub = L.RCBSubscriber()
    sub.setIedConnection(con)
    sub.setRcbReference(rcb_ref)
    sub.setRcbRptId(rpt_id)
    sub.setEventHandler(handler)
    if not sub.subscribe():
        return {"error": "subscribe failed"}
    t0 = time.monotonic()
    while len(reports) < n and time.monotonic() - t0 < timeout_s:
        time.sleep(0.05)  # releases the GIL for the handler
    return {"buffered": buffered, "rpt_id": rpt_id, "reports": list(reports[:n])}


if __name__ == "__main__":
    h, p, ld, ref, count = sys.argv[1:6]
    result = main(h, int(p), ld, ref, int(count))
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)
