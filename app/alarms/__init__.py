"""Alarms and events (Qt-free).

Now: :mod:`app.alarms.conditions` — the abnormal conditions standing in a scan (analog limits
from the station file, bad quality, lost communication) and :mod:`app.alarms.changes` — the
sequence of events (switch positions, indications, quality and communication changes).
To come with the alarms-and-control issue: rules from the database with deadband and delays,
the ISA-18.2 state machine, shelving, flood and chattering detection.
"""
