"""Analytics on the station's data, Qt-free: what joins the models of :mod:`ml` (anomaly,
RCA, health, forecast) to the station, the historian and the configuration store.

* :mod:`app.analytics.registry` — models are data: versioned files plus ``ml_models`` rows;
  :func:`~app.analytics.registry.load_active` is what the inference worker calls at start.
* :mod:`app.analytics.sim` — scans from the plant simulator at speed, with the twin's
  residuals and the IEC 60076-7 model temperatures, as the worker sees them live.
* :mod:`app.analytics.training` — :func:`~app.analytics.training.train` from the simulator or a
  historian window, with progress and cooperative cancel (the HMI's background job).
* :mod:`app.analytics.evaluation` — event-level evaluation on faults the models never saw.
* :mod:`app.analytics.health` — asset health indices, forecasts and maintenance suggestions
  from the historian (``gridtwin health``, the HMI's Health view).
* :mod:`app.analytics.loadforecast` — the station-load series (historian or simulator) and
  the day-ahead N-BEATS forecaster trained on it.
* :mod:`app.analytics.rca_context` — the root-cause analysis's context (topology, events,
  thermal and DGA histories, past incidents) built from the station, the alarm engine's
  views, the scan frames and the historian, for :func:`ml.rca.engine.analyse`.

This layer may import the station, twin, field, historian and alarm layers and :mod:`ml`;
never the runtime (the runtime's solver is passed in as a factory) nor the GUI, so the
runtime (the inference worker) may import it.
"""
