"""Child process of tests/training/test_drill_goose.py, inside the test's network namespace:
a drill whose bay IEDs publish on one end of the veth pair, subscribed on the other."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

from app.station import load_station
from app.training.drill import DrillEngine
from app.training.drill_goose import DrillGoose
from app.training.scenario import load_actions, load_scenario

if __name__ == "__main__":
    pub_if, sub_if, scenario, actions, out = sys.argv[1:]
    station = load_station(Path("circuits/station.toml"))
    sc = load_scenario(Path(scenario), station)
    goose = DrillGoose(pub_if, sub_iface=sub_if)
    try:
        eng = DrillEngine(station, sc, day=dt.date(2030, 6, 1), out_dir=out,
                          script=load_actions(actions), goose=goose)
        eng.run_until(45.0)
        back = eng.backtrack(eng.snapshot("at 45 s"))  # the same link carries on
        res = back.run()
    finally:
        goose.close()
    print(json.dumps({"goose": res.goose, "soe": [e.as_dict() for e in res.soe],
                      "first_soe": [e.as_dict() for e in eng.soe]}))
