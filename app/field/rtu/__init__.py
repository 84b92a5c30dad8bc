"""The station RTU over Modbus TCP: register map, server (field-sim side), poller (HMI side)
with its own validating master (:mod:`app.field.rtu.master`) and its front-end process
(:mod:`app.field.rtu.frontend`).

See :mod:`app.field.rtu.map` for the register layout.
"""
