"""The trainer's drill in the HMI: the trainee's window marked DRILL (:mod:`app.ui.drill.app`)
and the instructor station (:mod:`app.ui.drill.instructor`)."""
