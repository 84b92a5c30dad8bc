"""Print the packaged program's sizes against the budget and its ten largest parts.

Usage: python packaging/sizes.py BUNDLE_DIR [ARTEFACT …]. Exit status 1 when the bundle is
over budget (1.2 GB unpacked).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

BUDGET_BYTES = 1_200_000_000


def tree_bytes(path: Path) -> int:
    if path.is_file() or path.is_symlink():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())


def parts(bundle: Path) -> list[tuple[int, str]]:
    """Sizes by top-level package: _internal/<name> (folders and loose files alike)."""
    inner = bundle / "_internal"
    base = inner if inner.is_dir() else bundle
    out = [(tree_bytes(p), p.name) for p in base.iterdir()]
    return sorted(out, reverse=True)


def main(argv: list[str]) -> int:
    bundle = Path(argv[0])
    total = tree_bytes(bundle)
    ok = total <= BUDGET_BYTES
    print(f"bundle {bundle}: {total / 1e6:,.0f} MB unpacked "
          f"(budget {BUDGET_BYTES / 1e6:,.0f} MB: {'within' if ok else 'OVER'}), "
          f"{sum(1 for _ in bundle.rglob('*'))} files")
    for a in argv[1:]:
        print(f"{os.path.basename(a)}: {Path(a).stat().st_size / 1e6:,.0f} MB")
    print("largest parts of the bundle:")
    for size, name in parts(bundle)[:10]:
        print(f"  {size / 1e6:8,.1f} MB  {name}  ({100 * size / total:.0f} %)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
