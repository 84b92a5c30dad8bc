"""Control end to end: the HMI as `gridtwin run` builds it, on a field-sim child process over
real Modbus TCP and IEC 61850 MMS; commands from the faceplate, confirmed by a later scan;
every step in the audit_log table."""

from __future__ import annotations

import pytest

from app.control.audit import read_audit
from app.field.sim.control import ControlClient
from app.runtime.fieldsim import FieldSimProcess
from app.runtime.qt.threads import running_threads
from app.station.points import build_point_table
from app.ui.login import BypassDialog

PW = "correct horse battery"


@pytest.fixture(scope="module")
def fieldsim():
    sim = FieldSimProcess(seed=11).start()
    yield sim
    sim.stop()


@pytest.fixture
def make_hmi(qtbot, station, fieldsim, tmp_path):
    """The HMI as gridtwin run builds it, attached to the module's field-sim over Modbus TCP
    and IEC 61850 MMS, with users in a store in the test's folder."""
    from app.runtime.compose import FieldSpec, StoreSpec, compose
    from app.ui.app import assemble

    made = []

    def make(**kw):
        pts = build_point_table(station)
        rt = compose(station, pts,
                     field=FieldSpec(modbus=fieldsim.addresses["modbus"],
                                     mms=fieldsim.addresses["mms"]),
                     store=StoreSpec(data_dir=str(tmp_path)), accounts={})
        hmi = assemble(rt, yard3d=False, **kw)
        acc = rt.accounts
        if acc.needs_first_admin():
            acc.create_first_admin("admin", PW)
            for name, role in (("op", "operator"), ("eng", "engineer")):
                acc.create_user("cli:test", name, PW, role)
        qtbot.addWidget(hmi.win)
        hmi.start()
        made.append(hmi)
        return hmi

    yield make
    for hmi in made:
        hmi.close()  # the MMS client process goes before the field-sim
    assert running_threads() == []


def login(qtbot, win, user):
    with qtbot.waitSignal(win.sessions.session_changed, timeout=15_000):
        win.sessions.login_as(user, PW)


def faceplate(qtbot, win, asset):
    qtbot.waitUntil(lambda: win.last_snapshot is not None, timeout=30_000)
    win.open_faceplate(asset)
    fp = win.commands.faceplates[asset]
    qtbot.waitUntil(lambda: fp.buttons["Select open"].isEnabled()
                    or fp.buttons["Select close"].isEnabled(), timeout=30_000)
    return fp


def select(qtbot, fp, close):
    fp.buttons["Select close" if close else "Select open"].click()
    qtbot.waitUntil(lambda: fp.state != "selecting", timeout=30_000)
    return fp.state == "selected"


def operate(qtbot, fp):
    fp.buttons["Operate"].click()
    qtbot.waitUntil(lambda: fp.state == "idle", timeout=60_000)
    return fp.status.text()


def audit_rows(hmi, device):
    assert hmi.runtime.audit.flush()
    return [(r["user"], r["action"], r["before"], r["after"], r["result"], r["detail"])
            for r in read_audit(hmi.runtime.store, device=device)[::-1]]


def test_operator_operates_over_iec61850_and_over_the_rtu(make_hmi, qtbot):
    hmi = make_hmi()
    win = hmi.win
    login(qtbot, win, "op")
    fp = faceplate(qtbot, win, "F1_Q0")  # a 220 kV feeder breaker, behind its bay IED
    assert fp.path == "iec61850"
    assert win.sld.items_by_asset["F1_Q0"].state_name == "closed"
    assert select(qtbot, fp, False)
    assert fp.status.text().startswith("F1_Q0 selected to open; confirm with Operate")
    text = operate(qtbot, fp)
    assert text.startswith("F1_Q0 open, confirmed by scan in "), text
    qtbot.waitUntil(lambda: win.sld.items_by_asset["F1_Q0"].state_name == "open",
                    timeout=10_000)
    rows = audit_rows(hmi, "F1_Q0")
    assert rows[-2][:5] == ("op", "select open", "closed", "", "selected")
    assert rows[-1][:5] == ("op", "operate open", "closed", "open", "success")
    assert rows[-1][5].startswith("confirmed by scan after ")

    # A 33 kV breaker: no bay IED, so the station RTU's Modbus command coils.
    fp33 = faceplate(qtbot, win, "IND1_Q0")
    assert fp33.path == "modbus" and "RTU" in fp33.path_label.text()
    assert select(qtbot, fp33, False)
    text = operate(qtbot, fp33)
    assert text.startswith("IND1_Q0 open, confirmed by scan in "), text
    qtbot.waitUntil(lambda: win.sld.items_by_asset["IND1_Q0"].state_name == "open",
                    timeout=10_000)
    assert audit_rows(hmi, "IND1_Q0")[-1][:5] == ("op", "operate open", "closed", "open",
                                                  "success")
    # The commands are in the event log too (historian), and were noted for the alarms.
    qtbot.waitUntil(lambda: len(hmi.historian.events(types=["control"], asset="IND1_Q0"))
                    >= 2, timeout=15_000)
    seq = win.last_snapshot.seq
    qtbot.waitUntil(lambda: win.last_snapshot.seq >= seq + 5, timeout=10_000)
    assert win.alarms.model.row_of("F1_Q0:trip") is None
    assert win.alarms.model.row_of("IND1_Q0:trip") is None

    # Logged out (viewer): a command forced past the disabled buttons is refused.
    win.sessions.logout()
    win.commands.select("F1_Q0", True)
    qtbot.waitUntil(lambda: fp.status.text() == "not logged in", timeout=15_000)
    assert audit_rows(hmi, "F1_Q0")[-1][:5] == ("(nobody)", "select close", "", "",
                                                "refused")


def test_ied_refusal_addcause_shown_after_an_engineer_bypass(make_hmi, qtbot):
    hmi = make_hmi()
    win = hmi.win
    login(qtbot, win, "eng")
    fp = faceplate(qtbot, win, "F2_Q9")  # the line disconnector under a closed breaker
    assert not select(qtbot, fp, False)
    assert fp.status.text() == "interlocked — IL-1: bay breaker F2_Q0 is closed"
    assert fp.buttons["Bypass…"].isEnabled()
    fp.buttons["Bypass…"].click()
    qtbot.waitUntil(lambda: isinstance(win.commands.bypass_dialog, BypassDialog),
                    timeout=5_000)
    dlg = win.commands.bypass_dialog
    assert not dlg.ok.isEnabled()
    dlg.reason_edit.setPlainText("testing the bay IED's own interlock")
    dlg.ok.click()
    # The station interlock is bypassed; the bay IED refuses on its own, with its AddCause.
    qtbot.waitUntil(lambda: fp.state == "idle" and "bay device" in fp.status.text(),
                    timeout=30_000)
    assert fp.status.text().startswith("F2_Q9: select refused by the bay device — "
                                       "blocked-by-interlocking")
    assert "font-weight: bold" in fp.status.styleSheet()
    rows = audit_rows(hmi, "F2_Q9")
    assert [r[1:5:3] for r in rows] == [("select open", "refused: interlock"),
                                        ("interlock bypass", "granted"),
                                        ("select open", "refused by device")]
    assert "reason: testing the bay IED's own interlock" in rows[1][5]
    assert "AddCause blocked-by-interlocking" in rows[2][5]


@pytest.mark.slow
def test_stuck_breaker_ends_with_the_ieds_negative_termination(make_hmi, qtbot, fieldsim):
    hmi = make_hmi(confirm_timeout_s=40.0)
    win = hmi.win
    login(qtbot, win, "op")
    # A stuck breaker: the IED accepts the operate, nothing moves; after its own 20 s the IED
    # sends a negative command termination (time-limit-over), which ends the command before
    # the HMI's 40 s confirmation timeout.
    with ControlClient(*fieldsim.addresses["control"]) as c:
        assert c.call("inject", kind="breaker_stuck", params={"asset": "F4_Q0"})["ok"]
    fp = faceplate(qtbot, win, "F4_Q0")
    assert select(qtbot, fp, False)
    text = operate(qtbot, fp)
    assert text.startswith("F4_Q0: command terminated by the bay device — time-limit-over"), \
        text
    row = audit_rows(hmi, "F4_Q0")[-1]
    assert row[:5] == ("op", "operate open", "closed", "closed", "failed")
    assert "negative command termination after 2" in row[5]  # ~20 s, not 40
    assert "AddCause time-limit-over" in row[5]
    with ControlClient(*fieldsim.addresses["control"]) as c:
        c.call("clear")


def test_sbo_timeout_and_a_device_already_in_position(make_hmi, qtbot):
    hmi = make_hmi(select_timeout_s=2.0)
    win = hmi.win
    login(qtbot, win, "op")
    fp = faceplate(qtbot, win, "F3_Q0")
    assert not select(qtbot, fp, True)
    assert fp.status.text() == "F3_Q0 is already closed"
    # Select, then wait past the select timeout: operate is refused; select again.
    assert select(qtbot, fp, False)
    qtbot.wait(2500)  # let the 2 s selection expire (the point of the test)
    text = operate(qtbot, fp)
    assert text == "selection of F3_Q0 expired (2 s): select again"
    rows = audit_rows(hmi, "F3_Q0")
    assert rows[0][4:] == ("refused", "already closed")
    assert rows[-1][4:] == ("refused", "selection expired after 2 s")
    assert win.sld.items_by_asset["F3_Q0"].state_name == "closed"
