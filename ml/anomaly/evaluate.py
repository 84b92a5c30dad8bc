"""Event-level evaluation of anomaly flags against known fault intervals.

Input: per-scan flags of every asset (``flags[scan, asset]``, e.g. ``ScanAnomalies.
flagged_mask`` stacked over a run) with the scan times, and the faults that were injected
(:class:`FaultInterval`: the asset(s) a fault shows on, its kind, start and end, and when the
conventional threshold alarm first fired, if it did).

Definitions (all times in seconds):

* **Episode** — a run of consecutive flagged scans of one asset; runs separated by at most
  ``merge_gap_s`` are one episode.
* An episode **matches** a fault when the fault lists its asset and the episode overlaps
  ``[start, end + grace_s]`` (an episode already running when the fault starts counts too).
  Matching episodes are true; the others are **false alarms**.
* A fault is **detected** when one of its assets is flagged at a scan within ``[start, end +
  grace_s]``; the first such scan is its detection time. **Delay** = detection − start;
  **lead time** = first threshold alarm − detection (positive: the anomaly came first); a
  fault whose threshold alarm never fired has no lead time (counted in
  ``detected_without_alarm``).
* Overall: precision = true episodes / all episodes, recall = detected faults / faults,
  F1 their harmonic mean. With no episodes precision is 1 (no false claim); with no faults
  recall is 1.
* Per kind: recall over that kind's faults; precision = episodes matching a fault of that
  kind / (those + the false alarms on the assets that kind was injected on), so a noisy
  asset costs the kinds tested there.
* **False alarms per asset-day** = false episodes / (assets × days monitored).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ml.anomaly.detector import ScanAnomalies


class EvaluationInputError(ValueError):
    """Flags, times or fault intervals that do not fit together."""


@dataclass(frozen=True, slots=True)
class FaultInterval:
    assets: tuple[str, ...]
    kind: str
    start_s: float
    end_s: float
    first_alarm_s: float | None = None
    """When the first conventional threshold alarm of this fault fired (None: never)."""

    def __post_init__(self) -> None:
        if isinstance(self.assets, str):
            object.__setattr__(self, "assets", (self.assets,))
        if not self.assets:
            raise EvaluationInputError(f"fault '{self.kind}' names no asset")
        if not self.end_s >= self.start_s:
            raise EvaluationInputError(f"fault '{self.kind}' on {', '.join(self.assets)} ends "
                                       f"({self.end_s}) before it starts ({self.start_s})")


@dataclass(frozen=True, slots=True)
class Episode:
    asset: str
    start_s: float
    end_s: float
    scans: int
    faults: tuple[int, ...]
    """Indices of the faults it matches (empty: a false alarm)."""

    @property
    def false_alarm(self) -> bool:
        return not self.faults


@dataclass(frozen=True, slots=True)
class KindResult:
    kind: str
    faults: int
    detected: int
    true_episodes: int
    false_episodes: int
    precision: float
    recall: float
    f1: float
    delay_s: float | None
    """Median detection delay over the detected faults."""
    lead_s: float | None
    """Median lead time over the detected faults whose threshold alarm fired."""
    lead_times_s: tuple[float, ...]
    detected_without_alarm: int


@dataclass(frozen=True)
class EventEvaluation:
    precision: float
    recall: float
    f1: float
    faults: int
    detected: int
    true_episodes: int
    false_episodes: int
    false_alarms_per_asset_day: float
    asset_days: float
    per_kind: Mapping[str, KindResult]
    episodes: tuple[Episode, ...] = field(repr=False)
    detection_s: tuple[float | None, ...] = field(repr=False)
    """Per fault (input order): its detection time, or None when missed."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``f1``, ``precision``, ``recall``, ``false_alarms_per_asset_day``,
        ``per_kind`` {kind: {...}} and the counts."""
        out = {k: getattr(self, k) for k in
               ("f1", "precision", "recall", "false_alarms_per_asset_day", "faults",
                "detected", "true_episodes", "false_episodes", "asset_days")}
        out["per_kind"] = {k: {**asdict(r), "lead_times_s": list(r.lead_times_s)}
                           for k, r in self.per_kind.items()}
        return out


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def runs(t_s: np.ndarray, flag: np.ndarray, merge_gap_s: float = 0.0
         ) -> list[tuple[float, float, int]]:
    """(start, end, flagged scans) of each run of flagged scans, runs whose gap (last flag
    of one to first flag of the next) is at most ``merge_gap_s`` merged."""
    idx = np.nonzero(flag)[0]
    if not len(idx):
        return []
    out: list[list] = []
    prev = None
    for i in idx:
        t = float(t_s[i])
        contiguous = prev is not None and (i == prev + 1 or t - out[-1][1] <= merge_gap_s)
        if contiguous:
            out[-1][1] = t
            out[-1][2] += 1
        else:
            out.append([t, t, 1])
        prev = i
    return [tuple(r) for r in out]


def evaluate_events(t_s: np.ndarray, flags: np.ndarray, assets: Sequence[str],
                    faults: Sequence[FaultInterval], *, grace_s: float = 600.0,
                    merge_gap_s: float = 60.0, duration_s: float | None = None
                    ) -> EventEvaluation:
    """Score ``flags[scan, asset]`` (scan times ``t_s``, increasing) against ``faults``.
    ``duration_s``: the monitored time for false alarms per asset-day (default: last scan
    time − first)."""
    t = np.asarray(t_s, dtype=float)
    f = np.asarray(flags, dtype=bool)
    if f.ndim != 2 or f.shape != (len(t), len(assets)):
        raise EvaluationInputError(f"flags have shape {f.shape}; expected ({len(t)} scans, "
                                   f"{len(assets)} assets)")
    if len(t) > 1 and np.any(np.diff(t) <= 0):
        k = int(np.nonzero(np.diff(t) <= 0)[0][0]) + 1
        raise EvaluationInputError(f"scan times must increase: scan {k} at {t[k]} follows "
                                   f"{t[k - 1]}")
    col = {a: j for j, a in enumerate(assets)}
    for i, fl in enumerate(faults):
        unknown = [a for a in fl.assets if a not in col]
        if unknown:
            raise EvaluationInputError(f"fault {i} ('{fl.kind}') is on {', '.join(unknown)}, "
                                       "which the flags do not cover")
    if grace_s < 0 or merge_gap_s < 0:
        raise EvaluationInputError("grace_s and merge_gap_s must not be negative")

    # Episodes and what they match.
    episodes: list[Episode] = []
    for a, j in col.items():
        for start, end, n in runs(t, f[:, j], merge_gap_s):
            hit = tuple(i for i, fl in enumerate(faults) if a in fl.assets
                        and start <= fl.end_s + grace_s and end >= fl.start_s)
            episodes.append(Episode(a, start, end, n, hit))

    # Detection of each fault.
    detection: list[float | None] = []
    for fl in faults:
        win = (t >= fl.start_s) & (t <= fl.end_s + grace_s)
        cols = [col[a] for a in fl.assets]
        hit = win & f[:, cols].any(axis=1)
        detection.append(float(t[np.argmax(hit)]) if hit.any() else None)

    true_eps = [e for e in episodes if not e.false_alarm]
    false_eps = [e for e in episodes if e.false_alarm]
    n_det = sum(d is not None for d in detection)
    precision = len(true_eps) / len(episodes) if episodes else 1.0
    recall = n_det / len(faults) if faults else 1.0

    per_kind: dict[str, KindResult] = {}
    for kind in sorted({fl.kind for fl in faults}):
        ids = [i for i, fl in enumerate(faults) if fl.kind == kind]
        kind_assets = {a for i in ids for a in faults[i].assets}
        tp = sum(1 for e in true_eps if any(faults[i].kind == kind for i in e.faults))
        fp = sum(1 for e in false_eps if e.asset in kind_assets)
        det = [i for i in ids if detection[i] is not None]
        delays = [detection[i] - faults[i].start_s for i in det]
        leads = [faults[i].first_alarm_s - detection[i] for i in det
                 if faults[i].first_alarm_s is not None]
        p = tp / (tp + fp) if tp + fp else 1.0
        r = len(det) / len(ids)
        per_kind[kind] = KindResult(
            kind=kind, faults=len(ids), detected=len(det), true_episodes=tp,
            false_episodes=fp, precision=p, recall=r, f1=_f1(p, r),
            delay_s=float(np.median(delays)) if delays else None,
            lead_s=float(np.median(leads)) if leads else None,
            lead_times_s=tuple(float(x) for x in leads),
            detected_without_alarm=sum(1 for i in det if faults[i].first_alarm_s is None))

    span = duration_s if duration_s is not None else (float(t[-1] - t[0]) if len(t) else 0.0)
    asset_days = len(assets) * span / 86_400.0
    fa_rate = len(false_eps) / asset_days if asset_days > 0 else (
        0.0 if not false_eps else math.inf)
    return EventEvaluation(
        precision=precision, recall=recall, f1=_f1(precision, recall), faults=len(faults),
        detected=n_det, true_episodes=len(true_eps), false_episodes=len(false_eps),
        false_alarms_per_asset_day=fa_rate, asset_days=asset_days, per_kind=per_kind,
        episodes=tuple(episodes), detection_s=tuple(detection))


def flags_matrix(results: Sequence[ScanAnomalies]
                 ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """(times, flags[scan, asset], assets) from a run's ``ScanAnomalies`` results."""
    if not results:
        raise EvaluationInputError("no scans")
    assets = results[0].assets
    return (np.array([r.t_s for r in results]),
            np.vstack([r.flagged_mask for r in results]), assets)


def summary_line(ev: EventEvaluation) -> str:
    """One line for a log or a terminal."""
    return (f"F1 {ev.f1:.2f} (precision {ev.precision:.2f}, recall {ev.recall:.2f}), "
            f"{ev.detected}/{ev.faults} faults, {ev.false_episodes} false alarms "
            f"({ev.false_alarms_per_asset_day:.2f} per asset-day)")
