"""CLI verbs for root-cause analysis.

    gridtwin rca dga --csv FILE [--json]   diagnose each oil analysis of a CSV file: the most
                                           likely fault (PD, D1, D2, T1, T2, T3, DT) from Duval
                                           Triangle 1, Duval Pentagon 1 and the IEC 60599 ratios
                                           combined, with a confidence

The parsing and the per-row report are :mod:`ml.rca.dga_csv`; this module only prints.
"""

from __future__ import annotations

import argparse
import json

from app.cli.output import table


def register(subparsers: argparse._SubParsersAction) -> None:
    sp = subparsers.add_parser("rca", help="root-cause analysis (DGA)",
                               description="Root-cause analysis of equipment faults.")
    sub = sp.add_subparsers(dest="rca_what", metavar="WHAT", required=True)
    dga = sub.add_parser(
        "dga", help="diagnose oil analyses (dissolved gases) from a CSV file",
        description="Diagnose each row of a CSV file of dissolved-gas analyses. The header "
                    "names the columns, in any case: h2, ch4, c2h6, c2h4, c2h2 (ppm, required), "
                    "co, co2 (optional) and id (kept as written); a blank cell is a gas not "
                    "measured. Each row gets the most likely fault class (PD, D1, D2, T1, T2, "
                    "T3, DT) from Duval Triangle 1, Duval Pentagon 1 and the IEC 60599 ratios "
                    "combined, a confidence (0-1), whether interpretation is warranted (a gas "
                    "above its IEC 60599 typical value) and each method's own answer.")
    dga.add_argument("--csv", required=True, metavar="FILE", help="the CSV file of analyses")
    dga.add_argument("--json", action="store_true", help="print a JSON list of objects")
    dga.set_defaults(func=cmd_rca_dga)


def cmd_rca_dga(args: argparse.Namespace) -> int:
    from ml.rca.dga_csv import report

    rows = report(args.csv)  # DgaCsvError (a ValueError) → one line, exit 2, in app.cli.main
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0

    if not rows:
        print(f"{args.csv}: no analyses")
        return 0
    cols = [c for c in ("id", "fault", "confidence", "warranted", "duval1_zone",
                        "pentagon_zone", "ratio_code") if c in rows[0]]
    heads = {"id": "id", "fault": "fault", "confidence": "confidence",
             "warranted": "warranted", "duval1_zone": "triangle 1", "pentagon_zone": "pentagon 1",
             "ratio_code": "ratios"}
    print(table([[r[c] for c in cols] for r in rows], [heads[c] for c in cols]))
    print()
    for k, r in enumerate(rows, 1):
        label = r.get("id") or f"row {k}"
        print(f"{label}: {r['explanation']}")
    return 0
