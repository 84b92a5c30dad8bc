"""Training and inference of one N-BEATS model on one series, deterministic from a seed.

**Scaling.** Each window is divided by the mean absolute value of its own lookback (the
target by the same number), and the forecast multiplied back. Load has a level that moves
with the season (Victoria's winter demand is ~20 % above its autumn; a station's load grows
year on year), and a forecast from a 12-week training set must work a week later at a level
it may not have seen: a global scale from training data would leave that shift to the
network, the window's own level removes it. The mean (not the max) because a single spike in
the lookback then moves the scale little; the absolute value so that a net load that crosses
zero still gives a positive scale (floored at 1e-6 × the training data's mean |value|).

**Training.** Every lookback+horizon window of the training series is a sample (an origin
at every step, not only at midnight: the model forecasts from any time). Each iteration
draws ``batch_size`` origins uniformly (numpy ``default_rng(seed)``); loss is the mean
absolute error of the scaled forecast, which is the absolute error relative to the window's
level, i.e. close to what MAPE measures; Adam, learning rate ``learning_rate`` halved at 50 %,
75 % and 90 % of the steps. The weights start from ``torch.manual_seed(seed)`` inside a
forked RNG (the caller's torch RNG is left alone); torch runs on ``threads`` threads (1 by
default, at most 2) for the call and the previous count is restored. One thread because the
machine has two cores that the HMI's scan, solver and historian threads also use: under that
load two OpenMP threads spin against the other work (a training step of the 4 × 128 generic
network measured 27 ms on two threads, 18 ms on one, on a busy 2-core machine). Same data,
seed and configuration → the same weights, bit for bit, on the same machine and torch build.

**Ensemble.** ``members`` > 1 trains that many networks from different random
initialisations and forecasts their mean (the paper ensembles 180 models over
initialisations, lookbacks and losses; a few members here cut the variance from the
initialisation, which on 12 weeks of data is large).

A training run can report progress and be cancelled (``progress(fraction)``,
``cancel() -> bool``, checked every iteration) so that a job runner can drive it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ml.forecast.nbeats import NBeats, NBeatsConfig

log = logging.getLogger(__name__)

MAX_THREADS = 2


class TrainingCancelled(RuntimeError):
    """The cancel flag was raised during training."""


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1000
    batch_size: int = 128
    learning_rate: float = 1e-3
    seed: int = 0
    threads: int = 1
    members: int = 1

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class FitReport:
    train_s: float
    steps: int
    samples: int
    final_loss: float


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run torch on ``n`` threads (at most :data:`MAX_THREADS`) and restore the count."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(int(n), MAX_THREADS)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


class NBeatsEnsemble(torch.nn.Module):
    """``members`` N-BEATS models of one configuration, each from its own random
    initialisation; the forecast is their mean. Trained together on the same batches with
    the sum of their losses, which (Adam being per parameter) is training each on its own."""

    def __init__(self, config: NBeatsConfig, members: int) -> None:
        super().__init__()
        self.members = torch.nn.ModuleList(NBeats(config) for _ in range(members))

    def forward_members(self, x: torch.Tensor) -> torch.Tensor:
        """Each member's forecast, stacked: ``(members, batch, H)``."""
        return torch.stack([m(x) for m in self.members])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_members(x).mean(dim=0)


def window_scale(lookback: np.ndarray, floor: float) -> np.ndarray:
    """Scale of each window (last axis): its mean absolute value, at least ``floor``."""
    return np.maximum(np.mean(np.abs(lookback), axis=-1), floor)


class NBeatsForecaster:
    """One N-BEATS model with its scaling: ``fit`` on a series, ``predict`` from windows."""

    def __init__(self, config: NBeatsConfig, train: TrainConfig | None = None) -> None:
        self.config = config
        self.train_config = train or TrainConfig()
        self.scale_floor = 1e-6
        if self.train_config.members < 1:
            raise ValueError("an ensemble needs at least one member")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.train_config.seed)
            self.net = NBeatsEnsemble(config, self.train_config.members)
        self.net.eval()
        self.fitted = False

    # ------------------------------------------------------------------ training
    def fit(self, values: np.ndarray, progress: Callable[[float], None] | None = None,
            cancel: Callable[[], bool] | None = None) -> FitReport:
        """Train on every window of ``values`` (1-D, finite). A second call goes on from the
        weights the first left; a new forecaster starts from the seed's initialisation."""
        y = np.asarray(values, dtype=np.float64)
        L, H = self.config.lookback_steps, self.config.horizon_steps
        if y.ndim != 1 or not np.all(np.isfinite(y)):
            raise ValueError("training series must be 1-D and finite (no NaN or inf)")
        n_origins = len(y) - L - H + 1
        if n_origins < 1:
            raise ValueError(f"training series of {len(y)} samples is shorter than lookback + "
                             f"horizon ({L} + {H})")
        tc = self.train_config
        self.scale_floor = 1e-6 * max(float(np.mean(np.abs(y))), 1e-12)
        idx = np.arange(L + H)[None, :] + np.arange(n_origins)[:, None]
        windows = y[idx]
        scale = window_scale(windows[:, :L], self.scale_floor)
        scaled = torch.as_tensor(windows / scale[:, None], dtype=torch.float32)
        rng = np.random.default_rng(tc.seed)
        milestones = [int(tc.steps * f) for f in (0.5, 0.75, 0.9)]
        t0 = time.perf_counter()
        loss_value = float("nan")
        with torch_threads(tc.threads), torch.random.fork_rng(devices=[]):
            torch.manual_seed(tc.seed)
            opt = torch.optim.Adam(self.net.parameters(), lr=tc.learning_rate)
            sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones, gamma=0.5)
            self.net.train()
            try:
                for step in range(tc.steps):
                    if cancel is not None and cancel():
                        raise TrainingCancelled(f"training cancelled at step {step}/{tc.steps}")
                    batch = scaled[torch.as_tensor(rng.integers(0, n_origins, tc.batch_size))]
                    x, target = batch[:, :L], batch[:, L:]
                    loss = torch.mean(torch.abs(self.net.forward_members(x) - target))
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                    loss_value = float(loss.detach())
                    if progress is not None and (step % 25 == 0 or step == tc.steps - 1):
                        progress((step + 1) / tc.steps)
            finally:
                self.net.eval()
        train_s = time.perf_counter() - t0
        self.fitted = True
        log.info("N-BEATS %s trained: %d steps on %d windows in %.1f s (loss %.4f)",
                 self.config.kind, tc.steps, n_origins, train_s, loss_value)
        return FitReport(train_s, tc.steps, n_origins, loss_value)

    # ------------------------------------------------------------------ inference
    def predict(self, lookback: np.ndarray) -> np.ndarray:
        """Forecast from lookback windows: ``(L,)`` → ``(H,)`` or ``(n, L)`` → ``(n, H)``."""
        x = np.asarray(lookback, dtype=np.float64)
        single = x.ndim == 1
        x2 = x[None, :] if single else x
        if x2.ndim != 2 or x2.shape[1] != self.config.lookback_steps:
            raise ValueError(f"lookback window of shape {x.shape}: need "
                             f"({self.config.lookback_steps},) or (n, "
                             f"{self.config.lookback_steps})")
        if not np.all(np.isfinite(x2)):
            raise ValueError("lookback window holds NaN or inf")
        scale = window_scale(x2, self.scale_floor)
        with torch_threads(self.train_config.threads), torch.inference_mode():
            out = self.net(torch.as_tensor(x2 / scale[:, None], dtype=torch.float32))
        y = out.numpy().astype(np.float64) * scale[:, None]
        return y[0] if single else y
