"""`repband report`: one self-contained HTML page (charts as inline SVG, no external
file, script or font: it opens offline) with

- the reps per day calendar (colour: share of the day's targets met, outlined: done),
- the per-side balance (clam reps and range left against right, stretch hold time),
- the range-of-motion trend per exercise and side (daily mean, 7-day mean),
- the tempo trend (seconds per rep),
- the stretch hold times against the target,
- a session timeline (time of day of every session, by exercise; hatched: approximate
  time),

and the numbers behind them (summary, per exercise and side, per day, every session).
Charts are drawn with matplotlib (Agg); ``--png DIR`` also writes each as a PNG.
"""
from __future__ import annotations

import datetime as _dt
import html
import io
import json
import re
import time
from pathlib import Path

from repband import history as H
from repband.private import open_private

CHARTS = [
    ("calendar", "Reps per day"),
    ("balance", "Left / right balance"),
    ("rom", "Range of motion"),
    ("tempo", "Tempo"),
    ("holds", "Stretch hold times"),
    ("timeline", "Session timeline"),
]

COLORS = {"bridge": "#1f77b4", "clam left": "#2ca02c", "clam right": "#ff7f0e", "clam": "#2ca02c",
          "stretch": "#9467bd", "stretch left": "#9467bd", "stretch right": "#d62728", "left": "#2ca02c",
          "right": "#ff7f0e"}


def _mpl():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.size": 10, "axes.spines.top": False,
                         "axes.spines.right": False, "figure.dpi": 100})
    return plt


def _key(ex: str, side: str) -> str:
    return ex if side in (None, "none") else f"{ex} {side}"


# ---------------------------------------------------------------------------- charts


def chart_calendar(plt, st: dict):
    from matplotlib.colors import LinearSegmentedColormap

    days = st["days"]
    fig_w = 7.5
    if not days:
        fig, ax = plt.subplots(figsize=(fig_w, 1.5))
        ax.text(0.5, 0.5, "no sessions in this period", ha="center", va="center")
        ax.axis("off")
        return fig
    first = _dt.date.fromisoformat(days[0]["day"])
    monday = first - _dt.timedelta(days=first.weekday())
    n_weeks = (_dt.date.fromisoformat(days[-1]["day"]) - monday).days // 7 + 1
    fig, ax = plt.subplots(figsize=(max(4.4, min(fig_w * 2, 1.2 + 0.62 * n_weeks)), 4.2))
    cmap = LinearSegmentedColormap.from_list("met", ["#f2f2f2", "#c6e48b", "#239a3b"])
    annotate = n_weeks <= 16
    for d in days:
        x = _dt.date.fromisoformat(d["day"])
        w, wd = (x - monday).days // 7, x.weekday()
        frac = d["targets_met"] / d["targets_total"] if d["active"] else 0.0
        ax.add_patch(plt.Rectangle((w, 6 - wd), 0.92, 0.92, facecolor=cmap(frac),
                                   edgecolor="#222" if d["done"] else "none", linewidth=1.4 if d["done"] else 0,
                                   gid=f"cal-{d['day']}"))
        if annotate:  # the number, and a tick for a day with every target met: not colour alone
            ax.text(w + 0.46, 6 - wd + 0.46, str(d["reps"]), ha="center", va="center", fontsize=7,
                    color="#000" if frac < 0.8 else "#fff", gid=f"calnum-{d['day']}")
            if d["done"]:
                ax.text(w + 0.86, 6 - wd + 0.84, "\u2713", ha="right", va="top", fontsize=6,
                        color="#000" if frac < 0.8 else "#fff")
    ax.set_xlim(-0.1, n_weeks)
    ax.set_ylim(-0.1, 7)
    ax.set_aspect("equal")  # a day is a square, also when there is one week to show
    ax.set_yticks([6 - i + 0.46 for i in range(7)], ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"])
    ax.set_xticks([w + 0.46 for w in range(n_weeks)],
                  [(monday + _dt.timedelta(weeks=w)).strftime("%d %b") for w in range(n_weeks)],
                  rotation=0 if n_weeks <= 10 else 90, fontsize=8)
    ax.tick_params(length=0)
    for s in ax.spines.values():
        s.set_visible(False)
    ax.set_title("Full reps per day\n(darker: more targets met; \u2713 and outlined: all met)", fontsize=9)
    fig.tight_layout()
    return fig


def chart_balance(plt, st: dict):
    fig, axes = plt.subplots(3, 1, figsize=(6.4, 3.6))
    b = st["clam_balance"]
    hs = st["holds"]
    items = [
        (axes[0], "Clam reps", [b["left_reps"], b["right_reps"]], "{:.0f}"),
        (axes[1], "Clam range (mean, deg)", [b["left_rom_deg"], b["right_rom_deg"]], "{:.1f}"),
        (axes[2], "Stretch hold time (s)", [hs["left"]["total_s"], hs["right"]["total_s"]], "{:.0f}"),
    ]
    for ax, title, vals, fmt in items:
        drawn = [0 if v is None else v for v in vals]
        bars = ax.barh(["left", "right"], drawn, color=[COLORS["left"], COLORS["right"]],
                       hatch=["//", None], edgecolor="#333", linewidth=0.4)
        for bar, v in zip(bars, vals):  # no data is said, never drawn as 0
            ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2,
                    " " + ("none yet" if v is None else fmt.format(v)), va="center", fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.set_xlim(0, max(drawn + [1]) * 1.45)
        ax.invert_yaxis()
    fig.tight_layout()
    return fig


def _daily_series(db, since, until, value: str):
    """{exercise side: [(date, mean)]} of full reps: value 'rom' or 'period'."""
    out: dict[str, dict[str, list]] = {}
    for d, ex, side, partial, rom, up, top, down in H._rep_rows(db, since, until):
        if partial or d is None:
            continue
        k = _key(H.EXERCISES.get(ex, "?"), H.SIDES.get(side, "?"))
        v = rom / 10.0 if value == "rom" else (up + top + down) / 1000.0
        out.setdefault(k, {}).setdefault(d, []).append(v)
    return {k: sorted((_dt.date.fromisoformat(d), sum(v) / len(v)) for d, v in days.items())
            for k, days in sorted(out.items())}


# Left and right differ by marker and line style too: colour is never the only cue.
STYLE = {"bridge": ("^", "-"), "clam left": ("s", "--"), "clam right": ("o", "-"), "left": ("s", "--"),
         "right": ("o", "-")}


def _period_axis(ax, st: dict):
    """The report's days on the x axis (one day's points included), ticked in days."""
    import matplotlib.dates as mdates

    half = _dt.timedelta(hours=12)
    day0 = _dt.datetime.fromisoformat(st["since"])
    day1 = _dt.datetime.fromisoformat(st["until"])
    ax.set_xlim(day0 - half, day1 + half)
    span = (day1 - day0).days + 1
    ax.xaxis.set_major_locator(mdates.DayLocator(interval=max(1, round(span / 8))))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    ax.xaxis.set_minor_locator(mdates.DayLocator())


def _trend_chart(plt, st: dict, series: dict, ylabel: str, title: str):
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    if not series:
        ax.text(0.5, 0.5, "no reps in this period", ha="center", va="center", transform=ax.transAxes)
    for k, pts in series.items():
        xs = [p[0] for p in pts]
        ys = [p[1] for p in pts]
        c = COLORS.get(k, None)
        marker, ls = STYLE.get(k, ("o", "-"))
        if len(pts) >= 7:  # a week of days: the 7-day mean says more than the day-to-day scatter
            ax.plot(xs, ys, marker, ms=3.5, alpha=0.45, color=c)
            roll = [sum(ys[max(0, i - 6):i + 1]) / len(ys[max(0, i - 6):i + 1]) for i in range(len(ys))]
            ax.plot(xs, roll, ls, lw=1.8, color=c, marker=marker, ms=0, label=f"{k}: 7-day mean (dots: days)")
        else:
            ax.plot(xs, ys, ls, marker=marker, ms=4, lw=1.0, color=c, label=f"{k}: daily mean")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    if series:
        ax.legend(fontsize=8, loc="best", frameon=False)
    _period_axis(ax, st)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def chart_holds(plt, db, st: dict, since, until):
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    rows = H._hold_rows(db, since, until)
    for side, off in (("left", -0.15), ("right", 0.15)):
        pts = [(_dt.date.fromisoformat(d) + _dt.timedelta(days=off), dur / 1000.0)
               for d, ex, sd, dur, *_ in rows if H.SIDES.get(sd) == side and d]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], STYLE[side][0], ms=4, color=COLORS[side],
                    label=f"{side} ({H.plural(len(pts), 'hold')})")
    target = st["targets"]["hold_s"]
    ax.axhline(target, color="#555", ls=":", lw=1.2, label=f"target {target} s")
    if not rows:
        ax.text(0.5, 0.5, "no stretch holds in this period", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylabel("hold (s)")
    ax.set_ylim(bottom=0)
    ax.set_title("Hip flexor stretch holds (each mark one hold)", fontsize=10)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    _period_axis(ax, st)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def chart_timeline(plt, sessions: list[dict]):
    days = sorted({s["day"] for s in sessions if s["day"]})
    fig, ax = plt.subplots(figsize=(6.4, max(2.2, 0.6 + 0.16 * len(days))))
    idx = {d: i for i, d in enumerate(days)}
    for s in sessions:
        if not s["day"] or s["start_ms"] is None:
            continue
        t0 = time.localtime(s["start_ms"] / 1000)
        h0 = t0.tm_hour + t0.tm_min / 60 + t0.tm_sec / 3600
        dur_h = max((s["duration_s"] or 60) / 3600.0, 0.15)
        ax.barh(idx[s["day"]], dur_h, left=h0, height=0.7, color="#4c72b0",
                hatch="///" if s["time_approx"] else None, edgecolor="#222" if s["time_approx"] else "#4c72b0",
                linewidth=0.5, gid=f"session-{s['id']}")
    ax.set_xlim(0, 24)
    ax.set_xticks(range(0, 25, 3))
    ax.set_xlabel("time of day (hatched: approximate, the band's clock was not set)")
    step = max(1, len(days) // 15)
    ax.set_yticks(range(0, len(days), step), [days[i] for i in range(0, len(days), step)], fontsize=7)
    ax.invert_yaxis()
    ax.set_title("Sessions by time of day", fontsize=10, loc="left")
    fig.tight_layout()
    return fig


def make_charts(db, st: dict, sessions: list[dict], since, until, progress=None) -> dict:
    """{name: matplotlib Figure} for every chart of CHARTS."""
    plt = _mpl()
    makers = {
        "calendar": lambda: chart_calendar(plt, st),
        "balance": lambda: chart_balance(plt, st),
        "rom": lambda: _trend_chart(plt, st, _daily_series(db, since, until, "rom"), "degrees",
                                    "Range of motion per rep (full reps)"),
        "tempo": lambda: _trend_chart(plt, st, _daily_series(db, since, until, "period"), "seconds per rep",
                                      "Tempo: time per rep (up + top + down)"),
        "holds": lambda: chart_holds(plt, db, st, since, until),
        "timeline": lambda: chart_timeline(plt, sessions),
    }
    out = {}
    for name, _title in CHARTS:
        out[name] = makers[name]()
        if progress:
            progress.update(1)
    return out


def fig_svg(fig, name: str) -> str:
    import matplotlib

    with matplotlib.rc_context({"svg.hashsalt": f"repband-{name}"}):
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    s = buf.getvalue()
    s = s[s.index("<svg"):]  # drop the XML declaration and DOCTYPE: inline in HTML
    m = re.search(r'width="([0-9.]+)pt"', s)
    natural = f' style="max-width:{m.group(1)}pt"' if m else ""  # scaled down on a phone, never up
    return s.replace("<svg ", f'<svg role="img" aria-label="{html.escape(name)}" data-chart="{name}"{natural} ', 1)


def fig_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, metadata={"Software": None})
    return buf.getvalue()


# ---------------------------------------------------------------------------- page

_CSS = """
:root{color-scheme:light}
body{font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0 auto;
 max-width:60rem;padding:1rem;color:#1b1b1b;background:#fff}
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.2rem;margin:1.8rem 0 .5rem;border-bottom:1px solid #ccc}
h3{font-size:1rem;margin:.2rem 0 .3rem}
.meta{color:#444;font-size:.9rem}.note{background:#fff7e0;border-left:4px solid #c98f00;padding:.4rem .7rem;
 font-size:.9rem}
.glance{display:grid;grid-template-columns:repeat(auto-fit,minmax(16rem,1fr));gap:.8rem}
.glance section{border:1px solid #ccc;border-radius:6px;padding:.5rem .8rem}
.glance ul{margin:.2rem 0;padding-left:1.1rem}.glance li{margin:.15rem 0}
.up::before{content:"▲ "}.down::before{content:"▼ "}.same::before{content:"= "}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(8.5rem,1fr));gap:.5rem}
.card{border:1px solid #ccc;border-radius:6px;padding:.35rem .6rem}.card .v{font-size:1.35rem;font-weight:600}
.card .k{font-size:.8rem;color:#444}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;max-width:100%}
table{border-collapse:collapse;font-size:.85rem;margin:.4rem 0}th,td{border-bottom:1px solid #ddd;
 padding:.2rem .5rem;text-align:right;white-space:nowrap}th{background:#f2f2f2;vertical-align:bottom}
td.l,th.l{text-align:left}tr.done td:first-child::after{content:" ✓"}
figure{margin:.8rem 0}figure svg{display:block;width:100%;height:auto;margin:0 auto}
figcaption{font-size:.85rem;color:#444}
.approx{color:#8a4b00}.fix{color:#8a4b00}
.check{display:none}
@media (max-width:40rem){body{padding:.6rem;font-size:15px}h1{font-size:1.3rem}
 .chart{overflow-x:auto}.chart svg{min-width:30rem}}
@media print{
 @page{size:A4;margin:14mm 12mm}
 body{max-width:none;padding:0;font-size:9.5pt}
 h2{break-after:avoid}
 figure,.glance section,.card,tr{break-inside:avoid}
 .scroll{overflow:visible}
 table{font-size:8pt}
 a{color:inherit;text-decoration:none}
}
"""

_JS = """
(function(){
  var out = {charts: {}, ok: true};
  var vw = document.documentElement.clientWidth;
  document.querySelectorAll('figure[data-chart]').forEach(function(f){
    var svg = f.querySelector('svg'); var r = svg ? svg.getBoundingClientRect() : null;
    var n = svg ? svg.querySelectorAll('path,rect,use,text').length : 0;
    out.charts[f.dataset.chart] = {width: r ? Math.round(r.width) : 0, height: r ? Math.round(r.height) : 0,
                                   elements: n};
    // the chart fits its figure (a phone scrolls the chart inside it), the figure the screen
    if (!r || r.width < 50 || r.height < 50 || n < 5 || f.getBoundingClientRect().right > vw + 1) out.ok = false;
  });
  // nothing wider than the screen but the tables' own scroll boxes
  out.viewport = vw; out.page_width = document.documentElement.scrollWidth;
  if (out.page_width > vw + 1) out.ok = false;
  // the per-day table must add up to the summary
  var sum = 0; document.querySelectorAll('#days tbody tr').forEach(function(tr){
    sum += parseInt(tr.querySelector('[data-k=reps]').textContent, 10); });
  var total = parseInt(document.querySelector('[data-stat=reps]').textContent, 10);
  out.days_reps_sum = sum; out.summary_reps = total; if (sum !== total) out.ok = false;
  var el = document.getElementById('render-check');
  el.textContent = JSON.stringify(out); el.dataset.ok = out.ok ? 'yes' : 'no';
  document.documentElement.dataset.rendered = 'yes';
})();
"""


def _e(x) -> str:
    return html.escape("" if x is None else str(x))


def _num(x, fmt="{}") -> str:
    return "–" if x is None else fmt.format(x)


def _side(ex: str, side) -> str:
    """The side column: bridges work both legs."""
    return "both legs" if ex == "bridge" or side in (None, "none") else side


def _change(first, last, unit: str, better: str = "up", tol: float = 0.5) -> tuple[str, str]:
    """(css class, text) of a first-week -> last-week change."""
    d = last - first
    u = unit if unit == "°" else " " + unit
    if abs(d) < tol:
        return "same", f"{last:.0f}{u}, unchanged"
    return ("up" if d > 0 else "down"), f"{first:.0f}{u} → {last:.0f}{u} ({d:+.0f}{u})"


def glance(st: dict, sessions: list[dict]) -> dict:
    """What a physiotherapist reviewing the period wants first, as short sentences:
    adherence, what changed (first week against last), which side lags, what to
    discuss. Trends need two weeks; shorter periods say so."""
    from repband.history import plural

    a, t, tot = st["adherence"], st["targets"], st["totals"]
    days = st["days"]
    out = {"adherence": [], "changed": [], "sides": [], "discuss": []}
    rate = "" if a["rate"] is None else f" ({a['rate'] * 100:.0f} % of the days planned, {t['days_per_week']} a week)"
    out["adherence"].append(f"Active on {a['days_active']} of {plural(a['days'], 'day')}; every target met on "
                            f"{plural(a['days_done'], 'day')}{rate}.")
    gap = run = 0
    gap_end = None
    for d in days:
        run = 0 if d["active"] else run + 1
        if run > gap:
            gap, gap_end = run, d["day"]
    if gap:
        out["adherence"].append(f"Longest stretch without the routine: {plural(gap, 'day')} (to {gap_end}).")
    out["adherence"].append(H.streak_text(a["current"], a["longest"]).capitalize() + ".")
    span = len(days)
    if span >= 14:
        for x in st["exercises"]:
            tr = x["rom_trend_deg"]
            if tr["first_week"] is not None and tr["n_days"] >= 4:
                name = H.EXERCISE_LABEL.get(x["exercise"], x["exercise"]) + (
                    "" if x["exercise"] == "bridge" else f" {x['side']}")
                out["changed"].append((*_change(tr["first_week"], tr["last_week"], "°"), f"{name} range: "))
        for side in ("left", "right"):
            tr = st["holds"][side]["trend_s"]
            if tr["first_week"] is not None and tr["n_days"] >= 4:
                out["changed"].append((*_change(tr["first_week"], tr["last_week"], "s"), f"stretch holds {side}: "))
    else:
        out["changed"].append(("same", f"{plural(span, 'day')} of data: changes show from two weeks on.", ""))
    b = st["clam_balance"]
    lag = None
    if b["left_reps"] + b["right_reps"]:
        lo, hi = sorted((("left", b["left_reps"]), ("right", b["right_reps"])), key=lambda p: p[1])
        if hi[1] and (hi[1] - lo[1]) / hi[1] >= 0.1:
            lag = f"the {lo[0]} side's clams lag: {lo[1]} reps against {hi[1]} ({100 * (hi[1] - lo[1]) / hi[1]:.0f} % fewer)"
            out["sides"].append(f"Clams: {lag}.")
        else:
            out["sides"].append(f"Clams: balanced ({b['left_reps']} left, {b['right_reps']} right).")
        if b["left_rom_deg"] is not None and b["right_rom_deg"] is not None:
            d = b["left_rom_deg"] - b["right_rom_deg"]
            out["sides"].append(f"Clam range: left {b['left_rom_deg']:.0f}°, right {b['right_rom_deg']:.0f}°"
                                + ("" if abs(d) < 3 else f": {'right' if d > 0 else 'left'} {abs(d):.0f}° smaller")
                                + ".")
    hl, hr = st["holds"]["left"], st["holds"]["right"]
    if hl["holds"] or hr["holds"]:
        ml, mr = hl["duration_s"]["mean"], hr["duration_s"]["mean"]
        out["sides"].append("Stretch holds: " + ", ".join(
            f"{side} {plural(h['holds'], 'hold')}" + ("" if m is None else f" of {m:.0f} s on average")
            for side, h, m in (("left", hl, ml), ("right", hr, mr))) + ".")
    # what to talk about
    for cls, text, name in out["changed"]:
        if cls == "down" and "range" in name:
            out["discuss"].append(f"The {name.split(' range')[0]} range went down ({text}): pain, fatigue, or a "
                                  f"changed technique?")
    if gap >= 3:
        out["discuss"].append(f"A break of {plural(gap, 'day')}: what got in the way?")
    short = [d for d in days if d["active"] and d["holds_left"] + d["holds_right"] and
             d["long_holds_left"] + d["long_holds_right"] == 0]
    if short:
        out["discuss"].append(f"Stretch holds shorter than {t['hold_s']} s on {plural(len(short), 'day')}: is the "
                              f"target right for now?")
    if lag:
        out["discuss"].append(lag[0].upper() + lag[1:] + ": strength, or the band worn differently on that leg?")
    if tot["partial"] and tot["reps"] and tot["partial"] / (tot["reps"] + tot["partial"]) > 0.1:
        out["discuss"].append(f"{tot['partial']} partial reps ({100 * tot['partial'] / (tot['reps'] + tot['partial']):.0f}"
                              f" %): range limited by pain or stiffness?")
    if tot["corrected_sets"]:
        out["discuss"].append(f"{plural(tot['corrected_sets'], 'set')} corrected by the patient (the band counted "
                              f"{tot['band_reps']} reps, the patient {tot['reps']}): check the band's fit.")
    approx = sum(1 for s in sessions if s["time_approx"])
    if approx:
        out["discuss"].append(f"{plural(approx, 'session')} with approximate times (the band's clock was not set).")
    if not out["discuss"]:
        out["discuss"].append("Nothing stands out.")
    return out


def _glance_html(g: dict) -> str:
    def ul(items):
        return "<ul>" + "".join(f"<li>{_e(i)}</li>" for i in items) + "</ul>"

    changed = "<ul>" + "".join(f'<li class="{c}">{_e(n)}{_e(t)}</li>' for c, t, n in g["changed"]) + "</ul>"
    return ('<div class="glance" id="glance">'
            f'<section id="adherence"><h3>Adherence</h3>{ul(g["adherence"])}</section>'
            f'<section id="changed"><h3>What changed (first week → last week)</h3>{changed}</section>'
            f'<section id="sides"><h3>Left and right</h3>{ul(g["sides"] or ["No clams or holds yet."])}</section>'
            f'<section id="discuss"><h3>To discuss</h3>{ul(g["discuss"])}</section></div>')


def build_page(db, settings: dict, st: dict, sessions: list[dict], charts_svg: dict,
               devices: list[dict]) -> str:
    from repband.history import plural

    t = st["targets"]
    a = st["adherence"]
    tot = st["totals"]
    patient = (settings.get("patient") or {}).get("name")
    p = []
    w = p.append
    w("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">")
    w("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
    w(f"<title>repband report {_e(st['since'])} to {_e(st['until'])}</title><style>{_CSS}</style></head><body>")
    w(f"<h1>repband report{': ' + _e(patient) if patient else ''}</h1><p class=\"meta\">From <span id=\"since\">"
      f"{_e(st['since'])}</span> to <span id=\"until\">{_e(st['until'])}</span> ({plural(a['days'], 'day')}); made "
      f"{_e(time.strftime('%Y-%m-%d %H:%M'))}. Band on the {_e(settings['leg'])} {_e(settings['placement'])}. "
      f"Targets a day: {t['bridge_reps']} glute bridges; {t['clam_reps']} clams on each side; {t['stretch_holds']} "
      f"hip flexor stretch holds of at least {t['hold_s']} s on each side; {t['days_per_week']} days a week.</p>")
    w("<p class=\"note\">Do this routine only as cleared by your physical therapist, and stop an exercise "
      "if it hurts.</p>")
    w("<h2>At a glance</h2>" + _glance_html(glance(st, sessions)))
    w("<h2>Summary</h2><div class=\"cards\">")
    cards = [("reps", tot["reps"], "full reps"), ("partial", tot["partial"], "partial reps"),
             ("bridge_reps", tot["bridge_reps"], "glute bridges"), ("clam_left", tot["clam_left"], "clams left"),
             ("clam_right", tot["clam_right"], "clams right"), ("holds", tot["holds"], "stretch holds"),
             ("hold_s", _num(tot["hold_s"], "{:.0f}"), "seconds held"), ("sessions", tot["sessions"], "sessions"),
             ("days_active", a["days_active"], f"active days of {a['days']}"),
             ("days_done", f"{a['days_done']}", f"days with every target met, of {a['days']}"),
             ("streak", a["current"], "days in the current streak"), ("longest", a["longest"], "longest streak")]
    for k, v, label in cards:
        w(f"<div class=\"card\"><div class=\"v\" data-stat=\"{k}\">{_e(v)}</div><div class=\"k\">{_e(label)}</div></div>")
    w("</div>")
    if tot["corrected_sets"]:
        w(f"<p class=\"fix\">Counts include {plural(tot['corrected_sets'], 'set')} corrected by you (✎): the band "
          f"counted {tot['band_reps']} full reps, you {tot['reps']}.</p>")
    approx = sum(1 for s in sessions if s["time_approx"])
    if approx:
        w(f"<p class=\"note\">{plural(approx, 'session')} with approximate times (recorded before the band's clock "
          f"was set): marked ~ below and hatched in the timeline.</p>")
    w("<h2>Charts</h2>")
    for name, title in CHARTS:
        w(f"<figure id=\"chart-{name}\" data-chart=\"{name}\"><div class=\"chart\">{charts_svg[name]}</div>"
          f"<figcaption>{_e(title)}</figcaption></figure>")
    # per exercise and side
    w("<h2>Per exercise and side</h2><div class=\"scroll\"><table id=\"exercises\"><thead><tr>"
      "<th class=\"l\">exercise</th><th class=\"l\">side</th><th>sets</th><th>reps</th><th>partial</th>"
      "<th>range, mean (°)</th><th>range trend (°/week)</th><th>s per rep</th><th>tempo trend (s/week)</th>"
      "<th>up / top / down (s)</th></tr></thead><tbody>")
    for x in st["exercises"]:
        tp = x["tempo_s"]
        fix = (f" <span class=\"fix\" title=\"the band counted {x['band_reps']}\">✎</span>"
               if x["corrected_sets"] else "")
        w(f"<tr data-ex=\"{_e(x['exercise'])}\" data-side=\"{_e(x['side'])}\"><td class=\"l\">"
          f"{_e(H.EXERCISE_LABEL.get(x['exercise'], x['exercise']))}</td>"
          f"<td class=\"l\">{_e(_side(x['exercise'], x['side']))}</td>"
          f"<td data-k=\"sets\">{x['sets']}</td><td><span data-k=\"reps\">{x['reps']}</span>{fix}</td>"
          f"<td data-k=\"partial\">{x['partial']}</td><td data-k=\"rom\">{_num(x['rom_deg']['mean'], '{:.1f}')}</td>"
          f"<td>{_num(x['rom_trend_deg']['per_week'], '{:+.2f}')}</td>"
          f"<td data-k=\"period\">{_num(tp['period']['mean'], '{:.1f}')}</td>"
          f"<td>{_num(x['tempo_trend_s']['per_week'], '{:+.2f}')}</td>"
          f"<td>{_num(tp['up']['median'], '{:.1f}')} / {_num(tp['top']['median'], '{:.1f}')} / "
          f"{_num(tp['down']['median'], '{:.1f}')}</td></tr>")
    w("</tbody></table></div>")
    w(f"<h3>Hip flexor stretch holds</h3><div class=\"scroll\"><table id=\"holds\"><thead><tr><th class=\"l\">side"
      f"</th><th>holds</th><th>of at least {t['hold_s']} s</th><th>mean (s)</th><th>longest (s)</th>"
      f"<th>angle, mean (°)</th><th>trend (s/week)</th></tr></thead><tbody>")
    for side in ("left", "right"):
        h = st["holds"][side]
        w(f"<tr data-ex=\"stretch\" data-side=\"{side}\"><td class=\"l\">{side}</td>"
          f"<td data-k=\"holds\">{h['holds']}</td><td data-k=\"at_target\">{h['at_target']}</td>"
          f"<td data-k=\"hold_mean\">{_num(h['duration_s']['mean'], '{:.1f}')}</td>"
          f"<td>{_num(h['duration_s']['max'], '{:.1f}')}</td><td>{_num(h['angle_deg']['mean'], '{:.1f}')}</td>"
          f"<td>{_num(h['trend_s']['per_week'], '{:+.2f}')}</td></tr>")
    w("</tbody></table></div>")
    # per day
    w("<h2>Per day</h2><div class=\"scroll\"><table id=\"days\"><thead><tr><th class=\"l\">day</th><th>sessions</th>"
      "<th>bridges</th><th>clams left</th><th>clams right</th><th>holds left</th><th>holds right</th><th>reps</th>"
      "<th>targets met</th></tr></thead><tbody>")
    for d in reversed(st["days"]):
        cls = ' class="done"' if d["done"] else ""
        w(f"<tr data-day=\"{d['day']}\"{cls}><td class=\"l\">{d['day']}</td>"
          f"<td data-k=\"sessions\">{d['sessions']}</td><td data-k=\"bridge_reps\">{d['bridge_reps']}</td>"
          f"<td data-k=\"clam_left\">{d['clam_left']}</td><td data-k=\"clam_right\">{d['clam_right']}</td>"
          f"<td data-k=\"holds_left\">{d['holds_left']}</td><td data-k=\"holds_right\">{d['holds_right']}</td>"
          f"<td data-k=\"reps\">{d['reps']}</td><td data-k=\"met\">{d['targets_met']}/{d['targets_total']}</td></tr>")
    w("</tbody></table></div><p class=\"meta\">✓ after a day: every target met that day.</p>")
    # sessions
    w(f"<h2>Sessions ({len(sessions)})</h2><div class=\"scroll\"><table id=\"sessions\"><thead><tr>"
      "<th>ID</th><th class=\"l\">start</th><th>minutes</th><th class=\"l\">exercises</th><th>sets</th><th>reps</th>"
      "<th>partial</th><th>holds</th></tr></thead><tbody>")
    for s in reversed(sessions):
        mins = _num(None if s["duration_s"] is None else s["duration_s"] / 60, "{:.1f}")
        fix = " ✎" if s["corrected_sets"] else ""
        w(f"<tr data-id=\"{s['id']}\"><td>{s['id']}</td><td class=\"l{' approx' if s['time_approx'] else ''}\">"
          f"{'~' if s['time_approx'] else ''}{_e(s['start'] or 'unknown')}</td><td>{mins}</td>"
          f"<td class=\"l\">{_e(', '.join(s['exercises']) or s['mode'] or '')}</td><td>{s['sets']}</td>"
          f"<td><span data-k=\"reps\">{s['reps']}</span>{fix}</td><td>{s['partial']}</td>"
          f"<td data-k=\"holds\">{s['holds']}</td></tr>")
    w("</tbody></table></div>")
    devs = ", ".join(f"{_e(d['name'] or d['address'])} ({_e(d['address'])})" for d in devices) or "none"
    w(f"<p class=\"meta\">Bands: {devs}. Made by repband; opens offline, prints on A4.</p>")
    w("<output id=\"render-check\" class=\"check\" hidden></output>")  # filled by the script, for the tests
    w(f"<script>{_JS}</script></body></html>")
    return "\n".join(p)


def _folder_exists(path: Path, what: str) -> None:
    """A mistyped --out or --png makes no folder tree: the folder it goes in must exist."""
    if not path.parent.is_dir():
        raise H.HistoryError(f"{path}: the folder {path.parent} does not exist; check the path (repband makes the "
                             f"{what}, never the folders above it)")


def make_report(db, settings: dict, out: str | Path, since: str | None = None, until: str | None = None,
                png_dir: str | Path | None = None, progress=None) -> dict:
    """Write the HTML report (and PNGs); returns what was written and the stats."""
    out = Path(out).resolve()
    _folder_exists(out, "report file")
    if png_dir is not None:
        png_dir = Path(png_dir).resolve()
        _folder_exists(png_dir, "charts' folder")
    sessions = H.list_sessions(db, since, until)
    st = H.stats(db, settings, since, until)
    if progress:
        progress.update(1)
    figs = make_charts(db, st, sessions, since, until,
                       progress)
    import matplotlib.pyplot as plt

    svgs = {k: fig_svg(f, k) for k, f in figs.items()}
    pngs = []
    if png_dir is not None:
        png_dir.mkdir(mode=0o700, exist_ok=True)  # a new folder of health data: ours only
        for k, f in figs.items():
            path = png_dir / f"{k}.png"
            with open_private(path, "wb") as fh:  # health data: 0600 like the database
                fh.write(fig_png(f))
            pngs.append(str(path))
    for f in figs.values():
        plt.close(f)
    page = build_page(db, settings, st, sessions, svgs, db.devices())
    with open_private(out, "w", encoding="utf-8") as fh:  # health data: 0600 like the database
        fh.write(page)
    if progress:
        progress.update(1)
    return {"html": str(out), "url": out.as_uri(), "png": pngs, "bytes": len(page.encode()), "since": st["since"],
            "until": st["until"], "charts": [c for c, _ in CHARTS], "totals": st["totals"],
            "adherence": {k: v for k, v in st["adherence"].items()}}


def report_json(info: dict) -> str:
    return json.dumps(info)
