"""Analytics: anomaly detection, root-cause analysis (DGA per IEC 60599, IEC 60076-7 thermal
model, event correlation), asset health, N-BEATS load forecasting, Flower federated learning.
May import numpy, scikit-learn, torch and app.station; never Qt.

In place: ``ml.rca`` (DGA interpretation) and ``ml.anomaly`` (per-asset anomaly features,
Isolation Forest and autoencoder detectors with explanations, event-level evaluation). The
rest arrives with its issue (see the README's roadmap)."""
