"""Asset health, Qt-free and database-free.

* :mod:`ml.health.index` — :func:`health_index`: 0–100 from an asset's condition (DGA,
  thermal ageing, moisture, bushings, tap-changer, breaker wear and gas, arrester leakage,
  age) with the weighted factors that make it up;
* :mod:`ml.health.forecast` — :func:`forecast`: 30 days ahead with a 95 % band, and the
  remaining life;
* :mod:`ml.health.maintenance` — :func:`suggestions`: the work poor factors call for.

:mod:`app.analytics.health` gathers the condition from the historian and stores the
suggestions in ``maintenance_schedule``.
"""

from ml.health.forecast import HealthForecast, forecast
from ml.health.index import (
    HEALTH_TYPES,
    Condition,
    Factor,
    HealthIndex,
    HealthInputError,
    health_index,
)
from ml.health.maintenance import Suggestion, suggestions

__all__ = ["HEALTH_TYPES", "Condition", "Factor", "HealthForecast", "HealthIndex",
           "HealthInputError", "Suggestion", "forecast", "health_index", "suggestions"]
