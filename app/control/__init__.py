"""Control: users and roles, station-level interlocking, select-before-operate, audit.

Qt-free. The faceplate asks the :class:`~app.control.service.ControlService`; the service
checks the user's role and the station interlocks *before anything is sent*, then drives the
field device's select-before-operate through a commander (the poller's write path) and calls
a command successful only when a later scan shows the new position. Every command,
acknowledgement and bypass is written to the audit log.
"""
