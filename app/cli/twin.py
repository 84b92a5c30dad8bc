"""The twin's verbs: power flow, fault study, N-1, the station's assets.

    gridtwin solve        power flow of the station: bus voltages, flows, totals
    gridtwin faults       short-circuit study (3ph, LG, LL, LLG) at every bus
    gridtwin contingency  N-1 outages against the Grid Code voltage bands
    gridtwin assets       the station's assets, nameplates and points
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from app.cli.options import station_and_json
from app.cli.output import table

if TYPE_CHECKING:
    from app.twin.faults import FaultResult


def cmd_solve(args: argparse.Namespace) -> int:
    from app.twin import open_station

    station, engine = open_station(args.station)
    s = engine.solve()
    kv = s.bus_kv_ll()
    buses = []
    for i, name in enumerate(s.bus_names):
        e = bool(s.energised[i])
        pu = float(kv[i] / s.bus_base_kv[i]) if e else 0.0
        buses.append({"name": name, "base_kv": float(s.bus_base_kv[i]), "pu": round(pu, 5),
                      "kv": round(float(kv[i]), 3), "energised": e,
                      "angle_deg": round(float(s.v_angle_deg[i, 0]), 3) if e else None})
    tx = [{"name": n, "loading_pct": round(float(s.transformer_loading_pct[k]), 2),
           "losses_kw": round(float(s.transformer_losses_kw[k]), 1),
           "tap_pu": round(float(s.tap_pu[k]), 5)}
          for k, n in enumerate(s.transformer_names)]
    t = s.totals
    out = {"station": station.station.id, "converged": s.converged, "iterations": s.iterations,
           "total_generation_mw": round(t.generation_mw, 3),
           "total_load_mw": round(t.load_mw, 3), "total_load_mvar": round(t.load_mvar, 3),
           "losses_mw": round(t.losses_mw, 4), "efficiency_pct": round(t.efficiency_pct, 3),
           "buses": buses, "transformers": tx}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0 if s.converged else 1
    print(f"{station.station.name} — power flow "
          f"({'converged' if s.converged else 'NOT CONVERGED'} in {s.iterations} iterations)")
    print(f"generation {t.generation_mw:.2f} MW / {t.generation_mvar:.2f} MVAr   "
          f"load {t.load_mw:.2f} MW / {t.load_mvar:.2f} MVAr   losses {t.losses_mw:.3f} MW   "
          f"efficiency {t.efficiency_pct:.2f} %\n")
    shown = [b for b in buses if args.all_buses or not _is_bay_node(b["name"])]
    print(table([(b["name"], b["base_kv"], b["kv"] if b["energised"] else "DEAD",
                   b["pu"] if b["energised"] else "-", b["angle_deg"] or "-") for b in shown],
                 ("bus", "base kV", "kV", "pu", "angle deg")))
    if not args.all_buses:
        print(f"({len(buses) - len(shown)} bay nodes hidden; --all-buses shows them)")
    print()
    print(table([(x["name"], x["loading_pct"], x["losses_kw"], x["tap_pu"]) for x in tx],
                 ("transformer", "loading %", "losses kW", "tap pu")))
    return 0 if s.converged else 1


def _is_bay_node(bus: str) -> bool:
    b = bus.lower()
    return b.endswith(("_j", "_c", "_j1", "_j2")) or (b.endswith("_t") and not b.startswith("l"))


def cmd_faults(args: argparse.Namespace) -> int:
    from app.twin import open_station
    from app.twin.faults import FAULT_TYPES, fault_study, station_fault_levels

    station, engine = open_station(args.station)
    if args.table:
        rows = station_fault_levels(engine, [args.bus] if args.bus else None)
        if args.json:
            print(json.dumps([r.as_dict() for r in rows], indent=2))
            return 0
        print("Whole-station bolted fault levels (OpenDSS FaultStudy mode)\n")
        print(table([(r.bus, r.base_kv, r.i3ph_ka, r.islg_ka, r.ill_ka, r.illg_ka, r.mva3ph)
                      for r in rows if r.energised],
                     ("bus", "base kV", "3ph kA", "SLG kA", "LL kA", "LLG kA", "3ph MVA")))
        return 0
    types = (args.type,) if args.type else FAULT_TYPES
    breakers = [a.element for a in station.assets_of_type("breaker") if a.element]
    results = fault_study(engine, [args.bus] if args.bus else None, types, args.rf, breakers)
    if args.json:
        out = []
        for r in results:
            d = {"bus": r.bus, "base_kv": r.base_kv, "type": r.type, "rf_ohm": r.rf_ohm,
                 "current_ka": round(r.current_ka, 4), "energised": r.energised,
                 "converged": r.converged,
                 "phase_currents_ka": {k: round(v, 4) for k, v in r.phase_currents_ka.items()}}
            if args.breakers:
                d["breaker_currents_ka"] = {k: round(v, 4)
                                            for k, v in r.breaker_currents_ka.items()}
            out.append(d)
        print(json.dumps(out, indent=2))
        return 0
    print(f"Fault study, Rf = {args.rf:g} ohm, with loads and the present switching state\n")
    print(table([(r.bus, r.base_kv, r.type, r.current_ka if r.energised else "dead",
                   _top_breaker(r)) for r in results],
                 ("bus", "base kV", "type", "fault kA", "largest breaker current")))
    if args.breakers:
        for r in results:
            print(f"\n{r.bus} {r.type}:")
            print(table(sorted(((k, v) for k, v in r.breaker_currents_ka.items() if v > 1e-3),
                                key=lambda kv: -kv[1]), ("breaker", "kA")))
    return 0


def _top_breaker(r: FaultResult) -> str:
    if not r.breaker_currents_ka or not r.energised:
        return "-"
    k, v = max(r.breaker_currents_ka.items(), key=lambda kv: kv[1])
    return f"{k.split('.', 1)[-1].upper()} {v:.3f} kA"


def cmd_contingency(args: argparse.Namespace) -> int:
    from app.twin import open_station
    from app.twin.contingency import run_contingencies

    station, engine = open_station(args.station)
    results = run_contingencies(engine, station)
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
        return 0
    print("N-1 contingency analysis (overload > 100 %; voltage bands per Indian Grid Code)\n")
    rows = []
    for r in results:
        worst = r.max_loading
        rows.append((r.outage, "secure" if r.secure else "VIOLATION",
                     f"{worst.element} {worst.loading_pct:.1f} %" if worst else "-",
                     len(r.overloads), len(r.voltage_violations), round(r.load_lost_mw, 2)))
    print(table(rows, ("outage", "result", "highest loading", "overloads", "V violations",
                        "load lost MW")))
    for r in results:
        for o in r.overloads:
            print(f"  {r.outage}: {o.element} loaded {o.loading_pct:.1f} %")
        for v in r.voltage_violations:
            print(f"  {r.outage}: {v.bus} at {v.kv:.1f} kV, {v.kind} "
                  f"(band {v.min_kv:g}-{v.max_kv:g} kV)")
        if r.load_lost_mw > 0:
            print(f"  {r.outage}: {r.load_lost_mw:.1f} MW of load lost "
                  f"({len(r.dead_buses)} buses dead)")
    return 0


def cmd_assets(args: argparse.Namespace) -> int:
    from app.twin import open_station

    # The same cross-check as every other verb: a station whose assets point at missing or
    # wrong-kind circuit elements is refused here too.
    station, _engine = open_station(args.station)
    assets = [a for a in station.assets if not args.type or a.type == args.type]
    if args.json:
        print(json.dumps([a.model_dump(mode="json") for a in assets], indent=2))
        return 0
    print(f"{station.station.name}: {len(assets)} assets, "
          f"{sum(len(a.points) for a in assets)} measurement points\n")
    print(table([(a.id, a.type, a.bay, a.logical_node, a.element or a.bus or "-",
                   a.nameplate.maker, len(a.points)) for a in assets],
                 ("id", "type", "bay", "LN", "element / bus", "maker", "points")))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser("solve", help="power flow of the station",
                        description="Solve the station's power flow and print bus voltages, "
                                    "transformer loading and totals.")
    station_and_json(sp)
    sp.add_argument("--all-buses", action="store_true",
                    help="also list the bay nodes between switching devices")
    sp.set_defaults(func=cmd_solve)

    sp = sub.add_parser("faults", help="short-circuit study at every bus",
                        description="Apply 3-phase, L-G, L-L and L-L-G faults at every bus "
                                    "(or one) and print the fault current; --breakers adds the "
                                    "current through every breaker; --table prints the "
                                    "whole-station fault levels from OpenDSS FaultStudy mode.")
    station_and_json(sp)
    sp.add_argument("--bus", help="one bus only (default: every bus)")
    sp.add_argument("--type", choices=("3ph", "LG", "LL", "LLG"), help="one fault type only")
    sp.add_argument("--rf", type=float, default=0.0, metavar="OHM",
                    help="fault resistance in ohm (default 0: bolted)")
    sp.add_argument("--breakers", action="store_true",
                    help="report the current through every breaker for each fault")
    sp.add_argument("--table", action="store_true",
                    help="whole-station bolted fault levels (FaultStudy mode)")
    sp.set_defaults(func=cmd_faults)

    sp = sub.add_parser("contingency", help="N-1 contingency analysis",
                        description="Take each outage of the station file's N-1 list (ICTs, "
                                    "transformers, incoming lines, 220 kV feeder lines) out in "
                                    "turn and report branch overloads (> 100 %%; shunt reactors "
                                    "and capacitors are not branches), voltage violations "
                                    "against the Indian Grid Code bands and load lost.")
    station_and_json(sp)
    sp.set_defaults(func=cmd_contingency)

    sp = sub.add_parser("assets", help="list the station's assets",
                        description="List the assets of the station description, after "
                                    "checking every asset against the circuit (as solve does).")
    station_and_json(sp)
    sp.add_argument("--type", help="only assets of this type (breaker, isolator, ict, …)")
    sp.set_defaults(func=cmd_assets)
