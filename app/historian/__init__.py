"""Configuration store and time-series historian (SQLAlchemy; SQLite by default, PostgreSQL and InfluxDB as options). May import app.station; never Qt.

Nothing here yet: this layer arrives with its issue (see the README's roadmap)."""
