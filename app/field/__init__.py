"""Field layer: the plant simulator, the protocol servers, the pollers, point quality.

* :mod:`app.station.points` — the station's point table (every measurement point, flattened).
* :mod:`app.station.quality` — IEC 61850 quality words carried with every value.
* :mod:`app.station.frame` — :class:`ScanFrame`, one scan's values, quality and source times.
* :mod:`app.field.sim` — the plant simulator standing in for the physical substation.
* :mod:`app.field.rtu`, :mod:`app.field.iec61850` — the RTU's Modbus TCP and the bay IEDs'
  IEC 61850 MMS: servers (in the field-sim process) and pollers (their clients in front-end
  processes of the HMI, :mod:`app.field.childproc`); :mod:`app.field.rtu.master` the Modbus
  TCP master that validates every reply.
* :mod:`app.field.commstate` — each device's communication state (OK, SUSPECT, LOST) with
  hold-off and hysteresis, and a bay's over its two paths; :mod:`app.field.commlog` its log
  lines.

May import app.station and app.twin; never Qt.
"""
