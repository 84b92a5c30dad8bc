"""Analytics on the station's data, Qt-free: what joins the models of :mod:`ml` to the
station, the historian and the configuration store.

* :mod:`app.analytics.health` — asset health indices, forecasts and maintenance suggestions
  from the historian (``gridtwin health``, the HMI's Health view).
"""
