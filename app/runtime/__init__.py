"""Wires the services into the scan pipeline: the only place that owns threads and their lifetimes (thin Qt adapters allowed here).

Nothing here yet: this layer arrives with its issue (see the README's roadmap)."""
