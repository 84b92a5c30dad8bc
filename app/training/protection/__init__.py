"""Protection relays of the station for the trainer's drills (Qt-free).

Settings are data (``circuits/protection.toml``, :mod:`.settings`); the measuring elements
are pure functions (:mod:`.elements`); :class:`StationProtection` plays a fault on the twin
as a deterministic sequence of timed events (:mod:`.scheme`).
"""

from app.training.protection.scheme import (
    FaultScenario,
    ProtectionEvent,
    ProtectionSequence,
    Stage,
    StationProtection,
)
from app.training.protection.settings import (
    ProtectionFileError,
    ProtectionSettings,
    load_protection,
)

__all__ = [
    "FaultScenario",
    "ProtectionEvent",
    "ProtectionFileError",
    "ProtectionSequence",
    "ProtectionSettings",
    "Stage",
    "StationProtection",
    "load_protection",
]
