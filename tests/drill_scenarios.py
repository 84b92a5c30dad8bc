"""The small scenario the drill tests share: the 400 kV reactor's breaker BR4_Q0 is open at
23:30 and the trainee is expected to close it. Each test sets its own length, scan and time
limit (a Qt-free engine test wants two minutes, the windowed drill fifteen)."""

from __future__ import annotations


def reactor_scenario(scenario_id: str, title: str, *, duration_s: float, scan_s: float,
                     within_s: float, description: str = "", expect_extra: str = "") -> str:
    """The scenario's TOML text; ``expect_extra``: more lines of its one ``[[expect]]``."""
    desc = f'description = "{description}"\n' if description else ""
    return (f'[scenario]\nid = "{scenario_id}"\ntitle = "{title}"\n{desc}'
            f"duration_s = {duration_s:g}\nscan_s = {scan_s:g}\n\n"
            '[initial]\ntime_of_day = "23:30"\nopen = ["BR4_Q0"]\n\n'
            '[[expect]]\nid = "reactor-in"\naction = "close"\nasset = "BR4_Q0"\n'
            f"within_s = {within_s:g}\n{expect_extra}")
