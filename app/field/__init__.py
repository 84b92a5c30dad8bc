"""Field layer: the plant simulator, the protocol servers, the pollers, point quality.

* :mod:`app.station.points` — the station's point table (every measurement point, flattened).
* :mod:`app.station.quality` — IEC 61850 quality words carried with every value.
* :mod:`app.station.frame` — :class:`ScanFrame`, one scan's values, quality and source times.
* :mod:`app.field.sim` — the plant simulator standing in for the physical substation.
* :mod:`app.field.modbus`, :mod:`app.field.mms` — the RTU's Modbus TCP and the bay IEDs'
  IEC 61850 MMS: servers (in the field-sim process) and pollers (in the HMI's poller thread).

May import app.station and app.twin; never Qt.
"""
