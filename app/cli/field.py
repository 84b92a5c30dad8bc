"""The field's verbs.

    gridtwin field-sim    the simulated station: Modbus TCP + IEC 61850 MMS servers and the
                          fault-injection control channel (app.field.sim.runner)
    gridtwin modbus-map   the RTU's Modbus register map as CSV, for any Modbus client
"""

from __future__ import annotations

import argparse
import sys

from app.cli.options import positive_float, positive_int
from app.field.sim.control import DEFAULT_IDLE_TIMEOUT_S, DEFAULT_MAX_CONNECTIONS, TOKEN_ENV
from app.field.sim.runner import DEFAULT_CONTROL_PORT, FieldSimOptions, parse_addr


def add_field_sim_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--station", help="station file")
    p.add_argument("--modbus", default="127.0.0.1:1502", metavar="HOST:PORT",
                   help="Modbus TCP server address (default 127.0.0.1:1502; 'off' to disable)")
    p.add_argument("--mms", default="127.0.0.1:10102", metavar="HOST:PORT",
                   help="IEC 61850 MMS server address (default 127.0.0.1:10102; 'off')")
    p.add_argument("--control", default=f"127.0.0.1:{DEFAULT_CONTROL_PORT}",
                   metavar="HOST:PORT",
                   help="local fault-injection control channel (default "
                        f"127.0.0.1:{DEFAULT_CONTROL_PORT}; 'off'; a non-loopback address "
                        "needs --control-allow-remote and a token)")
    p.add_argument("--control-fallback", action="store_true",
                   help="if the control port is taken, listen on a free one instead (the "
                        "READY line names it) rather than fail")
    p.add_argument("--control-token", metavar="TOKEN",
                   help=f"a token every control request must carry (better: ${TOKEN_ENV}, "
                        "which other users cannot read in the process list)")
    p.add_argument("--control-allow-remote", action="store_true",
                   help="let the control channel listen on a non-loopback address (a token "
                        "is then required)")
    p.add_argument("--control-max-connections", type=positive_int,
                   default=DEFAULT_MAX_CONNECTIONS, metavar="N",
                   help=f"control connections at once (default {DEFAULT_MAX_CONNECTIONS})")
    p.add_argument("--control-idle-timeout", type=positive_float,
                   default=DEFAULT_IDLE_TIMEOUT_S, metavar="S",
                   help="close a control connection after S seconds without a request "
                        f"(default {DEFAULT_IDLE_TIMEOUT_S:g})")
    p.add_argument("--tick", type=positive_float, default=0.1, metavar="S",
                   help="plant step period in seconds (default 0.1)")
    p.add_argument("--speed", type=positive_float, default=1.0,
                   help="simulated seconds per wall second (default 1)")
    p.add_argument("--seed", type=int, default=None, help="random seed (repeatable runs)")


def field_sim_options(args: argparse.Namespace) -> FieldSimOptions:
    """The options from the command line; a malformed address is one line (ValueError)."""
    def addr(value: str, what: str) -> tuple[str, int] | None:
        return None if value == "off" else parse_addr(value, what)

    return FieldSimOptions(
        modbus=addr(args.modbus, "--modbus"), mms=addr(args.mms, "--mms"),
        control=addr(args.control, "--control"), control_fallback=args.control_fallback,
        control_token=args.control_token,
        control_allow_remote=args.control_allow_remote,
        control_max_connections=args.control_max_connections,
        control_idle_timeout_s=args.control_idle_timeout, tick_s=args.tick, speed=args.speed,
        seed=args.seed, station=args.station)


def cmd_field_sim(args: argparse.Namespace) -> int:
    from app.field.sim.runner import serve

    return serve(field_sim_options(args))


def cmd_modbus_map(args: argparse.Namespace) -> int:
    from app.field.rtu.map import write_modbus_map_csv
    from app.station import load_station
    from app.station.points import build_point_table

    write_modbus_map_csv(build_point_table(load_station(args.station)), sys.stdout)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from app.field.sim import runner

    sp = sub.add_parser("field-sim", help="the simulated station (protocol servers)",
                        description=runner.__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_field_sim_arguments(sp)
    sp.set_defaults(func=cmd_field_sim)

    sp = sub.add_parser("modbus-map", help="the RTU's Modbus register map as CSV",
                        description="Print the station RTU's register map as CSV (point, unit, "
                                    "device_id, function, address, type, word_order, scale, "
                                    "role) so any Modbus client can read the station. Floats "
                                    "and 32-bit counters are big-endian word order (ABCD).")
    sp.add_argument("--station", help="station file")
    sp.set_defaults(func=cmd_modbus_map)
