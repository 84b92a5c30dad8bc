"""Analytics' application side (Qt-free): what the inference worker needs of the runtime that
``ml/`` may not import — the root-cause analysis's context built from the station, the alarm
engine's views, the scan frames and the historian (:mod:`app.analytics.rca_context`)."""
