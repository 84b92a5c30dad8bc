"""Field layer: the plant simulator (the physical substation's stand-in), Modbus TCP and IEC 61850 MMS servers, the pollers and point quality. May import app.station and app.twin; never Qt.

Nothing here yet: this layer arrives with its issue (see the README's roadmap)."""
