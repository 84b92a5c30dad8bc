"""Trainer's drills: scenarios, instructor timeline, protection response, scoring, COMTRADE
export. Everything but app.ui; never Qt.

Here so far: the station's protection relays (:mod:`app.training.protection`: settings from
``circuits/protection.toml``, relay models, a fault played on the twin as timed events),
COMTRADE records (:mod:`app.training.comtrade`) and :func:`app.training.records.
fault_records_for`, which the integration calls for one fault's events and record."""
