"""Anomaly models on synthetic data: the shared interface, per-asset baselines, missing
features, explanations, persistence, and the autoencoder's federated-learning hooks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ml.anomaly.features import CLASS_FEATURES
from ml.anomaly.models import (
    AnomalyModel,
    AutoencoderDetector,
    FeatureMismatchError,
    IsolationForestDetector,
    ModelFileError,
    NormStats,
    _Forest,
    severity_of,
)

CLS = "capacitor_bank"
NAMES = [f.name for f in CLASS_FEATURES[CLS]]
# output_pct, voltage_dev_pct, current_imbalance_pct, neutral_unbalance_pct, thd_max_pct,
# q_residual_pct; three banks whose normal THD differs (2.0, 3.0, 3.4 %)
MEAN = np.array([100.0, 0.3, 0.1, 0.1, 0.0, 0.0])
SD = np.array([0.5, 0.3, 0.05, 0.02, 0.1, 0.3])
THD = {"CB_A": 2.0, "CB_B": 3.0, "CB_C": 3.4}
J = {n: j for j, n in enumerate(NAMES)}


def rows(n, seed, assets=("CB_A", "CB_B", "CB_C")):
    rng = np.random.default_rng(seed)
    a = np.array([assets[i % len(assets)] for i in range(n)], dtype=object)
    X = MEAN + SD * rng.standard_normal((n, len(NAMES)))
    X[:, J["thd_max_pct"]] += np.array([THD[x] for x in a])
    X[:, J["current_imbalance_pct"]] = np.abs(X[:, J["current_imbalance_pct"]])
    return X, a


DETS = {"isolation_forest": lambda: IsolationForestDetector(CLS, seed=1),
        "autoencoder": lambda: AutoencoderDetector(CLS, seed=1)}


@pytest.fixture(scope="module", params=list(DETS))
def fitted(request):
    X, a = rows(6000, seed=0)
    det = DETS[request.param]()
    kw = {"epochs": 15} if request.param == "autoencoder" else {}
    return det.fit(X, None, a, **kw)


def test_vectorised_forest_is_scikit_learns_score():
    from sklearn.ensemble import IsolationForest

    rng = np.random.default_rng(4)
    X = rng.standard_normal((3000, 5)) * [1, 10, 0.1, 5, 2]
    f1 = IsolationForest(n_estimators=60, max_samples=200, random_state=0).fit(X)
    f2 = IsolationForest(n_estimators=60, max_samples=128, random_state=1).fit(X[:, :3])
    test = rng.standard_normal((500, 5)) * 3
    a, b = _Forest.from_sklearn(f1), _Forest.from_sklearn(f2)
    np.testing.assert_allclose(a.score(test), -f1.score_samples(test), rtol=0, atol=1e-12)
    # several forests (one per class, different widths) in one traversal
    both = _Forest.combine([a, b]).score_blocks([test[:7], test[7:12, :3]])
    np.testing.assert_allclose(both[:7], -f1.score_samples(test[:7]), rtol=0, atol=1e-12)
    np.testing.assert_allclose(both[7:], -f2.score_samples(test[7:12, :3]), rtol=0, atol=1e-12)
    # thresholds sitting between float32 values: still scikit-learn's branches
    edge = np.repeat(test[:1], 64, axis=0).astype(np.float32).astype(float)
    edge[:, 0] = np.nextafter(a.threshold[a.roots[0]].astype(np.float32), np.float32(0),
                              dtype=np.float32) + np.arange(64) * 1e-7
    np.testing.assert_allclose(a.score(edge), -f1.score_samples(edge), rtol=0, atol=1e-12)


def test_normal_rows_are_below_threshold(fitted):
    X, a = rows(3000, seed=9)
    s, ok = fitted.score(X, None, a)
    assert ok.all()
    assert np.mean(s >= 1.0) < 0.005
    assert fitted.threshold == 1.0 and fitted.metrics["rows"] == 6000
    assert fitted.metrics["train_flag_rate"] <= 0.001


def test_a_shift_inside_the_class_range_is_caught_by_the_assets_own_baseline(fitted):
    """Bank A's THD at 2.9 %: normal for bank B, four tenths of a per cent above A's own."""
    X, a = rows(3, seed=11)
    X[0, J["thd_max_pct"]] = 2.9  # a is CB_A
    s, ok = fitted.score(X, None, a)
    assert s[0] >= 1.0 and ok[0]
    ex = fitted.explain(X[0], None, "CB_A")
    assert ex[0].name == "thd_max_pct" and ex[0].unit == "%"
    assert ex[0].value == pytest.approx(2.9)
    assert 1.6 < ex[0].normal_lo < 2.0 < ex[0].normal_hi < 2.4  # bank A's own range
    assert sum(c.share for c in ex) == pytest.approx(1.0)
    assert all(c.share >= 0.02 for c in ex)
    # the same reading on bank B is normal
    X[1, J["thd_max_pct"]] = 2.9
    s, _ = fitted.score(X[1:2], None, ["CB_B"])
    assert s[0] < 1.0


def test_a_gross_fault_is_high_severity_and_explained(fitted):
    X, a = rows(1, seed=12)
    X[0, J["current_imbalance_pct"]] = 12.0
    s, _ = fitted.score(X, None, a)
    assert fitted.severity(s[0]) == "high"
    ex = fitted.explain(X[0], None, a[0])
    assert ex[0].name == "current_imbalance_pct" and ex[0].share > 0.8


def test_missing_features_are_imputed_excluded_and_lower_confidence(fitted):
    X, a = rows(2, seed=13)
    X[:, J["thd_max_pct"]] = [np.nan, 9.0]
    X[1, J["q_residual_pct"]] = np.nan
    s, ok = fitted.score(X, None, a)
    assert ok.all() and s[0] < 1.0  # the missing THD is not taken for a bad one
    conf = fitted.confidence(X)
    assert conf == pytest.approx([5 / 6, 5 / 6])
    assert "thd_max_pct" not in [c.name for c in fitted.explain(X[0], None, a[0])]
    assert "q_residual_pct" not in [c.name for c in fitted.explain(X[1], None, a[1])]
    # a feature that does not apply is neither missing nor counted
    avail = np.ones_like(X, dtype=bool)
    avail[:, J["thd_max_pct"]] = False
    assert fitted.confidence(X, avail) == pytest.approx([1.0, 4 / 5])


def test_too_few_valid_features_is_not_scored_with_a_reason(fitted):
    X, a = rows(1, seed=14)
    X[0, :4] = np.nan
    s, ok = fitted.score(X, None, a)
    assert not ok[0] and math.isnan(s[0])
    assert fitted.explain(X[0], None, a[0]) == []
    why = fitted.missing_reason(X[0])
    assert why.startswith("too few valid features: 2 of 6 (missing: output_pct, "
                          "voltage_dev_pct, current_imbalance_pct, neutral_unbalance_pct")


def test_an_asset_never_trained_on_is_judged_against_the_class(fitted):
    X, _ = rows(200, seed=15)
    s, ok = fitted.score(X, None, ["CB_NEW"] * 200)
    assert ok.all() and np.all(np.isfinite(s))
    lo, hi = fitted.normal_range("CB_NEW")
    assert lo[J["thd_max_pct"]] < 2.0 and hi[J["thd_max_pct"]] > 3.4  # the class's range


def test_wrong_width_is_refused(fitted):
    with pytest.raises(ValueError, match=f"{fitted.kind} model of class capacitor_bank takes "
                                         r"6 features, got an array of shape \(2, 5\)"):
        fitted.score(np.zeros((2, 5)))


def test_severity_bands():
    assert [severity_of(x) for x in (0.5, 1.0, 1.49, 1.5, 2.9, 3.0, float("nan"))] == \
        [None, "low", "low", "medium", "medium", "high", None]


# ---------------------------------------------------------------------- the model set
def model_of(kind, seed=0):
    X, a = rows(4000, seed=seed)
    det = DETS[kind]()
    det.fit(X, None, a, **({"epochs": 5} if kind == "autoencoder" else {}))
    m = AnomalyModel(kind, {CLS: det}, {"seed": seed})
    m.meta["training_window"] = ["2025-03-03T00:00:00+00:00", "2025-03-04T00:00:00+00:00"]
    return m


@pytest.mark.parametrize("kind", list(DETS))
def test_model_bytes_round_trip_and_hash(kind):
    m = model_of(kind)
    data = m.to_bytes()
    assert data == m.to_bytes()  # deterministic
    back = AnomalyModel.from_bytes(data, expected_sha256=m.sha256)
    assert back.sha256 == m.sha256 and back.to_bytes() == data
    X, a = rows(50, seed=21)
    X[0, J["thd_max_pct"]] = 9.0
    s1, _ = m.detectors[CLS].score(X, None, a)
    s2, _ = back.detectors[CLS].score(X, None, a)
    np.testing.assert_array_equal(s1, s2)
    assert back.detectors[CLS].explain(X[0], None, a[0]) == \
        m.detectors[CLS].explain(X[0], None, a[0])
    meta = back.metadata()
    assert meta["kind"] == kind and meta["sha256"] == m.sha256
    assert meta["training_window"] == m.meta["training_window"]
    assert [f["name"] for f in meta["features"][CLS]] == NAMES
    assert meta["metrics"][CLS]["rows"] == 4000


def test_bad_model_bytes_are_refused():
    m = model_of("isolation_forest")
    data = m.to_bytes()
    with pytest.raises(ModelFileError, match="does not match the recorded"):
        AnomalyModel.from_bytes(data, expected_sha256="0" * 64)
    with pytest.raises(ModelFileError, match="bad magic"):
        AnomalyModel.from_bytes(b"PK\x03\x04" + data[4:])
    with pytest.raises(ModelFileError, match="truncated"):
        AnomalyModel.from_bytes(data[:-100])
    with pytest.raises(ModelFileError, match="format 'gridtwin-anomaly/0'"):
        AnomalyModel.from_bytes(data.replace(b'"format":"gridtwin-anomaly/1"',
                                             b'"format":"gridtwin-anomaly/0"'))


def test_feature_mismatch_is_refused_in_one_line():
    m = model_of("isolation_forest")
    m.check_features()  # matches this program's features
    det = m.detectors[CLS]
    det.names = ("output_pct", "voltage_dev_pct", "current_imbalance_pct", "unbalance_a",
                 "thd_max_pct", "q_residual_pct")
    with pytest.raises(FeatureMismatchError) as e:
        m.check_features()
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.endswith("class 'capacitor_bank' feature 4 is 'unbalance_a' [%] in the model, "
                        "'neutral_unbalance_pct' [%] here")


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown anomaly model kind 'svm'"):
        AnomalyModel.create("svm")


# ---------------------------------------------------------------------- autoencoder / FL
def test_autoencoder_is_deterministic_and_matches_torch():
    import torch

    X, a = rows(3000, seed=30)
    d1 = AutoencoderDetector(CLS, seed=7).fit(X, None, a, epochs=3)
    d2 = AutoencoderDetector(CLS, seed=7).fit(X, None, a, epochs=3)
    for w1, w2 in zip(d1.get_weights(), d2.get_weights(), strict=True):
        np.testing.assert_array_equal(w1, w2)
    assert [w.shape for w in d1.get_weights()] == [(12, 6), (12,), (2, 12), (2,), (12, 2),
                                                   (12,), (6, 12), (6,)]
    z = np.random.default_rng(1).standard_normal((20, 6))
    with torch.no_grad():
        ref = d1._net(torch.from_numpy(z.astype(np.float32))).numpy()
    np.testing.assert_allclose(d1.reconstruct(z), ref, atol=1e-5)


def test_autoencoder_weights_get_set_and_bad_shapes():
    X, a = rows(2000, seed=31)
    src = AutoencoderDetector(CLS, seed=1).fit(X, None, a, epochs=2)
    dst = AutoencoderDetector(CLS, seed=2).fit(X, None, a, epochs=1)
    dst.set_weights(src.get_weights())
    np.testing.assert_allclose(dst.reconstruct(np.ones((1, 6))), src.reconstruct(np.ones((1, 6))))
    w = src.get_weights()
    with pytest.raises(ValueError, match=r"parameter of shape \(12, 6\) given \(6, 12\)"):
        dst.set_weights([w[0].T] + w[1:])
    with pytest.raises(ValueError, match="has 8 parameter arrays, got 7"):
        dst.set_weights(w[:7])


def test_train_epochs_reports_samples_and_a_falling_loss_and_restores_threads():
    import torch

    X, a = rows(3000, seed=32)
    det = AutoencoderDetector(CLS, seed=3).calibrate(X, None, a)
    before = torch.get_num_threads()
    n, first = det.train_epochs(X, 1, None, a)
    _, later = det.train_epochs(X, 10, None, a)
    assert n == 3000 and later < first
    assert torch.get_num_threads() == before


def test_norm_stats_federate_by_summing():
    X, a = rows(3000, seed=33)
    det = AutoencoderDetector(CLS, seed=3).calibrate(X, None, a)
    whole = det.norm_stats(X, None, a)
    parts = NormStats.merge([det.norm_stats(X[:1000], None, a[:1000]),
                             det.norm_stats(X[1000:], None, a[1000:])])
    for p, w in zip(parts.to_list(), whole.to_list(), strict=True):
        np.testing.assert_allclose(p, w)
    m1, s1 = whole.mean_std(det.floor)
    m2, s2 = NormStats.from_list(parts.to_list()).mean_std(det.floor)
    np.testing.assert_allclose(m1, m2)
    np.testing.assert_allclose(s1, s2)


def test_two_stations_federated_round_trip():
    """Two stations with different banks: shared normalisation from summed statistics,
    FedAvg of locally trained weights, thresholds calibrated locally; each still catches a
    THD shift on its own bank."""
    Xa, aa = rows(3000, seed=40, assets=("CB_A", "CB_B"))
    Xb, ab = rows(3000, seed=41, assets=("CB_C",))
    sa = AutoencoderDetector(CLS, seed=5).calibrate(Xa, None, aa)
    sb = AutoencoderDetector(CLS, seed=5).calibrate(Xb, None, ab)
    norm = NormStats.merge([sa.norm_stats(Xa, None, aa), sb.norm_stats(Xb, None, ab)])
    for st in (sa, sb):
        st.set_norm_stats(norm)
    for _ in range(3):  # rounds
        results = [st.train_epochs(X, 2, None, a) for st, X, a in ((sa, Xa, aa), (sb, Xb, ab))]
        n = np.array([r[0] for r in results], dtype=float)
        avg = [(wa * n[0] + wb * n[1]) / n.sum() for wa, wb in
               zip(sa.get_weights(), sb.get_weights(), strict=True)]
        sa.set_weights(avg)
        sb.set_weights(avg)
    sa.calibrate(Xa, None, aa)
    sb.calibrate(Xb, None, ab)
    for st, X, asset in ((sa, Xa, "CB_A"), (sb, Xb, "CB_C")):  # each first row's bank
        x = X[:1].copy()
        x[0, J["thd_max_pct"]] = THD[asset] + 1.0
        s, _ = st.score(x, None, [asset])
        assert s[0] >= 1.0
        assert st.explain(x[0], None, asset)[0].name == "thd_max_pct"


def test_training_a_class_directly_reaches_the_one_pass_cache_and_the_hash():
    """A federated client trains a class's autoencoder in place: the model's bytes and its
    cached per-unit layout follow (nothing stale is scored or stored)."""
    from ml.anomaly.features import FeatureFrame, FeatureLayout

    m = model_of("autoencoder")
    det = m.detectors[CLS]
    X, a = rows(6, seed=50)
    layout = FeatureLayout(tuple(a), (CLS,) * 6, {CLS: slice(0, 6)}, {CLS: 6})
    ro = X.copy()
    ro.setflags(write=False)
    av = np.ones_like(X, dtype=bool)
    ff = FeatureFrame(0.0, {}, layout, ro, av, (None,) * 6, np.ones(6, dtype=bool))
    before, h0 = m.score_rows(ff)[0], m.sha256
    Xt, at = rows(2000, seed=51)
    det.train_epochs(Xt, 2, None, at)
    after = m.score_rows(ff)[0]
    np.testing.assert_allclose(after, det.score(X, None, a)[0])
    assert not np.allclose(before, after) and m.sha256 != h0
