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

    plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False,
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
    fig, ax = plt.subplots(figsize=(max(4.0, min(fig_w * 2, 1.2 + 0.62 * n_weeks)), 3.1))
    cmap = LinearSegmentedColormap.from_list("met", ["#f2f2f2", "#c6e48b", "#239a3b"])
    annotate = n_weeks <= 16
    for d in days:
        x = _dt.date.fromisoformat(d["day"])
        w, wd = (x - monday).days // 7, x.weekday()
        frac = d["targets_met"] / d["targets_total"] if d["active"] else 0.0
        ax.add_patch(plt.Rectangle((w, 6 - wd), 0.92, 0.92, facecolor=cmap(frac),
                                   edgecolor="#222" if d["done"] else "none", linewidth=1.4 if d["done"] else 0,
                                   gid=f"cal-{d['day']}"))
        if annotate:
            ax.text(w + 0.46, 6 - wd + 0.46, str(d["reps"]), ha="center", va="center", fontsize=7,
                    color="#000" if frac < 0.8 else "#fff", gid=f"calnum-{d['day']}")
    ax.set_xlim(-0.1, n_weeks)
    ax.set_ylim(-0.1, 7)
    ax.set_yticks([6 - i + 0.46 for i in range(7)], ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"])
    ax.set_xticks([w + 0.46 for w in range(n_weeks)],
                  [(monday + _dt.timedelta(weeks=w)).strftime("%d %b") for w in range(n_weeks)],
                  rotation=0 if n_weeks <= 10 else 90)
    ax.tick_params(length=0)
    for s in ax.spines.values():
        s.set_visible(False)
    ax.set_title("Full reps per day\n(colour: share of targets met; outlined: all met)", fontsize=9)
    fig.tight_layout()
    return fig


def chart_balance(plt, st: dict):
    fig, axes = plt.subplots(1, 3, figsize=(9, 2.6))
    b = st["clam_balance"]
    hs = st["holds"]
    items = [
        (axes[0], "Clam reps", [b["left_reps"], b["right_reps"]], "{:.0f}"),
        (axes[1], "Clam range (mean, deg)", [b["left_rom_deg"] or 0, b["right_rom_deg"] or 0], "{:.1f}"),
        (axes[2], "Stretch hold time (s)", [hs["left"]["total_s"], hs["right"]["total_s"]], "{:.0f}"),
    ]
    for ax, title, vals, fmt in items:
        bars = ax.barh(["left", "right"], vals, color=[COLORS["left"], COLORS["right"]])
        for bar, v in zip(bars, vals):
            ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, " " + fmt.format(v), va="center",
                    fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.set_xlim(0, max(vals + [1]) * 1.25)
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


def _period_axis(ax, st: dict):
    """The report's days on the x axis, whatever the data (one day's points included)."""
    half = _dt.timedelta(hours=12)
    day0 = _dt.datetime.fromisoformat(st["since"])
    day1 = _dt.datetime.fromisoformat(st["until"])
    ax.set_xlim(day0 - half, day1 + half)


def _trend_chart(plt, st: dict, series: dict, ylabel: str, title: str):
    fig, ax = plt.subplots(figsize=(9, 3.0))
    if not series:
        ax.text(0.5, 0.5, "no reps in this period", ha="center", va="center", transform=ax.transAxes)
    for k, pts in series.items():
        xs = [p[0] for p in pts]
        ys = [p[1] for p in pts]
        c = COLORS.get(k, None)
        ax.plot(xs, ys, "o", ms=3, alpha=0.45, color=c)
        roll = [sum(ys[max(0, i - 6):i + 1]) / len(ys[max(0, i - 6):i + 1]) for i in range(len(ys))]
        ax.plot(xs, roll, "-", lw=1.8, color=c, label=f"{k} (7-day mean)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    if series:
        ax.legend(fontsize=7, loc="best", frameon=False)
    _period_axis(ax, st)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def chart_holds(plt, db, st: dict, since, until):
    fig, ax = plt.subplots(figsize=(9, 3.0))
    rows = H._hold_rows(db, since, until)
    for side, off in (("left", -0.15), ("right", 0.15)):
        pts = [(_dt.date.fromisoformat(d) + _dt.timedelta(days=off), dur / 1000.0)
               for d, ex, sd, dur, *_ in rows if H.SIDES.get(sd) == side and d]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o", ms=3.5, color=COLORS[side],
                    label=f"{side} ({len(pts)} holds)")
    target = st["targets"]["hold_s"]
    ax.axhline(target, color="#555", ls="--", lw=1, label=f"target {target} s")
    if not rows:
        ax.text(0.5, 0.5, "no stretch holds in this period", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylabel("hold (s)")
    ax.set_ylim(bottom=0)
    ax.set_title("Hip flexor stretch holds (each dot one hold)", fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="lower left")
    _period_axis(ax, st)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def chart_timeline(plt, sessions: list[dict]):
    days = sorted({s["day"] for s in sessions if s["day"]})
    fig, ax = plt.subplots(figsize=(9, max(2.2, 0.6 + 0.16 * len(days))))
    idx = {d: i for i, d in enumerate(days)}
    seen = set()
    for s in sessions:
        if not s["day"] or s["start_ms"] is None:
            continue
        t0 = time.localtime(s["start_ms"] / 1000)
        h0 = t0.tm_hour + t0.tm_min / 60 + t0.tm_sec / 3600
        dur_h = max((s["duration_s"] or 60) / 3600.0, 0.15)
        ex = s["exercises"][0] if len(s["exercises"]) == 1 else (s["mode"] or "auto")
        c = COLORS.get(ex, "#7f7f7f")
        label = None if ex in seen else ex
        seen.add(ex)
        ax.barh(idx[s["day"]], dur_h, left=h0, height=0.7, color=c, label=label,
                hatch="///" if s["time_approx"] else None, edgecolor="#333" if s["time_approx"] else c,
                linewidth=0.5, gid=f"session-{s['id']}")
    ax.set_xlim(0, 24)
    ax.set_xticks(range(0, 25, 3))
    ax.set_xlabel("time of day (hatched: approximate, the band's clock was not set)")
    step = max(1, len(days) // 15)
    ax.set_yticks(range(0, len(days), step), [days[i] for i in range(0, len(days), step)], fontsize=7)
    ax.invert_yaxis()
    ax.set_title("Sessions by time of day", fontsize=9, loc="left")
    if seen:
        ax.legend(fontsize=7, frameon=False, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=len(seen))
    fig.tight_layout()
    return fig


def make_charts(db, st: dict, sessions: list[dict], since, until, progress=None) -> dict:
    """{name: matplotlib Figure} for every chart of CHARTS."""
    plt = _mpl()
    makers = {
        "calendar": lambda: chart_calendar(plt, st),
        "balance": lambda: chart_balance(plt, st),
        "rom": lambda: _trend_chart(plt, st, _daily_series(db, since, until, "rom"), "degrees",
                                    "Range of motion per rep (daily mean of full reps)"),
        "tempo": lambda: _trend_chart(plt, st, _daily_series(db, since, until, "period"), "seconds per rep",
                                      "Tempo: time per rep (up + top + down, daily mean)"),
        "holds": lambda: chart_holds(plt, db, st, since, until),
        "timeline": lambda: chart_timeline(plt, sessions),
    }
    out = {}
    for name, _title in CHARTS:
        out[name] = makers[name]()
        if progress:
            progress.step(name)
    return out


def fig_svg(fig, name: str) -> str:
    import matplotlib

    with matplotlib.rc_context({"svg.hashsalt": f"repband-{name}"}):
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    s = buf.getvalue()
    s = s[s.index("<svg"):]  # drop the XML declaration and DOCTYPE: inline in HTML
    return s.replace("<svg ", f'<svg role="img" aria-label="{html.escape(name)}" data-chart="{name}" ', 1)


def fig_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, metadata={"Software": None})
    return buf.getvalue()


# ---------------------------------------------------------------------------- page

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0 auto;
 max-width:980px;padding:1rem 1.2rem;color:#222;background:#fff}
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.15rem;margin-top:1.8rem;border-bottom:1px solid #ddd}
.meta{color:#555;font-size:.9rem}.note{background:#fff7e0;border-left:4px solid #f0b400;padding:.4rem .7rem;
 font-size:.9rem}.cards{display:flex;flex-wrap:wrap;gap:.6rem}.card{border:1px solid #ddd;border-radius:6px;
 padding:.4rem .8rem;min-width:7.5rem}.card .v{font-size:1.4rem;font-weight:600}.card .k{font-size:.8rem;color:#555}
table{border-collapse:collapse;font-size:.85rem;margin:.4rem 0}th,td{border-bottom:1px solid #eee;
 padding:.15rem .5rem;text-align:right}th{background:#f6f6f6}td.l,th.l{text-align:left}
figure{margin:.8rem 0}figure svg{max-width:100%;height:auto}figcaption{font-size:.85rem;color:#555}
tr.done td{background:#eefbe9}.approx{color:#a15c00}
"""

_JS = """
(function(){
  var out = {charts: {}, ok: true};
  document.querySelectorAll('figure[data-chart]').forEach(function(f){
    var svg = f.querySelector('svg'); var r = svg ? svg.getBoundingClientRect() : null;
    var n = svg ? svg.querySelectorAll('path,rect,use,text').length : 0;
    out.charts[f.dataset.chart] = {width: r ? Math.round(r.width) : 0, height: r ? Math.round(r.height) : 0,
                                   elements: n};
    if (!r || r.width < 50 || r.height < 50 || n < 5) out.ok = false;
  });
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


def build_page(db, settings: dict, st: dict, sessions: list[dict], charts_svg: dict,
               devices: list[dict]) -> str:
    t = st["targets"]
    a = st["adherence"]
    tot = st["totals"]
    approx = sum(1 for s in sessions if s["time_approx"])
    p = []
    w = p.append
    w("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">")
    w("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
    w(f"<title>repband report {_e(st['since'])} to {_e(st['until'])}</title><style>{_CSS}</style></head><body>")
    w(f"<h1>repband report</h1><p class=\"meta\">From <span id=\"since\">{_e(st['since'])}</span> to "
      f"<span id=\"until\">{_e(st['until'])}</span>; made {_e(time.strftime('%Y-%m-%d %H:%M'))}. "
      f"Sensor on the {_e(settings['leg'])} {_e(settings['placement'])}. Targets a day: "
      f"{t['bridge_reps']} glute bridges; {t['clam_reps']} clams on each side; {t['stretch_holds']} hip "
      f"flexor stretch holds of at least {t['hold_s']} s on each side; {t['days_per_week']} days a week.</p>")
    devs = ", ".join(f"{_e(d['name'] or d['address'])} ({_e(d['address'])})" for d in devices) or "none"
    w(f"<p class=\"meta\">Devices: {devs}.</p>")
    if approx:
        w(f"<p class=\"note\">{approx} session(s) have approximate times (recorded before the band's clock "
          f"was set); they are marked ~ below and hatched in the timeline.</p>")
    w("<p class=\"note\">Do this routine only as cleared by your physical therapist, and stop an exercise "
      "if it hurts.</p>")
    w("<h2>Summary</h2><div class=\"cards\">")
    cards = [("reps", tot["reps"], "full reps"), ("partial", tot["partial"], "partial reps"),
             ("bridge_reps", tot["bridge_reps"], "glute bridges"), ("clam_left", tot["clam_left"], "clams left"),
             ("clam_right", tot["clam_right"], "clams right"), ("holds", tot["holds"], "stretch holds"),
             ("hold_s", _num(tot["hold_s"], "{:.0f}"), "seconds held"), ("sessions", tot["sessions"], "sessions"),
             ("days_active", a["days_active"], f"active days of {a['days']}"),
             ("days_done", a["days_done"], "days all targets met"),
             ("streak", a["current"], "current streak (days)"), ("longest", a["longest"], "longest streak")]
    for k, v, label in cards:
        w(f"<div class=\"card\"><div class=\"v\" data-stat=\"{k}\">{_e(v)}</div><div class=\"k\">{_e(label)}</div></div>")
    w("</div>")
    b = st["clam_balance"]
    w(f"<p>Clam balance: <b id=\"balance\">{_e(b['verdict'])}</b>"
      + (f" (left {b['left_reps']} reps, {b['left_share'] * 100:.0f} % of all clams)" if b["left_share"] is not None
         else "") + ".</p>")
    w("<h2>Charts</h2>")
    for name, title in CHARTS:
        w(f"<figure id=\"chart-{name}\" data-chart=\"{name}\">{charts_svg[name]}"
          f"<figcaption>{_e(title)}</figcaption></figure>")
    # per exercise and side
    w("<h2>Per exercise and side</h2><table id=\"exercises\"><thead><tr><th class=\"l\">exercise</th>"
      "<th class=\"l\">side</th><th>sets</th><th>reps</th><th>partial</th><th>range (mean, deg)</th>"
      "<th>range trend (deg/week)</th><th>s per rep</th><th>tempo trend (s/week)</th><th>up / top / down (s)</th>"
      "</tr></thead><tbody>")
    for x in st["exercises"]:
        tp = x["tempo_s"]
        w(f"<tr data-ex=\"{_e(x['exercise'])}\" data-side=\"{_e(x['side'])}\"><td class=\"l\">"
          f"{_e(H.EXERCISE_LABEL.get(x['exercise'], x['exercise']))}</td><td class=\"l\">{_e(x['side'])}</td>"
          f"<td data-k=\"sets\">{x['sets']}</td><td data-k=\"reps\">{x['reps']}</td>"
          f"<td data-k=\"partial\">{x['partial']}</td><td data-k=\"rom\">{_num(x['rom_deg']['mean'], '{:.1f}')}</td>"
          f"<td>{_num(x['rom_trend_deg']['per_week'], '{:+.2f}')}</td>"
          f"<td data-k=\"period\">{_num(tp['period']['mean'], '{:.1f}')}</td>"
          f"<td>{_num(x['tempo_trend_s']['per_week'], '{:+.2f}')}</td>"
          f"<td>{_num(tp['up']['median'], '{:.1f}')} / {_num(tp['top']['median'], '{:.1f}')} / "
          f"{_num(tp['down']['median'], '{:.1f}')}</td></tr>")
    for side in ("left", "right"):
        h = st["holds"][side]
        w(f"<tr data-ex=\"stretch\" data-side=\"{side}\"><td class=\"l\">hip flexor stretch</td>"
          f"<td class=\"l\">{side}</td><td></td><td data-k=\"holds\">{h['holds']} holds</td>"
          f"<td data-k=\"at_target\">{h['at_target']} ≥ {t['hold_s']} s</td>"
          f"<td>{_num(h['angle_deg']['mean'], '{:.1f}')}</td><td></td>"
          f"<td data-k=\"hold_mean\">{_num(h['duration_s']['mean'], '{:.1f}')} s held</td>"
          f"<td>{_num(h['trend_s']['per_week'], '{:+.2f}')}</td><td></td></tr>")
    w("</tbody></table>")
    # per day
    w("<h2>Per day</h2><table id=\"days\"><thead><tr><th class=\"l\">day</th><th>sessions</th><th>bridges</th>"
      "<th>clams left</th><th>clams right</th><th>holds left</th><th>holds right</th><th>reps</th>"
      "<th>targets met</th></tr></thead><tbody>")
    for d in reversed(st["days"]):
        cls = ' class="done"' if d["done"] else ""
        w(f"<tr data-day=\"{d['day']}\"{cls}><td class=\"l\">{d['day']}</td>"
          f"<td data-k=\"sessions\">{d['sessions']}</td><td data-k=\"bridge_reps\">{d['bridge_reps']}</td>"
          f"<td data-k=\"clam_left\">{d['clam_left']}</td><td data-k=\"clam_right\">{d['clam_right']}</td>"
          f"<td data-k=\"holds_left\">{d['holds_left']}</td><td data-k=\"holds_right\">{d['holds_right']}</td>"
          f"<td data-k=\"reps\">{d['reps']}</td><td data-k=\"met\">{d['targets_met']}/{d['targets_total']}</td></tr>")
    w("</tbody></table>")
    # sessions
    w(f"<h2>Sessions</h2><details><summary>All {len(sessions)} sessions</summary><table id=\"sessions\"><thead><tr>"
      "<th>ID</th><th class=\"l\">start</th><th>minutes</th><th class=\"l\">exercises</th><th>sets</th><th>reps</th>"
      "<th>partial</th><th>holds</th></tr></thead><tbody>")
    for s in reversed(sessions):
        mins = _num(None if s["duration_s"] is None else s["duration_s"] / 60, "{:.1f}")
        w(f"<tr data-id=\"{s['id']}\"><td>{s['id']}</td><td class=\"l{' approx' if s['time_approx'] else ''}\">"
          f"{'~' if s['time_approx'] else ''}{_e(s['start'] or 'unknown')}</td><td>{mins}</td>"
          f"<td class=\"l\">{_e(', '.join(s['exercises']) or s['mode'] or '')}</td><td>{s['sets']}</td>"
          f"<td data-k=\"reps\">{s['reps']}</td><td>{s['partial']}</td><td data-k=\"holds\">{s['holds']}</td></tr>")
    w("</tbody></table></details>")
    w("<p class=\"meta\">Render check: <span id=\"render-check\">(needs JavaScript)</span></p>")
    w(f"<script>{_JS}</script></body></html>")
    return "\n".join(p)


def make_report(db, settings: dict, out: str | Path, since: str | None = None, until: str | None = None,
                png_dir: str | Path | None = None, progress=None) -> dict:
    """Write the HTML report (and PNGs); returns what was written and the stats."""
    sessions = H.list_sessions(db, since, until)
    st = H.stats(db, settings, since, until)
    if progress:
        progress.step("statistics")
    figs = make_charts(db, st, sessions, since, until,
                       progress)
    import matplotlib.pyplot as plt

    svgs = {k: fig_svg(f, k) for k, f in figs.items()}
    pngs = []
    if png_dir is not None:
        d = Path(png_dir)
        d.mkdir(parents=True, exist_ok=True)
        for k, f in figs.items():
            path = d / f"{k}.png"
            with open_private(path, "wb") as fh:  # health data: 0600 like the database
                fh.write(fig_png(f))
            pngs.append(str(path))
    for f in figs.values():
        plt.close(f)
    page = build_page(db, settings, st, sessions, svgs, db.devices())
    out = Path(out)
    if out.parent and not out.parent.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
    with open_private(out, "w", encoding="utf-8") as fh:  # health data: 0600 like the database
        fh.write(page)
    if progress:
        progress.step("page")
    return {"html": str(out), "png": pngs, "bytes": len(page.encode()), "since": st["since"],
            "until": st["until"], "charts": [c for c, _ in CHARTS], "totals": st["totals"],
            "adherence": {k: v for k, v in st["adherence"].items()}}


def report_json(info: dict) -> str:
    return json.dumps(info)
