"""Trainer's drills: scenarios, instructor timeline, protection response, scoring, COMTRADE export. Everything but app.ui; never Qt.

Nothing here yet: this layer arrives with its issue (see the README's roadmap)."""
