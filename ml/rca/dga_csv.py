"""DGA analyses from a CSV file, and the per-row report of the combined diagnosis.

The file has a header row naming its columns, in any case and order: ``h2``, ``ch4``, ``c2h6``,
``c2h4``, ``c2h2`` (required), ``co`` and ``co2`` (optional), and an optional ``id`` column kept
exactly as written. Other columns are ignored. Values are ppm (µl/l); a blank cell is a gas not
measured. A cell that is not a non-negative number, a missing required column or a repeated
column is refused with :class:`DgaCsvError`, one line naming the file, line and column.

:func:`report` gives, per row: ``id`` (when the file has one), ``fault`` (PD, D1, D2, T1, T2,
T3 or DT), ``warranted``, ``duval1_zone``, ``pentagon_zone``, ``ratio_code``, ``confidence``
and ``explanation`` (see :mod:`ml.rca.dga_combined`).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ml.rca.dga_combined import diagnose

REQUIRED_COLUMNS = ("h2", "ch4", "c2h6", "c2h4", "c2h2")
OPTIONAL_COLUMNS = ("co", "co2")
ID_COLUMN = "id"


class DgaCsvError(ValueError):
    """The CSV file cannot be read as DGA analyses; the message names file, line and column."""


@dataclass(frozen=True, slots=True)
class CsvAnalysis:
    line: int
    """Line of the file the row starts on (the header is line 1)."""
    id: str | None
    ppm: Mapping[str, float | None]
    """Gas (formula, upper case) → ppm, None when the cell was blank."""


def read_dga_csv(path: str | Path) -> list[CsvAnalysis]:
    """Read the analyses of a DGA CSV file (see the module notes)."""
    p = Path(path)
    try:
        fh = p.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise DgaCsvError(f"{p}: cannot read ({exc.strerror or exc})") from None
    with fh:
        reader = csv.reader(fh)
        try:
            header = next(reader, None)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DgaCsvError(f"{p}, line 1: not a CSV file ({exc})") from None
        if header is None or not any(h.strip() for h in header):
            raise DgaCsvError(f"{p}: no header row (need columns "
                              f"{', '.join(REQUIRED_COLUMNS)})")
        index: dict[str, int] = {}
        for k, name in enumerate(header):
            key = name.strip().lower()
            if key in REQUIRED_COLUMNS + OPTIONAL_COLUMNS + (ID_COLUMN,):
                if key in index:
                    raise DgaCsvError(f"{p}, line 1: column {key} appears twice")
                index[key] = k
        missing = [c for c in REQUIRED_COLUMNS if c not in index]
        if missing:
            raise DgaCsvError(f"{p}: missing column {', '.join(missing)} (need "
                              f"{', '.join(REQUIRED_COLUMNS)}; optional "
                              f"{', '.join(OPTIONAL_COLUMNS + (ID_COLUMN,))})")
        out = []
        line = reader.line_num + 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                break
            except (csv.Error, UnicodeDecodeError) as exc:
                raise DgaCsvError(f"{p}, line {line}: not valid CSV ({exc})") from None
            if not any(c.strip() for c in cells):
                line = reader.line_num + 1
                continue
            ppm: dict[str, float | None] = {}
            for col in REQUIRED_COLUMNS + OPTIONAL_COLUMNS:
                if col not in index:
                    continue
                raw = cells[index[col]] if index[col] < len(cells) else ""
                ppm[col.upper()] = _number(raw, p, line, col)
            ident = None
            if ID_COLUMN in index:
                ident = cells[index[ID_COLUMN]] if index[ID_COLUMN] < len(cells) else ""
            out.append(CsvAnalysis(line, ident, ppm))
            line = reader.line_num + 1
    return out


def _number(raw: str, path: Path, line: int, column: str) -> float | None:
    text = raw.strip()
    if not text:
        return None
    try:
        v = float(text)
    except ValueError:
        raise DgaCsvError(f"{path}, line {line}, column {column}: {raw!r} is not a number"
                          ) from None
    if not math.isfinite(v) or v < 0:
        raise DgaCsvError(f"{path}, line {line}, column {column}: {raw!r} is not a concentration "
                          "(ppm, zero or more)")
    return v


def report_row(row: CsvAnalysis, *, with_id: bool = True) -> dict[str, object]:
    """The report of one analysis (keys in the order the CLI prints them)."""
    d = diagnose(row.ppm)
    out: dict[str, object] = {}
    if with_id:
        out["id"] = row.id
    out.update({"fault": d.fault, "warranted": d.warranted, "duval1_zone": d.duval1_zone,
                "pentagon_zone": d.pentagon_zone, "ratio_code": d.ratio_code,
                "confidence": round(d.confidence, 3), "explanation": d.explanation})
    return out


def report(path: str | Path) -> list[dict[str, object]]:
    """Read a DGA CSV file and diagnose every row (``id`` only when the file has one)."""
    rows = read_dga_csv(path)
    with_id = any(r.id is not None for r in rows)
    return [report_row(r, with_id=with_id) for r in rows]
