"""Root-cause analysis. :mod:`ml.rca.dga` interprets dissolved-gas analyses (IEC 60599 ratios,
Duval Triangle 1 and Pentagon 1, typical values); :mod:`ml.rca.dga_ieee` gives the IEEE
C57.104-2019 DGA status of a dated history; :mod:`ml.rca.dga_combined` one diagnosis with a
confidence; :mod:`ml.rca.dga_hypotheses` ranked hypotheses for the inference worker;
:mod:`ml.rca.dga_csv` the CSV report. Beyond DGA: :mod:`ml.rca.thermal` (measured against the
IEC 60076-7 model: cooling failure, overload, sensor), :mod:`ml.rca.events` (event correlation
over the station's topology), :mod:`ml.rca.history` (past incidents by signature), and the one
entry point over all of them, :func:`ml.rca.engine.analyse` (types in :mod:`ml.rca.result`;
timing in :mod:`ml.rca.bench`)."""

from ml.rca.dga import (
    DgaInputError,
    Diagnosis,
    Interpretation,
    duval_pentagon_1,
    duval_triangle_1,
    interpret,
    three_ratio,
)

__all__ = ["DgaInputError", "Diagnosis", "Interpretation", "duval_pentagon_1",
           "duval_triangle_1", "interpret", "three_ratio"]
