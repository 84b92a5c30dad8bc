"""Anomaly features: classes, arithmetic on hand-edited scans, quality, reasons, rates."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from app.field.sim.plant import PlantSimulator
from app.station import quality as Q
from app.station.frame import ScanFrame
from ml.anomaly.features import (
    ASSET_CLASSES,
    CLASS_FEATURES,
    EXTRA_HOT_SPOT_MODEL,
    FeatureExtractor,
    spec_fingerprint,
    usable_mask,
)

T0 = dt.datetime(2025, 3, 3, 6, 0, tzinfo=dt.UTC)  # simulated time: meets no wall clock
SQ3 = math.sqrt(3.0)


@pytest.fixture(scope="module")
def plant(station):
    p = PlantSimulator(station, seed=5, start=T0)
    for _ in range(5):
        p.step(1.0)
    return p


@pytest.fixture(scope="module")
def fx(station, plant):
    return FeatureExtractor(station, plant.points)


@pytest.fixture
def scan(plant):
    """A writable copy of one plant scan: values, quality, time, source times."""
    s = plant.snapshot()
    return {"values": np.array(s.values), "quality": np.array(s.quality),
            "t_s": s.timestamp.timestamp(), "t_source_ns": np.array(s.t_source_ns)}


def put(scan, points, **tags):
    for tag, v in tags.items():
        scan["values"][points.row(tag.replace("__", "."))] = v


def feat(ff, asset, name):
    cf, k = ff.of(asset)
    j = cf.assets.index(asset)
    col = [f.name for f in CLASS_FEATURES[cf.cls]].index(name)
    return float(cf.values[j, col]), bool(cf.available[j, col])


def extract(fx, scan, **kw):
    return fx.extract_arrays(scan["values"], scan["quality"], scan["t_s"],
                             t_source_ns=scan["t_source_ns"], **kw)


def test_every_asset_class_of_the_station_and_its_instruments(fx):
    assert fx.classes == ASSET_CLASSES
    assert set(fx.assets_of("transformer")) == {"ICT1", "ICT2", "TR1", "TR2"}
    assert set(fx.assets_of("reactor")) == {"BR4_R", "BR2_R"}
    assert set(fx.assets_of("capacitor_bank")) == {"CB1_C", "CB2_C"}
    assert len(fx.assets_of("breaker")) == 25 and len(fx.assets_of("busbar")) == 6
    bays = set(fx.assets_of("bay"))
    # lines and feeders, plus bays whose only instrument is a CT (couplers, sections, LV)
    assert {"L1_LINE", "F1_LINE", "IND1_LOAD", "BC4_CT", "BS3_CT", "ICT1L_CT"} <= bays
    assert not {"ICT1H_CT", "BR4_CT", "CB1_CT"} & bays  # claimed by their bay's asset
    units = {u.asset: u for u in fx.units}
    assert units["F1_LINE"].sources == ("F1_LINE", "F1_CVT", "F1_CT")
    assert units["B400_M1"].sources == ("B400_M1", "B400_M1_CVT")
    assert units["F1_LINE"].nominal_kv == 220.0 and units["F1_LINE"].rated_a == 900.0
    assert units["BR4_R"].rated_a == pytest.approx(50e3 / (SQ3 * 400.0))


def test_features_are_documented_with_units():
    for cls, feats in CLASS_FEATURES.items():
        names = [f.name for f in feats]
        assert len(set(names)) == len(names), cls
        for f in feats:
            assert f.doc and f.resolution > 0, f.name
            for suffix, unit in (("_pct", "%"), ("_c", "degC"), ("_ppm", "ppm"),
                                 ("_ppm_day", "ppm/day"), ("_bar", "bar"), ("_hz", "Hz"),
                                 ("_pct_min", "%/min"), ("_c_min", "degC/min")):
                if f.name.endswith(suffix):
                    assert f.unit == unit, f.name
            # rates and accumulating quantities are judged against the class
            if "_rate_" in f.name or "_trend_" in f.name or f.name.startswith("gas_"):
                assert not f.relative, f.name
    assert len(spec_fingerprint()) == 64


def test_feature_arithmetic_on_a_hand_edited_scan(fx, plant, scan):
    pt = plant.points
    v_ln = 220.0 / SQ3
    put(scan, pt, F1_CT__I_A=100.0, F1_CT__I_B=110.0, F1_CT__I_C=90.0,
        F1_CT__I_1=100.0, F1_CT__I_2=4.0,
        F1_CT__THD_A=2.0, F1_CT__THD_B=6.0, F1_CT__THD_C=3.0, F1_LINE__PF=-0.85,
        F1_CVT__V_A=1.06 * v_ln, F1_CVT__V_B=1.06 * v_ln, F1_CVT__V_C=1.06 * v_ln,
        B220_M1__V_A=0.94 * v_ln, B220_M1__V_B=0.95 * v_ln, B220_M1__V_C=0.93 * v_ln,
        B220_M1__HZ=50.2, ICT1__HOT_SPOT=80.0, ICT1__TOP_OIL=60.0, ICT1__AMBIENT=30.0,
        ICT1__BTD_H2=0.9, L1_Q0__SF6=5.9, CB1_C__UNBAL=0.5, CB1_C__I_A=100.0,
        CB1_C__I_B=100.0, CB1_C__I_C=100.0)
    residual = np.full(len(pt), np.nan)
    for p in "ABC":
        residual[pt.row(f"F1_CVT.V_{p}")] = 0.01 * v_ln
    ff = extract(fx, scan, residual=residual, extra={"ICT1": {EXTRA_HOT_SPOT_MODEL: 70.0}})

    assert feat(ff, "F1_LINE", "current_imbalance_pct") == (pytest.approx(10.0), True)
    assert feat(ff, "F1_LINE", "loading_pct")[0] == pytest.approx(100.0 / 900.0 * 100.0)
    assert feat(ff, "F1_LINE", "current_neg_seq_pct")[0] == pytest.approx(4.0)
    assert feat(ff, "F1_LINE", "thd_max_pct")[0] == pytest.approx(6.0)
    assert feat(ff, "F1_LINE", "power_factor_abs")[0] == pytest.approx(0.85)
    assert feat(ff, "F1_LINE", "voltage_dev_pct")[0] == pytest.approx(6.0)
    assert feat(ff, "F1_LINE", "voltage_residual_pct")[0] == pytest.approx(1.0)
    assert feat(ff, "B220_M1", "voltage_dev_pct")[0] == pytest.approx(-6.0)
    assert feat(ff, "B220_M1", "voltage_unbalance_pct")[0] == pytest.approx(1 / 0.94, rel=1e-6)
    assert feat(ff, "B220_M1", "frequency_dev_hz")[0] == pytest.approx(0.2)
    assert feat(ff, "ICT1", "top_oil_rise_k")[0] == pytest.approx(30.0)
    assert feat(ff, "ICT1", "hot_spot_excess_c") == (pytest.approx(10.0), True)
    # no model top-oil given: that feature does not apply (not missing)
    top = feat(ff, "ICT1", "top_oil_excess_c")
    assert math.isnan(top[0]) and not top[1]
    assert feat(ff, "ICT1", "bushing_tan_delta_max_pct")[0] == pytest.approx(0.9)
    assert feat(ff, "L1_Q0", "sf6_pressure_bar")[0] == pytest.approx(5.9)
    assert feat(ff, "IND1_Q0", "sf6_pressure_bar")[1] is False  # a vacuum breaker
    assert feat(ff, "CB1_C", "neutral_unbalance_pct")[0] == pytest.approx(0.5)
    # no history given: rates are not computed
    assert math.isnan(feat(ff, "ICT1", "hot_spot_rate_c_min")[0])
    # read-only results
    with pytest.raises(ValueError):
        ff.classes["bay"].values[0, 0] = 1.0


@pytest.mark.parametrize("word", [Q.INVALID, Q.QUESTIONABLE, Q.GOOD | Q.OLD_DATA,
                                  Q.GOOD | Q.TEST, Q.GOOD | Q.OPERATOR_BLOCKED,
                                  Q.SENSOR_FAILED, Q.COMM_LOST])
def test_bad_quality_is_never_used_as_good(fx, plant, scan, word):
    pt = plant.points
    put(scan, pt, F1_CT__I_A=100.0, F1_CT__I_B=400.0, F1_CT__I_C=90.0, ICT1__HOT_SPOT=150.0)
    scan["quality"][pt.row("F1_CT.I_B")] = word
    scan["quality"][pt.row("ICT1.HOT_SPOT")] = word
    ff = extract(fx, scan)
    imb = feat(ff, "F1_LINE", "current_imbalance_pct")
    assert math.isnan(imb[0]) and imb[1]  # applies, but missing: not valid
    assert feat(ff, "F1_LINE", "loading_pct")[0] == pytest.approx(95.0 / 9.0)  # A and C
    hs = feat(ff, "ICT1", "hot_spot_c")
    assert math.isnan(hs[0]) and hs[1]
    cf, _ = ff.of("ICT1")
    assert not cf.valid[cf.row("ICT1"), [f.name for f in CLASS_FEATURES["transformer"]]
                        .index("hot_spot_c")]
    assert not usable_mask(np.array([word], dtype=np.uint16))[0]


def test_units_that_cannot_be_scored_say_why(fx, plant, scan):
    pt = plant.points
    put(scan, pt, B33_A__V=0.0, B33_A__V_A=0.0, B33_A__V_B=0.0, B33_A__V_C=0.0,
        BR2_R__I_A=0.0, BR2_R__I_B=0.0, BR2_R__I_C=0.0)
    ff = extract(fx, scan)
    why = {a: r for cf in ff.classes.values() for a, r in zip(cf.assets, cf.reasons,
                                                                 strict=True)}
    assert why["B33_A"] == "de-energised"
    assert why["BR2_R"] == "switched out"
    assert why["BS3_CT"].startswith("no load")  # the normally open 33 kV section
    assert why["F1_LINE"] is None and why["ICT1"] is None and why["L1_Q0"] is None
    # an idle bay's load-dependent features do not apply (rather than being missing)
    imb = feat(ff, "BS3_CT", "current_imbalance_pct")
    assert not imb[1]


def test_wrong_scan_length_is_refused(fx, scan):
    with pytest.raises(ValueError, match=r"scan has 3 values and 3 quality words; the point "
                                         r"table has \d+ points"):
        fx.extract_arrays(scan["values"][:3], scan["quality"][:3], scan["t_s"])
    with pytest.raises(ValueError, match="residual has 2 values"):
        fx.extract_arrays(scan["values"], scan["quality"], scan["t_s"], residual=np.zeros(2))


def test_extract_takes_a_scan_frame(fx, plant):
    s = plant.snapshot()
    frame = ScanFrame(s.seq, s.timestamp, plant.points, s.values, s.quality, s.t_source_ns, {})
    ff = fx.extract(frame)
    assert ff.t_s == s.timestamp.timestamp()
    ref = fx.extract_arrays(s.values, s.quality, ff.t_s, t_source_ns=s.t_source_ns)
    for cls in fx.classes:
        np.testing.assert_array_equal(ff.classes[cls].values, ref.classes[cls].values)


def test_fast_rate_is_a_windowed_slope_not_scan_noise(fx, plant, scan):
    """Hot-spot rising 0.5 °C/min with 0.3 °C sensor noise at 10 Hz: the 5-minute slope."""
    rng = np.random.default_rng(3)
    row = plant.points.row("ICT1.HOT_SPOT")
    hist = fx.new_history()
    t0 = scan["t_s"]
    rates = []
    for i in range(6 * 600):  # six minutes at 10 Hz
        t = i / 10.0
        scan["values"][row] = 60.0 + 0.5 * t / 60.0 + rng.normal(0.0, 0.3)
        ff = fx.extract_arrays(scan["values"], scan["quality"], t0 + t,
                               t_source_ns=scan["t_source_ns"], history=hist)
        rates.append(feat(ff, "ICT1", "hot_spot_rate_c_min")[0])
    assert all(math.isnan(r) for r in rates[:1200])  # under 3 buckets / 2 minutes: none yet
    assert rates[-1] == pytest.approx(0.5, abs=0.03)
    # scan-to-scan differences would read ±0.4 °C per 0.1 s = ±240 °C/min
    assert np.nanmax(np.abs(np.array(rates[1300:]) - 0.5)) < 0.1


def test_slow_trend_and_history_copies(fx, plant, scan):
    """SF6 falling 0.1 bar/h, one scan every 10 s: −2.4 bar/day over the 1-hour window."""
    row = plant.points.row("L1_Q0.SF6")
    hist = fx.new_history()
    t0 = scan["t_s"]
    for i in range(7 * 60):  # 70 minutes
        scan["values"][row] = 6.0 - 0.1 * (i * 10.0) / 3600.0
        ff = fx.extract_arrays(scan["values"], scan["quality"], t0 + 10.0 * i, history=hist)
    assert feat(ff, "L1_Q0", "sf6_trend_bar_day")[0] == pytest.approx(-2.4, rel=0.02)
    # a copy goes its own way; the original is untouched
    branch = hist.copy()
    for i in range(7 * 60, 9 * 60):
        scan["values"][row] = 5.0
        fx.extract_arrays(scan["values"], scan["quality"], t0 + 10.0 * i, history=branch)
    i = 7 * 60
    scan["values"][row] = 6.0 - 0.1 * (i * 10.0) / 3600.0
    again = fx.extract_arrays(scan["values"], scan["quality"], t0 + 10.0 * i, history=hist)
    assert feat(again, "L1_Q0", "sf6_trend_bar_day")[0] == pytest.approx(-2.4, rel=0.02)
    # time going backwards starts the windows again
    back = fx.extract_arrays(scan["values"], scan["quality"], t0, history=hist)
    assert math.isnan(feat(back, "L1_Q0", "sf6_trend_bar_day")[0])


def test_dga_rate_from_oil_samples(fx, plant, scan):
    """C2H2 up 2 ppm per hourly sample: 48 ppm/day once samples span 4 hours."""
    pt = plant.points
    row = pt.row("TR1.C2H2")
    hist = fx.new_history()
    t0 = scan["t_s"]
    seen = []
    for i in range(6 * 60):  # six hours, a scan a minute; a new oil sample every hour
        t = t0 + 60.0 * i
        sample = i // 60
        scan["values"][row] = 1.0 + 2.0 * sample
        scan["t_source_ns"][row] = int((t0 + 3600.0 * sample) * 1e9)
        ff = extract(fx, {**scan, "t_s": t}, history=hist)
        seen.append(feat(ff, "TR1", "gas_c2h2_rate_ppm_day")[0])
    assert all(math.isnan(r) for r in seen[:4 * 60])  # samples span < 4 h
    assert seen[-1] == pytest.approx(48.0)
    assert feat(ff, "TR1", "gas_c2h2_ppm")[0] == pytest.approx(11.0)
    # ICT1's monitor gave one sample all along (its source time never moved): no rate yet
    rate, applies = feat(ff, "ICT1", "gas_c2h2_rate_ppm_day")
    assert math.isnan(rate) and applies


def test_no_rate_of_what_is_not_seen_now_nor_from_stale_data(fx, plant, scan):
    """SF6 falling steadily; then its bay stops answering for 20 minutes. While the value is
    missing its trend is missing too (not the last hour's slope); when it returns, the
    trend waits for fresh buckets instead of extrapolating from before the gap."""
    row = plant.points.row("L1_Q0.SF6")
    hist = fx.new_history()
    t0 = scan["t_s"]

    def at(i, lost=False):
        scan["values"][row] = 6.0 - 0.1 * (i * 10.0) / 3600.0
        q = scan["quality"].copy()
        if lost:
            q[row] = Q.COMM_LOST
        ff = fx.extract_arrays(scan["values"], q, t0 + 10.0 * i, history=hist)
        return feat(ff, "L1_Q0", "sf6_trend_bar_day")

    for i in range(60 * 6):  # an hour
        trend = at(i)
    assert trend[0] == pytest.approx(-2.4, rel=0.02)
    for i in range(360, 360 + 120):  # 20 minutes without the bay
        trend = at(i, lost=True)
        assert math.isnan(trend[0]) and trend[1]  # applies, but missing
    trend = at(480)  # back: the newest complete bucket is 20 minutes old
    assert math.isnan(trend[0])
    for i in range(481, 481 + 60):  # ten fresh minutes
        trend = at(i)
    assert trend[0] == pytest.approx(-2.4, rel=0.05)
