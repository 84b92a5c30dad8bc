"""Root-cause analysis. :mod:`ml.rca.dga` interprets dissolved-gas analyses (IEC 60599 ratios,
Duval Triangle 1 and Pentagon 1, typical values); :mod:`ml.rca.dga_ieee` gives the IEEE
C57.104-2019 DGA status of a dated history; :mod:`ml.rca.dga_combined` one diagnosis with a
confidence; :mod:`ml.rca.dga_hypotheses` ranked hypotheses for the inference worker;
:mod:`ml.rca.dga_csv` the CSV report. Thermal and event correlation build on them."""

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
