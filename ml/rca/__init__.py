"""Root-cause analysis. :mod:`ml.rca.dga` interprets dissolved-gas analyses (IEC 60599 ratios,
Duval Triangle 1, typical values); thermal and event correlation build on it."""

from ml.rca.dga import (
    DgaInputError,
    Diagnosis,
    Interpretation,
    duval_triangle_1,
    interpret,
    three_ratio,
)

__all__ = ["DgaInputError", "Diagnosis", "Interpretation", "duval_triangle_1", "interpret",
           "three_ratio"]
