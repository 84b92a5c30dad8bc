"""The display hierarchy (ISA-101): the station overview (the single-line diagram), one
display per bay, the navigation between them and the banner of the newest alarms."""

from app.ui.displays.banner import AlarmBanner
from app.ui.displays.bay import BayDisplay
from app.ui.displays.nav import OVERVIEW, Navigator, bay_of, breadcrumb

__all__ = ["OVERVIEW", "AlarmBanner", "BayDisplay", "Navigator", "bay_of", "breadcrumb"]
