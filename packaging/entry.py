"""The packaged program's entry point (PyInstaller's script): ``gridtwin …`` as from a wheel.

Child processes of GridTwin (the field-sim, the Modbus front-end, the MMS client, the study
process, the 3D view's probe and renderer) are started as ``python -m MODULE`` from a checkout.
In the bundle ``sys.executable`` is this program, so they are started as ``gridtwin
--gridtwin-child -m MODULE …`` (:func:`app.field.childproc.python_command`) and run here.
"""

import multiprocessing
import sys


def main() -> int:
    multiprocessing.freeze_support()  # a library's multiprocessing child, should one start
    if len(sys.argv) > 1 and sys.argv[1] == "--gridtwin-child":
        from app.field.childproc import run_child

        return run_child(sys.argv[2:])
    from app.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
