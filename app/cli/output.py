"""How the command line prints: aligned tables for people, JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Sequence


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    """Rows under a header, columns aligned (numbers to the right), a rule under the header."""
    cells = [[str(h) for h in header]] + [[fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for k, r in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if _numeric(c) and k else c.ljust(w)
                               for c, w in zip(r, widths, strict=True)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def fmt(c: object) -> str:
    if isinstance(c, float):
        return f"{c:.3f}" if abs(c) < 1000 else f"{c:.1f}"
    if isinstance(c, bool):
        return "yes" if c else "no"
    return str(c)


def _numeric(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def print_json(obj: object) -> None:
    print(json.dumps(obj, indent=2))
