"""Accuracy of the DGA methods on labelled, inspected cases.

A case file is a DGA CSV (:mod:`ml.rca.dga_csv`: h2, ch4, c2h6, c2h4, c2h2 in ppm, case-
insensitive header) with two more columns: ``fault``, the fault found on inspection (PD, D1,
D2, T1, T2, T3, or ``T1/T2`` for a thermal fault below 700 °C whose temperature the source
does not split), and ``source``, the publication the row is transcribed from. Every row must
name its source: a case without one is refused.

:func:`evaluate` scores Duval Triangle 1, Duval Pentagon 1, the IEC 60599 ratios and the
combined diagnosis (:func:`ml.rca.dga_combined.diagnose`) as the share of cases each names
correctly (DT, ND, S or a D1/D2 dual answer never counts as correct: they do not name the
inspected fault).

The IEC TC 10 database of inspected cases (Duval & dePablo, IEEE Electrical Insulation
Magazine 17(2), 2001) is a *held-out* set for this: nothing in :mod:`ml.rca.dga_combined` is
fitted or tuned on it. Its expected place is :data:`HELDOUT_TC10`; see ``data/README.md``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from ml.rca.dga import duval_pentagon_1, duval_triangle_1, three_ratio
from ml.rca.dga_combined import diagnose
from ml.rca.dga_csv import DgaCsvError, read_dga_csv

DATA_DIR = Path(__file__).with_name("data")
HELDOUT_TC10 = DATA_DIR / "iec_tc10_holdout.csv"
LABELS = ("PD", "D1", "D2", "T1", "T2", "T3", "T1/T2")
METHODS = ("triangle1", "pentagon1", "ratios", "combined")


@dataclass(frozen=True, slots=True)
class Case:
    line: int
    fault: str
    source: str
    ppm: dict[str, float | None]


@dataclass(frozen=True, slots=True)
class Evaluation:
    cases: int
    correct: dict[str, int]

    def accuracy(self, method: str) -> float:
        return self.correct[method] / self.cases if self.cases else 0.0


def read_cases(path: str | Path) -> list[Case]:
    p = Path(path)
    analyses = {a.line: a for a in read_dga_csv(p)}
    with p.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = [h.strip().lower() for h in next(reader)]
        for col in ("fault", "source"):
            if col not in header:
                raise DgaCsvError(f"{p}: missing column {col}")
        fi, si = header.index("fault"), header.index("source")
        out = []
        line = reader.line_num + 1
        for cells in reader:
            if any(c.strip() for c in cells):
                fault = cells[fi].strip().upper() if fi < len(cells) else ""
                source = cells[si].strip() if si < len(cells) else ""
                if fault not in LABELS:
                    raise DgaCsvError(f"{p}, line {line}, column fault: {fault!r} is not one "
                                      f"of {', '.join(LABELS)}")
                if not source:
                    raise DgaCsvError(f"{p}, line {line}, column source: every case must name "
                                      "the publication it comes from")
                out.append(Case(line, fault, source, dict(analyses[line].ppm)))
            line = reader.line_num + 1
    return out


def _right(answer: str, fault: str) -> bool:
    return answer in ("T1", "T2") if fault == "T1/T2" else answer == fault


def evaluate(cases: list[Case], *, draws: int | None = None) -> Evaluation:
    correct = dict.fromkeys(METHODS, 0)
    for c in cases:
        g = {k: (v or 0.0) for k, v in c.ppm.items()}
        answers = {"triangle1": duval_triangle_1(g).code, "pentagon1": duval_pentagon_1(g).code,
                   "ratios": three_ratio(g).code,
                   "combined": (diagnose(c.ppm) if draws is None
                                else diagnose(c.ppm, draws=draws)).fault}
        for m, a in answers.items():
            correct[m] += _right(a, c.fault)
    return Evaluation(len(cases), correct)
