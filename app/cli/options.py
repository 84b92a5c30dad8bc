"""Options shared by the verbs, and argument types checked by argparse, so a bad value is one
line naming the option ("--duration: 'x' is not a number"), never a traceback."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def int_at_least(low: int) -> Callable[[str], int]:
    """argparse type: a whole number ≥ ``low``."""
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if n < low:
            raise argparse.ArgumentTypeError(f"{text!r}: must be at least {low}")
        return n

    parse.__name__ = f"whole number >= {low}"
    return parse


positive_int = int_at_least(1)


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (x > 0 and x != float("inf")):
        raise argparse.ArgumentTypeError(f"{text!r}: must be a number greater than 0")
    return x


non_negative_int = int_at_least(0)


#: Exit status for bad input (a station file, an option, a CSV line): one line on stderr.
EXIT_INPUT = 2


def station_and_json(sp: argparse.ArgumentParser, json_help: str = "print JSON for scripts"
                     ) -> None:
    sp.add_argument("--station", metavar="FILE",
                    help="station file (default: circuits/station.toml, or $GRIDTWIN_STATION)")
    sp.add_argument("--json", action="store_true", help=json_help)
