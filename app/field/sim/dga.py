"""Dissolved-gas generation in transformer oil, with fault signatures per IEC 60599.

A healthy transformer slowly accumulates CO and CO2 (paper ageing, faster when hot) and
traces of hydrocarbons. An injected fault adds gas-generation rates (ppm/h) in the ratios
that put it in its row of the IEC 60599 ratio table and its zone of Duval Triangle 1 (see
:mod:`ml.rca.dga`), ramping up over the stated hours as a developing fault does. Because a
healthy unit already holds some gas (a few ppm of C2H4, say), a weak fault shows its pattern
first in the *increase* since the last analysis before it began, as IEC 60599 advises reading
it; a strong one, given time, in the concentrations themselves:

=====  =====================================  ======================================
code   fault                                  dominant gases
=====  =====================================  ======================================
PD     partial discharge                      H2 (CH4 small)
D1     discharge of low energy                H2, C2H2
D2     discharge of high energy (arcing)      C2H2, H2, C2H4
T1     thermal fault < 300 °C                 CH4, C2H6
T2     thermal fault 300–700 °C               C2H4, CH4
T3     thermal fault > 700 °C                 C2H4 (C2H2 traces)
=====  =====================================  ======================================

The on-line monitor samples the oil periodically (default hourly); between samples it
reports the last analysis with that sample's time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from app.field.sim.thermal import relative_ageing_rate

GASES = ("h2", "ch4", "c2h6", "c2h4", "c2h2", "co", "co2")

# Generation rates in ppm/h at severity 1.0, in gas order above. Each sits well inside its
# fault's row of the IEC 60599 ratio table *and* its zone of Duval Triangle 1, with margin to
# every boundary (ml.rca.dga classifies them; tests/field/test_dga.py checks it):
#
#        C2H2/C2H4  CH4/H2  C2H4/C2H6 | Duval CH4 %  C2H4 %  C2H2 %
#   PD      0        0.05     0.013   |      99.6     0.4     0
#   D1      4        0.25     1.5     |      28.6    14.3    57.1   (outside D2's rows)
#   D2      1.2      0.7      5       |      33.7    30.1    36.1   (outside D1's rows)
#   T1      0        3        0.1     |      88.2    11.8     0
#   T2      0.009    4        2.2     |      64.3    35.4     0.3
#   T3      0.04     2        13      |      27.8    69.6     2.6
SIGNATURES: dict[str, tuple[float, ...]] = {
    "PD": (50.0, 2.5, 0.8, 0.01, 0.0, 0.2, 1.0),
    "D1": (40.0, 10.0, 3.3, 5.0, 20.0, 0.5, 3.0),
    "D2": (40.0, 28.0, 5.0, 25.0, 30.0, 1.0, 5.0),
    "T1": (3.0, 9.0, 12.0, 1.2, 0.0, 3.0, 25.0),
    "T2": (5.0, 20.0, 5.0, 11.0, 0.1, 2.0, 20.0),
    "T3": (8.0, 16.0, 3.0, 40.0, 1.5, 2.0, 20.0),
}


@dataclass
class DgaFault:
    code: str
    severity: float
    ramp_h: float
    elapsed_h: float = 0.0


class DgaModel:
    def __init__(self, rng: np.random.Generator, *, sample_interval_h: float = 1.0,
                 aged: float = 1.0) -> None:
        # A healthy, some-years-old transformer (well below IEC 60599 typical 90 % values).
        base = np.array([18.0, 12.0, 9.0, 6.0, 0.3, 280.0, 2400.0]) * aged
        self.ppm = base * rng.uniform(0.8, 1.2, size=len(GASES))
        self.sample_interval_h = sample_interval_h
        self.sampled = self.ppm.copy()
        self.since_sample_h = 0.0
        self.sample_time_ns = 0
        self.faults: dict[str, DgaFault] = {}
        self.moisture_ppm = float(rng.uniform(7.0, 11.0))

    @property
    def fault(self) -> DgaFault | None:
        """The most recent developing fault, if any."""
        return next(reversed(self.faults.values()), None)

    def inject(self, code: str, *, severity: float = 1.0, ramp_h: float = 6.0,
               key: str = "") -> None:
        """Start a fault developing (several may develop at once, each under its ``key``)."""
        if code not in SIGNATURES:
            raise ValueError(f"unknown DGA fault '{code}' (use one of {', '.join(SIGNATURES)})")
        if not (0 < severity < math.inf and 0 <= ramp_h < math.inf):
            raise ValueError("severity must be > 0 and ramp_h >= 0")
        self.faults[key] = DgaFault(code, severity, ramp_h)

    def severity_total(self) -> float:
        """The combined severity of the faults developing now."""
        return sum(f.severity for f in self.faults.values())

    def clear(self, key: str | None = None) -> None:
        """Stop one fault's gas generation (all when ``key`` is None); the gas stays."""
        if key is None:
            self.faults.clear()
        else:
            self.faults.pop(key, None)

    def step(self, dt_s: float, hot_spot_c: float, now_ns: int) -> str | None:
        """Advance ``dt_s`` seconds. Returns None, or the gas (``gas_<name>_ppm``) whose
        content would stop being finite, with the model left at its last finite state."""
        dt_h = dt_s / 3600.0
        # Paper ageing: CO/CO2 generation doubles every 6 K like the ageing rate.
        v = relative_ageing_rate(hot_spot_c) if math.isfinite(hot_spot_c) else 1.0
        normal = np.array([0.004, 0.003, 0.002, 0.001, 0.0, 0.25, 2.0]) * v
        rate = normal
        for f in self.faults.values():
            f.elapsed_h += dt_h
            ramp = 1.0 if f.ramp_h == 0 else min(1.0, f.elapsed_h / f.ramp_h)
            rate = rate + np.asarray(SIGNATURES[f.code]) * f.severity * ramp
        with np.errstate(over="ignore", invalid="ignore"):
            ppm = self.ppm + rate * dt_h
        bad = ~np.isfinite(ppm)
        if bad.any():
            return f"gas_{GASES[int(np.argmax(bad))]}_ppm"
        self.ppm = ppm
        self.since_sample_h += dt_h
        if self.sample_time_ns == 0 or self.since_sample_h >= self.sample_interval_h:
            self.sampled = self.ppm.copy()
            self.since_sample_h = 0.0
            self.sample_time_ns = now_ns

    def tdcg_ppm(self) -> float:
        """Total dissolved combustible gas (all but CO2) of the last sample."""
        return float(self.sampled[:6].sum())
