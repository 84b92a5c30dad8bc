"""IEC 61850 quality, as one 16-bit word per value.

The bit values are libiec61850's (``Quality`` in its API), so a word read over MMS maps to
ours unchanged: validity in the low two bits (good 0, reserved 1, invalid 2, questionable 3),
then the detail flags, source, test and operator-blocked. Over Modbus the same word is served
in the quality register block (see the register map).
"""

from __future__ import annotations

import numpy as np

GOOD = 0
RESERVED = 1
INVALID = 2
QUESTIONABLE = 3
VALIDITY_MASK = 3

OVERFLOW = 4
OUT_OF_RANGE = 8
BAD_REFERENCE = 16
OSCILLATORY = 32
FAILURE = 64
OLD_DATA = 128
INCONSISTENT = 256
INACCURATE = 512
SUBSTITUTED = 1024
TEST = 2048
OPERATOR_BLOCKED = 4096
DERIVED = 8192

#: What a point reads when its device does not answer: invalid, old data.
COMM_LOST = INVALID | OLD_DATA
#: A failed sensor.
SENSOR_FAILED = INVALID | FAILURE
#: A frozen sensor (value not updating).
SENSOR_FROZEN = QUESTIONABLE | OLD_DATA

_DETAIL_NAMES = ((OVERFLOW, "overflow"), (OUT_OF_RANGE, "outOfRange"),
                 (BAD_REFERENCE, "badReference"), (OSCILLATORY, "oscillatory"),
                 (FAILURE, "failure"), (OLD_DATA, "oldData"), (INCONSISTENT, "inconsistent"),
                 (INACCURATE, "inaccurate"), (SUBSTITUTED, "substituted"), (TEST, "test"),
                 (OPERATOR_BLOCKED, "operatorBlocked"), (DERIVED, "derived"))
_VALIDITY_NAMES = {GOOD: "good", RESERVED: "reserved", INVALID: "invalid",
                   QUESTIONABLE: "questionable"}


def validity(q: int) -> int:
    return int(q) & VALIDITY_MASK


def is_good(q: int) -> bool:
    return validity(q) == GOOD


def describe(q: int) -> str:
    """``"good"``, ``"invalid|failure"``, ``"questionable|oldData"`` …"""
    parts = [_VALIDITY_NAMES[validity(q)]]
    parts += [name for bit, name in _DETAIL_NAMES if int(q) & bit]
    return "|".join(parts)


def good_mask(q: np.ndarray) -> np.ndarray:
    return (q & VALIDITY_MASK) == GOOD
