"""The station's domain model: bays, assets, nameplates, measurement points.

Qt-free and immutable. Load a station file with :func:`load_station`; a wrong file is
refused with :class:`StationFileError` naming the file, the asset and the field.

Also the data every layer passes on, so that none needs another's package: the flattened
point table (:mod:`app.station.points`), IEC 61850 quality words (:mod:`app.station.quality`),
one scan of the field with value, quality and source time of every point
(:mod:`app.station.frame`), and a switching command's answer with its IEC 61850 AddCause
(:mod:`app.station.commands`).
"""

from app.station.loader import default_station_path, load_station
from app.station.model import (
    Asset,
    AssetType,
    Bay,
    Contingency,
    Nameplate,
    Point,
    Station,
    StationFileError,
    StationInfo,
    VoltageLevel,
)

__all__ = [
    "Asset",
    "AssetType",
    "Bay",
    "Contingency",
    "Nameplate",
    "Point",
    "Station",
    "StationFileError",
    "StationInfo",
    "VoltageLevel",
    "default_station_path",
    "load_station",
]
