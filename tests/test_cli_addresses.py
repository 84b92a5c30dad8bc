"""A malformed HOST:PORT is one line naming the option, exit status 2, before anything
starts (issue 11: ``--field localhost`` was a traceback and exit 1)."""

from __future__ import annotations

import pytest

from app.cli import main
from app.field.sim.runner import AddressError, parse_addr


@pytest.mark.parametrize("argv,message", [
    (["record", "--field", "localhost"], "--field: expected HOST:PORT, got 'localhost'"),
    (["record", "--field", "127.0.0.1:1502", "--mms", "h:x"], "--mms: port 'x' is not a number"),
    (["run", "--headless", "--field", "x:"], "--field: expected HOST:PORT, got 'x:'"),
    (["run", "--headless", "--field", "h:70000"], "--field: port 70000 is out of range"),
    (["field-sim", "--modbus", ":99999"], "--modbus: expected HOST:PORT, got ':99999'"),
    (["field-sim", "--modbus", "127.0.0.1:99999"], "--modbus: port 99999 is out of range"),
    (["field-sim", "--mms", "127.0.0.1:-1"], "--mms: port '-1' is not a number"),
    (["field-sim", "--control", "127.0.0.1:1e3"], "--control: port '1e3' is not a number"),
])
def test_a_malformed_address_is_one_line_and_exit_2(argv, message, capsys, tmp_path):
    assert main([*argv, "--data-dir", str(tmp_path)] if argv[0] == "record" else argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gridtwin: ") and message in err[0], err
    assert not any(tmp_path.iterdir())  # nothing was opened for it


def test_parse_addr_accepts_what_it_should():
    assert parse_addr("127.0.0.1:1502", "--field") == ("127.0.0.1", 1502)
    assert parse_addr("[::1]:10102", "--mms") == ("::1", 10102)
    assert parse_addr("rtu.example:0", "--modbus") == ("rtu.example", 0)
    with pytest.raises(AddressError):
        parse_addr("", "--field")
    assert issubclass(AddressError, ValueError)
