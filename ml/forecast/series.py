"""Load series from CSV: one evenly spaced series of values, checked line by line.

The file has a header row, then one row per sample. Two columns are used:

* **time** — ``--time-col NAME`` if given; else the first column whose header reads like a
  time (``timestamp``, ``time``, ``datetime``, ``date``, ``ts`` or a name containing ``time``);
  else the first column whose first data row parses as ISO 8601.
* **value** — ``--value-col NAME`` if given; else the first *other* column whose first data
  row parses as a number.

Other columns are ignored (not checked). Timestamps are ISO 8601 as Python's
``datetime.fromisoformat`` reads them (``2014-01-01T00:30:00+10:00``, ``…Z``, a space for
the ``T``). A timestamp with no UTC offset is taken as IST (UTC+05:30), the station's time, as
the rest of the command line does. Each sample keeps the offset its timestamp carries: that
offset is "the series' own time zone", and a day starts at 00:00 in it (a series written with
a daylight-saving offset thus has 23- and 25-hour days; its instants are still evenly spaced).

The spacing is inferred as the most common step between consecutive rows and must be 15, 30
or 60 minutes. Anything else is refused with :class:`SeriesFileError`, one line naming the
file, the line and what is wrong: a row with too few fields, a bad timestamp, an empty or
non-numeric or non-finite value, a timestamp with an offset where the others have none (or
the reverse), a duplicate time, a time earlier than the row before, a gap (missing samples)
or a step off the grid. A ``.gz`` file is read through gzip.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.station.timezone import IST

#: Spacings a series may have, in minutes.
PERIODS_MIN = (15, 30, 60)
_TIME_NAMES = ("timestamp", "time", "datetime", "date", "ts", "date_time", "time_utc")


class SeriesFileError(ValueError):
    """A load-series file that cannot be used; the message names file, line and problem."""


@dataclass(frozen=True)
class LoadSeries:
    """An evenly spaced series. ``t_utc_s`` are epoch seconds (UTC instants);
    ``utc_offset_s`` each sample's own offset from UTC, as its timestamp gave it."""

    values: np.ndarray
    t_utc_s: np.ndarray
    utc_offset_s: np.ndarray
    period_minutes: int
    source: str = ""
    value_name: str = "value"

    def __post_init__(self) -> None:
        for a in (self.values, self.t_utc_s, self.utc_offset_s):
            a.flags.writeable = False

    def __len__(self) -> int:
        return len(self.values)

    @property
    def steps_per_day(self) -> int:
        return 24 * 60 // self.period_minutes

    def local_midnights(self) -> np.ndarray:
        """Indices of the samples stamped 00:00 in their own time zone."""
        local = self.t_utc_s + self.utc_offset_s
        return np.flatnonzero(local % 86400 == 0)

    def time_at(self, i: int) -> dt.datetime:
        """Sample ``i``'s time in its own zone (aware)."""
        tz = dt.timezone(dt.timedelta(seconds=int(self.utc_offset_s[i])))
        return dt.datetime.fromtimestamp(int(self.t_utc_s[i]), tz)


def _is_time_name(name: str) -> bool:
    n = name.strip().lower()
    return n in _TIME_NAMES or "time" in n


def _parse_time(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None


def _parse_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115


def _pick_columns(name: str, header: list[str], first: list[str] | None, time_col: str | None,
                  value_col: str | None) -> tuple[int, int]:
    cols = [h.strip() for h in header]

    def index_of(col: str, what: str) -> int:
        if col not in cols:
            raise SeriesFileError(f"{name}: line 1: no {what} column {col!r} "
                                  f"(columns: {', '.join(cols)})")
        return cols.index(col)

    if time_col is not None:
        ti = index_of(time_col, "time")
    else:
        named = [i for i, c in enumerate(cols) if _is_time_name(c)]
        parsed = [i for i, c in enumerate(first or []) if i < len(cols)
                  and _parse_time(c) is not None and _parse_float(c) is None]
        if not (named or parsed):
            raise SeriesFileError(f"{name}: line 1: no time column (no header like "
                                  "'timestamp' and no ISO 8601 time in the first row; "
                                  "name one with --time-col)")
        ti = (named or parsed)[0]
    if value_col is not None:
        vi = index_of(value_col, "value")
        if vi == ti:
            raise SeriesFileError(f"{name}: line 1: value column {value_col!r} is the time "
                                  "column")
    else:
        numeric = [i for i, c in enumerate(first or []) if i != ti and i < len(cols)
                   and _parse_float(c) is not None]
        if not numeric:
            raise SeriesFileError(f"{name}: line 2: no numeric value column beside "
                                  f"{cols[ti]!r} (name one with --value-col)")
        vi = numeric[0]
    return ti, vi


def load_csv(path: str | Path, time_col: str | None = None,
             value_col: str | None = None) -> LoadSeries:
    """Read and check a load series (see the module's docstring for the rules)."""
    path = Path(path)
    name = str(path)
    try:
        fh = _open_text(path)
    except OSError as exc:
        raise SeriesFileError(f"{name}: cannot open: {exc.strerror or exc}") from None
    with fh:
        try:
            rows = [(n, r) for n, r in _numbered_rows(fh) if any(c.strip() for c in r)]
        except (UnicodeDecodeError, OSError, EOFError, csv.Error) as exc:
            raise SeriesFileError(f"{name}: cannot read as CSV text: {exc}") from None
    if not rows:
        raise SeriesFileError(f"{name}: line 1: empty file (a header row is needed)")
    (_, header), data = rows[0], rows[1:]
    if not data:
        raise SeriesFileError(f"{name}: line 2: no data rows after the header")
    ti, vi = _pick_columns(name, header, data[0][1] if data else None, time_col, value_col)
    tname, vname = header[ti].strip(), header[vi].strip()
    t_utc = np.empty(len(data), dtype=np.int64)
    off = np.empty(len(data), dtype=np.int64)
    vals = np.empty(len(data), dtype=np.float64)
    lines = np.empty(len(data), dtype=np.int64)
    aware: bool | None = None
    for k, (line, row) in enumerate(data):
        where = f"{name}: line {line}"
        if len(row) <= max(ti, vi):
            raise SeriesFileError(f"{where}: {len(row)} field(s), the {tname!r} and {vname!r} "
                                  f"columns need {max(ti, vi) + 1}")
        t = _parse_time(row[ti])
        if t is None:
            raise SeriesFileError(f"{where}: column {tname!r}: {row[ti]!r} is not an ISO 8601 "
                                  "time")
        if aware is None:
            aware = t.tzinfo is not None
        elif aware != (t.tzinfo is not None):
            raise SeriesFileError(f"{where}: column {tname!r}: {row[ti]!r} "
                                  f"{'has no' if aware else 'has a'} UTC offset, unlike "
                                  "the first row")
        if t.tzinfo is None:
            t = t.replace(tzinfo=IST)
        v = _parse_float(row[vi]) if row[vi].strip() else None
        if v is None or not math.isfinite(v):
            what = "empty" if not row[vi].strip() else f"{row[vi]!r} is not a finite number"
            raise SeriesFileError(f"{where}: column {vname!r}: {what}")
        o = t.utcoffset()
        off[k] = int(o.total_seconds()) if o is not None else 0
        t_utc[k] = int(t.timestamp())
        vals[k] = v
        lines[k] = line
    if len(data) < 2:
        raise SeriesFileError(f"{name}: line {int(lines[0]) + 1}: fewer than two samples")
    period_s = _check_spacing(name, t_utc, lines)
    return LoadSeries(vals, t_utc, off, period_s // 60, source=name, value_name=vname)


def _numbered_rows(fh: io.TextIOBase) -> Iterator[tuple[int, list[str]]]:
    """Each CSV row with the line it starts on."""
    reader = csv.reader(fh)
    start = 1
    for row in reader:
        yield start, row
        start = reader.line_num + 1


def _check_spacing(name: str, t_utc: np.ndarray, lines: np.ndarray) -> int:
    d = np.diff(t_utc)
    positive = d[d > 0]
    if not len(positive):
        raise SeriesFileError(f"{name}: line {lines[1]}: duplicate time (same as line "
                              f"{lines[0]})")
    period_s = Counter(positive.tolist()).most_common(1)[0][0]
    if period_s not in [p * 60 for p in PERIODS_MIN]:
        raise SeriesFileError(f"{name}: line {lines[1]}: spacing of {period_s / 60:g} min is "
                              f"not one of {', '.join(map(str, PERIODS_MIN))} min")
    bad = np.flatnonzero(d != period_s)
    if len(bad):
        k = int(bad[0])
        here, prev, step = int(lines[k + 1]), int(lines[k]), int(d[k])
        where = f"{name}: line {here}"
        if step == 0:
            raise SeriesFileError(f"{where}: duplicate time (same as line {prev})")
        if step < 0:
            raise SeriesFileError(f"{where}: time goes backwards (earlier than line {prev})")
        if step % period_s == 0:
            raise SeriesFileError(f"{where}: gap of {step // period_s - 1} missing sample(s) "
                                  f"after line {prev} (spacing {period_s // 60} min)")
        raise SeriesFileError(f"{where}: {step / 60:g} min after line {prev}, off the "
                              f"{period_s // 60}-min grid")
    return period_s
