"""Alarm rules, the ISA-18.2 alarm state machine and the event log (sequence of events). May import app.station and app.historian; never Qt.

Nothing here yet: this layer arrives with its issue (see the README's roadmap)."""
