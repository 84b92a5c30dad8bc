"""The runtime: the services that wire the layers into the scan pipeline, and the threads.

Qt-free services (under the import contract, testable without a display):

* :mod:`~app.runtime.compose` — the one composition function: a station runtime (frame
  source, historian, configuration store, audit, accounts, scan processor, field-sim child)
  for ``run``, ``record``, the benchmarks and the test fixtures alike;
* :mod:`~app.runtime.scan` — one scan: twin, sequence of events, alarms, historian;
* :mod:`~app.runtime.sources` — frame sources: the station over Modbus TCP and IEC 61850
  MMS, an in-process plant (the trainer's drill, tests);
* :mod:`~app.runtime.solver` — the twin solved from each scan, with residuals;
* :mod:`~app.runtime.alarm_service` — the alarm engine and operators' alarm actions;
* :mod:`~app.runtime.commander` — the protocol write path for controls;
* :mod:`~app.runtime.fieldsim` — the simulated station as a child process;
* :mod:`~app.runtime.jobs` — off-GUI-thread work as jobs with progress and cancel;
* :mod:`~app.runtime.queries` — the historian read for the screens;
* :mod:`~app.runtime.snapshot` — the immutable snapshot the screens receive.

Thin Qt adapters in :mod:`app.runtime.qt` put them on managed threads (the only modules
outside ``app.ui`` that import Qt). May import every layer but ``app.ui``.
"""
