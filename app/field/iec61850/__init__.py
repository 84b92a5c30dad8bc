"""The bay IEDs over IEC 61850 MMS: data model, servers (field-sim side), poller (HMI side).

See :mod:`app.field.iec61850.model` for the model layout.
"""
