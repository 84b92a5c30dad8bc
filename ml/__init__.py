"""Analytics: anomaly detection, root-cause analysis (DGA per IEC 60599, IEC 60076-7 thermal
model, event correlation), asset health, N-BEATS load forecasting, Flower federated learning.
May import numpy, scikit-learn, torch, flwr and app.station; never Qt.

In place: ``ml.rca`` (DGA interpretation: IEC 60599 ratios, Duval Triangle 1 and Pentagon 1,
IEEE C57.104-2019 status, a combined diagnosis), ``ml.anomaly`` (per-asset anomaly features,
Isolation Forest and autoencoder detectors with explanations, event-level evaluation) and
``ml.forecast`` (N-BEATS load forecasting with seasonal-naive baselines). The rest arrives
with its issue (see the README's roadmap)."""
