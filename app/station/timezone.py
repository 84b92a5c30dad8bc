"""The station's local time: Indian Standard Time (UTC+05:30, no daylight saving).

Everything is stored and passed in UTC; screens, reports and the plant's daily load curves
use this zone.
"""

from __future__ import annotations

import datetime as dt

IST = dt.timezone(dt.timedelta(hours=5, minutes=30), "IST")
