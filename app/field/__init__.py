"""Field layer: the plant simulator, the protocol servers and their pollers.

* :mod:`app.field.sim` — the plant simulator standing in for the physical substation
  (``gridtwin field-sim``): :mod:`~app.field.sim.plant` composes it; its bay IEDs' logic is
  :mod:`~app.field.sim.ied`, its fault kinds :mod:`~app.field.sim.injections`; the control
  channel for injecting faults from another process is :mod:`~app.field.sim.control`.
* :mod:`app.field.rtu` — the station RTU over Modbus TCP: register map, codec, server (in
  the field-sim), the validating master, the poller and its front-end process (HMI side).
* :mod:`app.field.iec61850` — the bay IEDs over IEC 61850 MMS: data model, servers (in the
  field-sim), the client (its own process) and the poller (HMI side).
* :mod:`app.field.electrical` — what each electrical point reads in a solved twin state,
  shared by the simulator and the runtime's solver (residuals).
* :mod:`app.field.commstate` — each device's communication state (OK, SUSPECT, LOST) with
  hold-off and hysteresis, and a bay's over its two paths; :mod:`app.field.commlog` its log
  lines.
* :mod:`app.field.periodic` — the one paced scan loop the pollers and frame sources run;
  :mod:`app.field.childproc` — protocol clients in child processes driven over a pipe;
  :mod:`app.field.lifeline` — a child process ends when its parent does.

What the field passes on lives in the station model, so the other layers need not import
this one: the point table (:mod:`app.station.points`), quality words
(:mod:`app.station.quality`), the scan frame (:mod:`app.station.frame`) and a command's answer
(:mod:`app.station.commands`); the bays' switching topology the IEDs interlock on is
:mod:`app.station.bays`.

May import app.station and app.twin; never Qt.
"""
