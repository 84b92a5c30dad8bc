"""The plant simulator: the physical substation's stand-in (command ``gridtwin field-sim``).

* :mod:`~app.field.sim.plant` — :class:`~app.field.sim.plant.PlantSimulator`, which composes
  the parts below, steps them under one lock and publishes snapshots;
  :mod:`~app.field.sim.api` — what the protocol servers see of it (``Plant``,
  ``PlantSnapshot``).
* :mod:`~app.field.sim.drivers` — the loads along their daily profiles
  (:mod:`~app.field.sim.profiles`), the grid's frequency and voltage.
* :mod:`~app.field.sim.switchgear` — breakers, disconnectors and earth switches: travel,
  SF6 density, counters, wear, stuck breakers.
* :mod:`~app.field.sim.transformers` — ICTs, transformers and reactors: thermal model
  (:mod:`~app.field.sim.thermal`), dissolved gases (:mod:`~app.field.sim.dga`), OLTC control.
* :mod:`~app.field.sim.measurements` — every point's value, noise, range and sensor faults.
* :mod:`~app.field.sim.protection` — relay flags and trips when a fault is injected.
* :mod:`~app.field.sim.ied` — the bay IEDs' interlocks and select/operate handling.
* :mod:`~app.field.sim.injections` — the fault kinds, one class each, and their registry.
* :mod:`~app.field.sim.control` — the control channel (fault injection from another
  process); :mod:`~app.field.sim.runner` — the field-sim process serving Modbus and MMS.
"""
