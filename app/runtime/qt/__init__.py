"""The runtime's thin Qt adapters: the only modules outside ``app.ui`` that import Qt.

They put the Qt-free services of :mod:`app.runtime` on managed ``QThread``s and hand their
results to the GUI thread through queued signals: the scan pipeline's threads, the job runner
(off-GUI-thread work with progress, done, failed and cancel), and the thread registry that
lets tests prove no thread is left running and shutdown stop them all (quit + wait; never
``terminate()``).
"""
