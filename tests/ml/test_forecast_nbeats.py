"""N-BEATS: shapes, the bases (polynomial trend, Fourier seasonality), doubly residual
stacking, weight sharing, determinism, and learning a clean seasonal signal."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ml.forecast.backtest import mape_pct, seasonal_naive
from ml.forecast.model import NBeatsForecaster, TrainConfig
from ml.forecast.nbeats import NBeats, NBeatsConfig, seasonality_basis, trend_basis

SMALL = {"n_stacks": 2, "width": 32, "theta_dim": 8, "trend_width": 32,
         "seasonality_width": 32}


@pytest.mark.parametrize("kind", ["generic", "interpretable"])
def test_shapes(kind):
    cfg = NBeatsConfig(lookback_steps=96, horizon_steps=24, kind=kind, **SMALL)
    net = NBeats(cfg)
    x = torch.randn(5, 96)
    y, partial = net.forward_stacks(x)
    assert y.shape == (5, 24) and net(x).shape == (5, 24)
    assert len(partial) == (2 if kind == "interpretable" else cfg.n_stacks)
    torch.testing.assert_close(sum(partial), y)  # stack forecasts add up to the forecast
    f = NBeatsForecaster(cfg, TrainConfig(steps=1))
    assert f.predict(np.ones(96)).shape == (24,)
    assert f.predict(np.ones((3, 96))).shape == (3, 24)
    with pytest.raises(ValueError, match=r"need \(96,\)"):
        f.predict(np.ones(95))


def test_config_refuses_a_lookback_not_a_multiple_of_the_horizon():
    with pytest.raises(ValueError, match="not a multiple of the horizon"):
        NBeatsConfig(lookback_steps=100, horizon_steps=24)
    with pytest.raises(ValueError, match="kind 'x'"):
        NBeatsConfig(lookback_steps=48, horizon_steps=24, kind="x")


def test_trend_basis_is_the_polynomial_in_t_over_h():
    b = trend_basis(3, 8, 8)
    t = np.arange(8) / 8
    assert b.shape == (4, 8)
    np.testing.assert_allclose(b, [np.ones(8), t, t ** 2, t ** 3])
    # Any cubic in t is reproduced exactly by θ @ basis.
    theta = np.array([1.0, -2.0, 0.5, 3.0])
    np.testing.assert_allclose(theta @ b, 1 - 2 * t + 0.5 * t ** 2 + 3 * t ** 3)


def test_seasonality_basis_is_fourier_with_paper_harmonics():
    H = 24
    cfg = NBeatsConfig(lookback_steps=48, horizon_steps=H, kind="interpretable")
    K = cfg.n_harmonics
    assert K == H // 2 - 1
    b = seasonality_basis(K, H, H)
    t = np.arange(H) / H
    assert b.shape == (1 + 2 * K, H)
    np.testing.assert_allclose(b[0], 1.0)
    for k in range(1, K + 1):
        np.testing.assert_allclose(b[k], np.cos(2 * math.pi * k * t), atol=1e-12)
        np.testing.assert_allclose(b[K + k], np.sin(2 * math.pi * k * t), atol=1e-12)
    # Orthogonal over the horizon, so it spans the 1 + 2K harmonics independently.
    gram = b @ b.T
    np.testing.assert_allclose(gram - np.diag(np.diag(gram)), 0.0, atol=1e-9)
    # The backcast axis is the forecast's continued into the past: whole cycles line up.
    back = seasonality_basis(K, 48, H, start=-48)
    np.testing.assert_allclose(back[:, -H:], b, atol=1e-9)


def test_interpretable_blocks_use_those_bases_and_share_weights():
    cfg = NBeatsConfig(lookback_steps=48, horizon_steps=24, kind="interpretable", **SMALL)
    net = NBeats(cfg)
    assert net.stack_names == ["trend", "seasonality"] and net.repeats == [3, 3]
    trend, season = net.stacks[0][0], net.stacks[1][0]
    np.testing.assert_allclose(trend.forecast_basis.basis.numpy(), trend_basis(2, 24, 24),
                               rtol=1e-6)
    np.testing.assert_allclose(season.forecast_basis.basis.numpy(),
                               seasonality_basis(cfg.n_harmonics, 24, 24), atol=1e-6)
    # The trend stack's forecast is a polynomial of degree ≤ 2 in t whatever the input.
    _, (trend_f, _) = net.forward_stacks(torch.randn(4, 48))
    t = np.arange(24) / 24
    for row in trend_f.detach().numpy():
        fit = np.polyfit(t, row, 2)
        np.testing.assert_allclose(np.polyval(fit, t), row, atol=1e-4)
    # Weights are stored once per stack although each is applied 3 times.
    assert not any(k.startswith(("stacks.0.1", "stacks.1.1")) for k in net.state_dict())


def test_doubly_residual_stacking_by_hand():
    cfg = NBeatsConfig(lookback_steps=48, horizon_steps=24, kind="generic", **SMALL)
    net = NBeats(cfg)
    x = torch.randn(3, 48)
    b0, f0 = net.stacks[0][0](x)
    b1, f1 = net.stacks[1][0](x - b0)
    torch.testing.assert_close(net(x), f0 + f1)
    assert b1.shape == x.shape


def _series(days: int, steps_per_day: int = 24, noise: float = 0.002, seed: int = 3):
    """A clean seasonal load: a two-harmonic daily shape on a level growing 1 % a day."""
    rng = np.random.default_rng(seed)
    i = np.arange(days * steps_per_day)
    phase = 2 * math.pi * (i % steps_per_day) / steps_per_day
    shape = 1 + 0.25 * np.sin(phase - 1.0) + 0.1 * np.cos(2 * phase)
    level = 100 * np.exp(0.01 * i / steps_per_day)
    return level * shape * (1 + noise * rng.standard_normal(len(i)))


def test_same_seed_same_weights_other_seed_other_weights():
    y = _series(20)
    cfg = NBeatsConfig(lookback_steps=48, horizon_steps=24, kind="generic", **SMALL)

    def fit(seed: int) -> np.ndarray:
        f = NBeatsForecaster(cfg, TrainConfig(steps=20, batch_size=32, seed=seed,
                                                  threads=1))
        f.fit(y)
        return f.predict(y[-48:])

    state = torch.random.get_rng_state()
    a, b, c = fit(1), fit(1), fit(2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's RNG left alone


@pytest.mark.parametrize("kind", ["generic", "interpretable"])
def test_learns_a_clean_seasonal_signal_better_than_naive(kind):
    y = _series(42)
    L, H = 96, 24
    cfg = NBeatsConfig(lookback_steps=L, horizon_steps=H, kind=kind, n_stacks=2, width=64,
                       trend_width=64, seasonality_width=64)
    f = NBeatsForecaster(cfg, TrainConfig(steps=600, batch_size=64, seed=0, threads=1))
    first = len(y) - 7 * H
    f.fit(y[:first])
    origins = range(first, len(y), H)
    actual = np.stack([y[o:o + H] for o in origins])
    nb = mape_pct(actual, f.predict(np.stack([y[o - L:o] for o in origins])))
    naive_day = mape_pct(actual, np.stack([seasonal_naive(y[:o], 24, H) for o in origins]))
    assert naive_day > 0.9  # the 1 %/day growth the naive forecast misses
    assert nb < 0.5 * naive_day, (nb, naive_day)


def test_ensemble_forecasts_the_mean_of_its_members():
    cfg = NBeatsConfig(lookback_steps=48, horizon_steps=24, kind="generic", **SMALL)
    f = NBeatsForecaster(cfg, TrainConfig(steps=3, batch_size=16, members=3, threads=1))
    f.fit(_series(10))
    x = _series(10)[-48:]
    scale = np.mean(np.abs(x))
    with torch.inference_mode():
        xt = torch.as_tensor(x[None, :] / scale, dtype=torch.float32)
        each = [m(xt).numpy()[0] * scale for m in f.net.members]
    assert len(each) == 3 and not np.allclose(each[0], each[1])
    np.testing.assert_allclose(f.predict(x), np.mean(each, axis=0), rtol=1e-5)
    with pytest.raises(ValueError, match="at least one member"):
        NBeatsForecaster(cfg, TrainConfig(members=0))


def test_training_reports_progress_and_can_be_cancelled():
    from ml.forecast.model import TrainingCancelled

    cfg = NBeatsConfig(lookback_steps=48, horizon_steps=24, kind="generic", **SMALL)
    seen: list[float] = []
    f = NBeatsForecaster(cfg, TrainConfig(steps=60, batch_size=16, threads=1))
    report = f.fit(_series(10), progress=seen.append)
    assert seen[-1] == 1.0 and seen == sorted(seen) and report.steps == 60
    calls = iter(range(1000))
    f = NBeatsForecaster(cfg, TrainConfig(steps=60, batch_size=16, threads=1))
    with pytest.raises(TrainingCancelled, match="cancelled at step 5/60"):
        f.fit(_series(10), cancel=lambda: next(calls) >= 5)
