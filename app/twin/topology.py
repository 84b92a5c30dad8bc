"""Which buses are energised: connectivity from the grid sources through closed branches.

OpenDSS reports an isolated bus as "0 V, converged". The twin instead asks the network
graph: a bus is live only when a path of closed elements joins it to a source.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from app.station import Station
    from app.twin.engine import TwinEngine


class Topology:
    def __init__(self, n_buses: int, edges: Sequence[tuple[int, int, int]],
                 sources: Sequence[int]) -> None:
        """``edges`` are ``(branch index, bus a, bus b)``; ``sources`` are source bus indices."""
        self._n = n_buses
        self._edges = list(edges)
        self._sources = list(sources)
        self._cache: np.ndarray | None = None

    @property
    def sources(self) -> tuple[int, ...]:
        return tuple(self._sources)

    def invalidate(self) -> None:
        self._cache = None

    def energised(self, closed: np.ndarray, source_on: np.ndarray | None = None) -> np.ndarray:
        """``closed`` per branch; ``source_on`` per source (default: all in service)."""
        if self._cache is not None:
            return self._cache
        parent = list(range(self._n))

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for br, a, b in self._edges:
            if closed[br]:
                ra, rb = find(a), find(b)
                if ra != rb:
                    parent[ra] = rb
        live_roots = {find(s) for k, s in enumerate(self._sources)
                      if source_on is None or source_on[k]}
        out = np.fromiter((find(i) in live_roots for i in range(self._n)), dtype=bool,
                          count=self._n)
        out.setflags(write=False)
        self._cache = out
        return out


def switch_ends(engine: TwinEngine, station: Station) -> dict[str, tuple[str, str]]:
    """Each switching asset's two circuit buses (lower case), for interlocking logic that
    must not import the twin itself."""
    d = engine.dss
    out = {}
    for a in station.switches():
        d.Circuit.SetActiveElement(a.element)
        b = [x.partition(".")[0].lower() for x in d.CktElement.BusNames()]
        out[a.id] = (b[0], b[1])
    return out
