"""Anomaly detection per asset: features from each scan (:mod:`ml.anomaly.features`)."""
