"""The station's day-ahead load forecast, for the HMI: train, forecast with a band, store.

:func:`train_station_forecaster` takes a station-load series (numpy array, evenly spaced at
``period_minutes``, oldest first, finite) and returns a :class:`StationForecaster`;
``forecaster.forecast(recent)`` gives the next ``horizon`` (24 h by default) from the latest
lookback (168 h by default) as a :class:`StationForecast`: the point forecast and a band.

**The band** comes from the model's own errors on data it was not trained on. The last
``calibration_days`` of the series are held out; the model is trained on what comes before
them; then it forecasts from *every* step of the held-out days that has a whole horizon after
it (not only from midnight: the HMI asks at any time), and for each horizon step ``h`` the
residuals ``(actual − forecast) / s`` are collected, where ``s`` is the scale of that
forecast's lookback (the mean absolute value, as the model scales its input). The band at
step ``h`` is the forecast plus ``s`` times the empirical ``(1 − c)/2`` and ``(1 + c)/2``
quantiles of those residuals (``c`` = ``coverage``, 0.9 by default): a split-conformal-style
interval per horizon step, relative to the level of the load, so it widens with lead time as
the errors do and follows the level through the seasons. The model that forecasts is the one
whose errors were measured (it is not retrained on the held-out days; its lookback does see
them). With 7 days at 30 min and a 24 h horizon each step's quantiles come from 289
residuals (overlapping forecasts, so fewer independent ones: the band is an estimate).

**Storage.** :meth:`StationForecaster.to_bytes` writes a self-describing blob: a magic line,
a JSON header (architecture, training settings, scaling floor, band quantiles, calibration
figures, and each tensor's name, shape and offset) and the state dict's tensors as raw
little-endian float32 — no pickle, so loading a stored model runs no code. The SHA-256 of the
blob (:attr:`StationForecaster.sha256`) names the version: training is deterministic, so the
same series, settings and seed give the same bytes and the same hash. ``from_bytes`` and
``load`` check the hash when given one (:class:`ModelFileError` if it differs).
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ml.forecast.backtest import mape_pct, steps_for
from ml.forecast.model import NBeatsForecaster, TrainConfig, window_scale
from ml.forecast.nbeats import NBeatsConfig

MAGIC = b"GRIDTWIN-NBEATS 1\n"
_LEN = struct.Struct("<Q")


class ModelFileError(ValueError):
    """A stored forecaster that cannot be loaded (bad format or a hash that differs)."""


@dataclass(frozen=True)
class StationForecast:
    """A forecast of the next ``len(point)`` samples after the lookback it was made from."""

    point: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    coverage: float
    period_minutes: int
    model_sha256: str

    def __post_init__(self) -> None:
        for a in (self.point, self.lower, self.upper):
            a.flags.writeable = False


class StationForecaster:
    """A trained N-BEATS model with its band; build with :func:`train_station_forecaster`."""

    def __init__(self, model: NBeatsForecaster, period_minutes: int, coverage: float,
                 q_low: np.ndarray, q_high: np.ndarray, calibration: dict) -> None:
        self.model = model
        self.period_minutes = int(period_minutes)
        self.coverage = float(coverage)
        self.q_low = np.asarray(q_low, dtype=np.float64)
        self.q_high = np.asarray(q_high, dtype=np.float64)
        self.calibration = dict(calibration)
        self._blob: bytes | None = None

    @property
    def lookback_steps(self) -> int:
        return self.model.config.lookback_steps

    @property
    def horizon_steps(self) -> int:
        return self.model.config.horizon_steps

    def forecast(self, recent: np.ndarray) -> StationForecast:
        """Forecast the next horizon from the latest samples (at least the lookback; the
        last ``lookback_steps`` are used)."""
        x = np.asarray(recent, dtype=np.float64)
        if x.ndim != 1 or len(x) < self.lookback_steps:
            raise ValueError(f"forecast needs the last {self.lookback_steps} samples "
                             f"(1-D), got shape {x.shape}")
        x = x[-self.lookback_steps:]
        point = self.model.predict(x)
        s = float(window_scale(x, self.model.scale_floor))
        return StationForecast(point, point + s * self.q_low, point + s * self.q_high,
                               self.coverage, self.period_minutes, self.sha256)

    # ------------------------------------------------------------------ storage
    def to_bytes(self) -> bytes:
        if self._blob is None:
            state = self.model.net.state_dict()
            index, chunks, offset = [], [], 0
            for name, t in state.items():
                raw = t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
                index.append({"name": name, "shape": list(t.shape), "offset": offset,
                              "nbytes": len(raw)})
                chunks.append(raw)
                offset += len(raw)
            header = {
                "format": 1, "period_minutes": self.period_minutes,
                "nbeats": self.model.config.as_dict(), "train": self.model.train_config.as_dict(),
                "scale_floor": self.model.scale_floor, "coverage": self.coverage,
                "q_low": self.q_low.tolist(), "q_high": self.q_high.tolist(),
                "calibration": self.calibration, "tensors": index,
            }
            head = json.dumps(header, sort_keys=True).encode()
            self._blob = MAGIC + _LEN.pack(len(head)) + head + b"".join(chunks)
        return self._blob

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.to_bytes()).hexdigest()

    def save(self, path: str | Path) -> str:
        """Write the model to ``path``; returns its SHA-256."""
        Path(path).write_bytes(self.to_bytes())
        return self.sha256

    @classmethod
    def load(cls, path: str | Path, expected_sha256: str | None = None) -> StationForecaster:
        try:
            blob = Path(path).read_bytes()
        except OSError as exc:
            raise ModelFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
        return cls.from_bytes(blob, expected_sha256, name=str(path))

    @classmethod
    def from_bytes(cls, blob: bytes, expected_sha256: str | None = None,
                   name: str = "model") -> StationForecaster:
        digest = hashlib.sha256(blob).hexdigest()
        if expected_sha256 is not None and digest != expected_sha256.lower():
            raise ModelFileError(f"{name}: SHA-256 {digest} differs from the expected "
                                 f"{expected_sha256}")
        if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + _LEN.size:
            raise ModelFileError(f"{name}: not a stored GridTwin N-BEATS model")
        (n,) = _LEN.unpack_from(blob, len(MAGIC))
        start = len(MAGIC) + _LEN.size
        try:
            h = json.loads(blob[start:start + n])
            if h.get("format") != 1:
                raise ModelFileError(f"{name}: model format {h.get('format')!r} is not 1")
            model = NBeatsForecaster(NBeatsConfig(**h["nbeats"]), TrainConfig(**h["train"]))
            data = start + n
            state = {}
            for t in h["tensors"]:
                a, b = data + t["offset"], data + t["offset"] + t["nbytes"]
                if b > len(blob):
                    raise ModelFileError(f"{name}: truncated at tensor {t['name']}")
                arr = np.frombuffer(blob[a:b], dtype="<f4").reshape(t["shape"])
                state[t["name"]] = torch.from_numpy(arr.copy())
            model.net.load_state_dict(state, strict=True)
        except ModelFileError:
            raise
        except (ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise ModelFileError(f"{name}: damaged model: {exc}") from None
        model.scale_floor = float(h["scale_floor"])
        model.fitted = True
        out = cls(model, h["period_minutes"], h["coverage"], np.array(h["q_low"]),
                  np.array(h["q_high"]), h["calibration"])
        out._blob = bytes(blob)
        return out


def train_station_forecaster(
        values: np.ndarray, period_minutes: int, *, horizon_hours: float = 24,
        lookback_hours: float = 168, calibration_days: float = 7, coverage: float = 0.9,
        kind: str = "interpretable", nbeats: NBeatsConfig | None = None,
        train: TrainConfig | None = None, progress: Callable[[float], None] | None = None,
        cancel: Callable[[], bool] | None = None) -> StationForecaster:
    """Train on all but the last ``calibration_days``, measure the band on them."""
    y = np.asarray(values, dtype=np.float64)
    if y.ndim != 1 or not np.all(np.isfinite(y)):
        raise ValueError("station load series must be 1-D and finite (fill gaps first)")
    if period_minutes < 1 or (24 * 60) % period_minutes:
        raise ValueError(f"period of {period_minutes} min does not divide a day")
    if not 0 < coverage < 1:
        raise ValueError(f"band coverage {coverage}: must be between 0 and 1")
    H = steps_for(horizon_hours, period_minutes, "horizon")
    L = steps_for(lookback_hours, period_minutes, "lookback")
    C = steps_for(calibration_days * 24, period_minutes, "calibration")
    cfg = nbeats or NBeatsConfig(lookback_steps=L, horizon_steps=H, kind=kind)
    if (cfg.lookback_steps, cfg.horizon_steps) != (L, H):
        raise ValueError("N-BEATS configuration does not match the lookback and horizon")
    if C < H:
        raise ValueError(f"calibration of {calibration_days:g} days is shorter than the "
                         f"horizon ({horizon_hours:g} h)")
    first = len(y) - C
    if first < L + H:
        raise ValueError(f"station load series of {len(y)} samples: need at least "
                         f"{L + H + C} (lookback + horizon for training, plus "
                         f"{calibration_days:g} days to calibrate the band)")
    model = NBeatsForecaster(cfg, train)
    report = model.fit(y[:first], progress=progress, cancel=cancel)
    origins = np.arange(first, len(y) - H + 1)
    x = y[origins[:, None] - L + np.arange(L)]
    actual = y[origins[:, None] + np.arange(H)]
    fc = model.predict(x)
    s = window_scale(x, model.scale_floor)[:, None]
    resid = (actual - fc) / s
    q_low = np.quantile(resid, (1 - coverage) / 2, axis=0)
    q_high = np.quantile(resid, (1 + coverage) / 2, axis=0)
    inside = (actual >= fc + s * q_low) & (actual <= fc + s * q_high)
    calibration = {"days": calibration_days, "origins": int(len(origins)),
                   "train_samples": int(first), "mape_pct": round(mape_pct(actual, fc), 4),
                   "in_band_pct": round(100.0 * float(inside.mean()), 2),
                   "final_loss": round(report.final_loss, 6)}
    return StationForecaster(model, period_minutes, coverage, q_low, q_high, calibration)
