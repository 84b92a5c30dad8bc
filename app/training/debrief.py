"""The drill's debrief report: HTML (self-contained, the timeline as inline SVG) and PDF.

Both show the score, the trainee's actions with their verdicts, the expected actions, the
timeline plot (the watched points, the scenario's events and the trainee's actions on it),
the sequence of events with millisecond times, the alarms and the disturbance records. The
PDF is written here too, by a small PDF 1.4 writer (the standard Helvetica font, text and
lines only): no Qt and no extra dependency, so it can be made from a headless run. Times are
shown in the station's local time.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import zlib
import zoneinfo
from pathlib import Path

import numpy as np

from app.training.drill import DrillResult

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
_VERDICT_COLOUR = {"correct": "#2ca02c", "late": "#ff7f0e", "wrong": "#d62728",
                   "unsafe": "#7f0000", "missed": "#7f7f7f"}


def _local(result: DrillResult, t: dt.datetime, tz: str) -> str:
    try:
        z = zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        z = dt.UTC
    local = t.astimezone(z)
    return f"{local:%H:%M:%S}.{local.microsecond // 1000:03d}"


# ============================================================================ the plot
def timeline_svg(result: DrillResult, width: int = 900, panel_h: int = 110) -> str:
    """The watched points, one panel each, with the events and the actions marked."""
    t = result.trace_t_s
    tags = [k for k, v in result.traces.items() if np.isfinite(v).any()]
    left, right, top = 70, 20, 20
    h = top + panel_h * max(1, len(tags)) + 60
    t_end = max(result.sim_s, 1.0)

    def x(ts: float) -> float:
        return left + (width - left - right) * ts / t_end

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" '
           f'viewBox="0 0 {width} {h}" font-family="sans-serif" font-size="10">',
           f'<rect width="{width}" height="{h}" fill="white"/>']
    for k, tag in enumerate(tags):
        y0 = top + k * panel_h
        v = result.traces[tag]
        ok = np.isfinite(v)
        lo, hi = float(np.min(v[ok])), float(np.max(v[ok]))
        if hi - lo < 1e-9:
            lo, hi = lo - 1.0, hi + 1.0
        pad = (hi - lo) * 0.1
        lo, hi = lo - pad, hi + pad

        def y(val: float, y0: int = y0, lo: float = lo, hi: float = hi) -> float:
            return y0 + panel_h - 15 - (panel_h - 25) * (val - lo) / (hi - lo)

        out.append(f'<rect x="{left}" y="{y0 + 10}" width="{width - left - right}" '
                   f'height="{panel_h - 25}" fill="none" stroke="#999"/>')
        out.append(f'<text x="{left + 4}" y="{y0 + 21}" fill="{_COLOURS[k % 6]}">'
                   f'{html.escape(tag)}</text>')
        out.append(f'<text x="{left - 4}" y="{y(hi - pad) + 4:.1f}" text-anchor="end">'
                   f'{hi - pad:.4g}</text>')
        out.append(f'<text x="{left - 4}" y="{y(lo + pad) + 4:.1f}" text-anchor="end">'
                   f'{lo + pad:.4g}</text>')
        segs, cur = [], []
        for ts, val in zip(t, v, strict=True):
            if math.isfinite(val):
                cur.append(f"{x(ts):.1f},{y(val):.1f}")
            elif cur:
                segs.append(cur)
                cur = []
        if cur:
            segs.append(cur)
        for s in segs:
            out.append(f'<polyline fill="none" stroke="{_COLOURS[k % 6]}" stroke-width="1.2" '
                       f'points="{" ".join(s)}"/>')
    bottom = top + panel_h * max(1, len(tags)) - 15
    for k, (ts, eid) in enumerate(result.fired):
        out.append(f'<line x1="{x(ts):.1f}" x2="{x(ts):.1f}" y1="{top}" y2="{bottom}" '
                   f'stroke="#555" stroke-dasharray="4,3"/>')
        out.append(f'<text x="{x(ts) + 2:.1f}" y="{top + 6 + 11 * (k % 3)}" fill="#555">'
                   f'{html.escape(eid)}</text>')
    for k, a in enumerate(result.actions):
        c = _VERDICT_COLOUR.get(a.verdict, "#000")
        out.append(f'<line x1="{x(a.at_s):.1f}" x2="{x(a.at_s):.1f}" y1="{top}" y2="{bottom}" '
                   f'stroke="{c}" stroke-width="2"/>')
        out.append(f'<text x="{x(a.at_s) + 2:.1f}" y="{bottom + 12 + 11 * (k % 3)}" '
                   f'fill="{c}">{html.escape(a.action + " " + a.asset)} ({a.verdict})</text>')
    for k in range(6):
        ts = t_end * k / 5
        out.append(f'<text x="{x(ts):.1f}" y="{h - 5}" text-anchor="middle">{ts:.0f} s</text>')
    out.append("</svg>")
    return "\n".join(out)


# ============================================================================ HTML
def _table(header: list[str], rows: list[list[object]], colour_col: int | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for r in rows:
        style = ""
        if colour_col is not None:
            style = f' style="color:{_VERDICT_COLOUR.get(str(r[colour_col]), "#000")}"'
        body.append(f"<tr{style}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r)
                    + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _sections(result: DrillResult, tz: str) -> list[tuple[str, list[str], list[list[object]],
                                                          int | None]]:
    acts = [[f"{a.at_s:.1f}", a.action, a.asset or "-", a.verdict, a.reason or "-",
             "-" if a.response_s is None else f"{a.response_s:.1f}", a.message]
            for a in result.actions]
    exps = [[e.expectation.id, e.expectation.verb, e.expectation.after or "start",
             f"{e.expectation.within_s:g}", e.verdict,
             "-" if e.response_s is None else f"{e.response_s:.1f}",
             f"{e.earned:g}/{e.expectation.points:g}", e.expectation.text]
            for e in result.score.expectations]
    soe = [[_local(result, e.time, tz), f"{e.t_s:.3f}", e.source, e.kind, e.text]
           for e in result.soe]
    alarms = [[a["time"][11:23], f"{a['t_s']:.0f}", a["tag"], a["priority"], a["state"],
               a["message"]] for a in result.alarms[:500]]
    recs = [[r.bus, r.fault_type, r.bay, f"{r.sequence.stages[0].phasors.current_ka:.3f}",
             r.cfg.name, r.dat.name] for r in result.records]
    return [
        ("Trainee actions", ["t (s)", "action", "asset", "verdict", "why", "response (s)",
                             "outcome"], acts, 3),
        ("Expected actions", ["id", "action", "after", "limit (s)", "verdict", "response (s)",
                              "points", "what"], exps, 4),
        ("Sequence of events", ["time", "t (s)", "source", "kind", "text"], soe, None),
        ("Alarms", ["time (UTC)", "t (s)", "point", "priority", "state", "message"], alarms,
         None),
        ("Disturbance records (COMTRADE)", ["bus", "type", "bay", "fault kA", "cfg", "dat"],
         recs, None),
    ]


def render_html(result: DrillResult, tz: str = "Asia/Kolkata") -> str:
    sc = result.scenario
    s = result.score
    summary = s.points_summary()
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>Debrief: {html.escape(sc.title)} — {html.escape(result.trainee)}</title>",
        "<style>body{font-family:sans-serif;margin:2em;}table{border-collapse:collapse;"
        "font-size:12px;margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:2px 6px;"
        "text-align:left}th{background:#eee}.score{font-size:28px;font-weight:bold}"
        ".drill{color:#b00;font-weight:bold;letter-spacing:.2em}</style></head><body>",
        "<div class='drill'>DRILL — TRAINING RECORD, NOT THE LIVE STATION</div>",
        f"<h1>{html.escape(sc.title)}</h1>",
        f"<p>{html.escape(sc.description)}</p>",
        f"<p>Trainee <b>{html.escape(result.trainee)}</b>; scenario <code>"
        f"{html.escape(sc.id)}</code>; simulated start {_local(result, result.start, tz)[:8]} "
        f"local on {result.start.date().isoformat()}; {result.sim_s:.0f} simulated seconds.</p>",
        f"<p class='score'>Score {s.score:g} / 100</p>",
        f"<p>Points {summary['earned']:g} of {summary['possible']:g}; penalty "
        f"{summary['penalty']:g}; correct {summary['correct']}, late {summary['late']}, "
        f"wrong {summary['wrong']}, unsafe {summary['unsafe']}, missed {summary['missed']}.</p>",
        "<h2>Timeline</h2>", timeline_svg(result),
    ]
    for title, header, rows, col in _sections(result, tz):
        parts.append(f"<h2>{html.escape(title)}</h2>")
        parts.append(_table(header, rows, col) if rows else "<p>None.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


# ============================================================================ PDF
def _pdf_text(s: str) -> str:
    s = s.replace("—", "-").replace("–", "-").replace("→", "->").replace("×", "x")
    s = s.encode("latin-1", "replace").decode("latin-1")
    return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


class _Pdf:
    """Pages of Helvetica text and lines, A4 portrait (595 × 842 pt)."""

    W, H = 595, 842

    def __init__(self) -> None:
        self.pages: list[list[str]] = []
        self.y = 0.0
        self.new_page()

    def new_page(self) -> None:
        self.pages.append([])
        self.y = self.H - 50

    def text(self, s: str, size: float = 8.0, x: float = 40.0, bold: bool = False) -> None:
        if self.y < 50:
            self.new_page()
        font = "F2" if bold else "F1"
        self.pages[-1].append(f"BT /{font} {size:g} Tf {x:.1f} {self.y:.1f} Td "
                              f"({_pdf_text(s)}) Tj ET")
        self.y -= size * 1.35

    def line(self, pts: list[tuple[float, float]], rgb: tuple[float, float, float] = (0, 0, 0),
             width: float = 0.8) -> None:
        if len(pts) < 2:
            return
        ops = [f"{rgb[0]:.2f} {rgb[1]:.2f} {rgb[2]:.2f} RG {width:g} w",
               f"{pts[0][0]:.1f} {pts[0][1]:.1f} m"]
        ops += [f"{px:.1f} {py:.1f} l" for px, py in pts[1:]]
        ops.append("S")
        self.pages[-1].append(" ".join(ops))

    def bytes(self) -> bytes:
        objs: list[bytes] = []
        n_pages = len(self.pages)
        # 1 catalog, 2 pages, 3-4 fonts, then (page, content) pairs.
        kids = " ".join(f"{5 + 2 * k} 0 R" for k in range(n_pages))
        objs.append(b"<< /Type /Catalog /Pages 2 0 R >>")
        objs.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
        objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
                    b"/Encoding /WinAnsiEncoding >>")
        objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold "
                    b"/Encoding /WinAnsiEncoding >>")
        for k, ops in enumerate(self.pages):
            objs.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {self.W} {self.H}] "
                        f"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> "
                        f"/Contents {6 + 2 * k} 0 R >>".encode())
            data = zlib.compress("\n".join(ops).encode("latin-1"))
            objs.append(f"<< /Length {len(data)} /Filter /FlateDecode >>\nstream\n".encode()
                        + data + b"\nendstream")
        out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for i, body in enumerate(objs, 1):
            offsets.append(len(out))
            out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
        xref = len(out)
        out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
        out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
        out += (f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n"
                "%%EOF\n").encode()
        return bytes(out)


def render_pdf(result: DrillResult, tz: str = "Asia/Kolkata") -> bytes:
    sc, s = result.scenario, result.score
    pdf = _Pdf()
    pdf.text("DRILL - TRAINING RECORD, NOT THE LIVE STATION", 9, bold=True)
    pdf.text(sc.title, 16, bold=True)
    pdf.text(f"Trainee {result.trainee}; scenario {sc.id}; start "
             f"{result.start.date().isoformat()} {_local(result, result.start, tz)[:8]} local; "
             f"{result.sim_s:.0f} s simulated", 9)
    pdf.text(f"Score {s.score:g} / 100", 14, bold=True)
    # The timeline: each watched point in a strip, events dashed-grey, actions coloured.
    t = result.trace_t_s
    tags = [k for k, v in result.traces.items() if np.isfinite(v).any()][:4]
    x0, x1 = 80.0, pdf.W - 40.0
    t_end = max(result.sim_s, 1.0)
    for tag in tags:
        v = result.traces[tag]
        ok = np.isfinite(v)
        lo, hi = float(v[ok].min()), float(v[ok].max())
        if hi - lo < 1e-9:
            lo, hi = lo - 1, hi + 1
        top = pdf.y - 4
        bot = top - 70
        pdf.line([(x0, bot), (x1, bot), (x1, top), (x0, top), (x0, bot)], (0.6, 0.6, 0.6))
        pts = [(x0 + (x1 - x0) * ts / t_end, bot + (top - bot) * (val - lo) / (hi - lo))
               for ts, val in zip(t, v, strict=True) if math.isfinite(val)]
        pdf.line(pts, (0.12, 0.47, 0.71))
        for ts, _ in result.fired:
            xx = x0 + (x1 - x0) * ts / t_end
            pdf.line([(xx, bot), (xx, top)], (0.5, 0.5, 0.5), 0.4)
        for a in result.actions:
            xx = x0 + (x1 - x0) * a.at_s / t_end
            c = {"correct": (0.17, 0.63, 0.17), "late": (1, 0.5, 0.05)}.get(a.verdict,
                                                                            (0.84, 0.15, 0.16))
            pdf.line([(xx, bot), (xx, top)], c, 1.2)
        pdf.y = top - 8
        pdf.text(f"{tag}  {lo:.4g} .. {hi:.4g}", 7, x=x0)
        pdf.y = bot - 12
    pdf.text(f"time axis 0 .. {t_end:.0f} s", 7, x=x0)
    for title, header, rows, _col in _sections(result, tz):
        pdf.y -= 6
        pdf.text(title, 11, bold=True)
        pdf.text(" | ".join(header), 7, bold=True)
        for r in rows[:300] or [["None."]]:
            pdf.text(" | ".join(str(c) for c in r)[:160], 7)
    return pdf.bytes()


# ============================================================================ writing
def write_report(result: DrillResult, out_dir: str | Path | None = None,
                 tz: str = "Asia/Kolkata") -> dict[str, str]:
    """``report.html``, ``report.pdf`` and ``result.json`` into the drill's folder; the paths
    are kept on the result (``result.report``) and returned."""
    out = Path(out_dir) if out_dir is not None else result.out_dir
    out.mkdir(parents=True, exist_ok=True)
    html_path, pdf_path, json_path = out / "report.html", out / "report.pdf", out / "result.json"
    html_path.write_text(render_html(result, tz), encoding="utf-8")
    pdf_path.write_bytes(render_pdf(result, tz))
    result.report.update(html=str(html_path), pdf=str(pdf_path), json=str(json_path))
    json_path.write_text(json.dumps(result.as_dict(), indent=2), encoding="utf-8")
    return dict(result.report)


def store_result(result: DrillResult, root: str | Path) -> Path:
    """Append the drill's outcome to its trainee's results (``ROOT/TRAINEE/results.jsonl``,
    one JSON line a drill); returns the file."""
    folder = Path(root) / result.trainee
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "results.jsonl"
    s = result.score
    line = {"scenario": result.scenario.id, "title": result.scenario.title,
            "start": result.start.isoformat(), "score": s.score, **s.points_summary(),
            "report": result.report.get("html"), "folder": str(result.out_dir)}
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")
    return path


def trainee_results(root: str | Path, trainee: str) -> list[dict]:
    """A trainee's stored results, oldest first."""
    path = Path(root) / trainee / "results.jsonl"
    if not path.is_file():
        return []
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
