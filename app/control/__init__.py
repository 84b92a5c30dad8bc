"""Commands, select-before-operate, interlocking, users, roles and audit. May import app.station, app.field and app.historian; never Qt.

Nothing here yet: this layer arrives with its issue (see the README's roadmap)."""
