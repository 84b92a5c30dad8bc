"""The station RTU over Modbus TCP: register map, server (field-sim side), poller (HMI side).

See :mod:`app.field.rtu.map` for the register layout.
"""
