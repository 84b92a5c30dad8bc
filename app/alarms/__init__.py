"""Alarms and events (Qt-free).

* :mod:`app.alarms.engine` — the ISA-18.2 alarm engine: rules with deadband, delays and
  priority, digital alarms (trip, protection, indications, communication, invalid data), the
  state machine with shelving, suppression by design and out of service, chattering and
  flood detection;
* :mod:`app.alarms.rules` — rules from the configuration store, seeded from the rule file
  beside the station and the station file's limits;
* :mod:`app.alarms.report` — the alarm-performance report;
* :mod:`app.alarms.changes` — the sequence of events (switch positions, indications, quality
  and communication changes);
* :mod:`app.alarms.log` — the event log's entries and their ``events`` rows.
"""
