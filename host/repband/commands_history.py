"""The history commands: `sessions`, `show ID`, `stats`, `report`, `export`, `setup`, and
the bare `repband` state screen (devices, last sync, today's progress, the next step).

Every command takes ``--db PATH`` (default: the platform's user data folder) and
``--config PATH`` (the settings file ``setup`` writes; default: the platform's user
config folder, or ``$REPBAND_CONFIG``); every read command takes ``--json``. Errors
print one line saying what to do (``repband: ...``) and exit with status 2
(repband.exits.FIX).

Registered in repband.cli by ``add_parser(sub)`` and ``bare_command(parser, sub)``.
"""
from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

from repband import exits, progress
from repband import history as H
from repband.cli import whole_number
from repband.db import DatabaseError, NoDatabase, default_path, locate
from repband.private import open_private

_COMMANDS: dict = {}  # the parser's subcommands (to suggest only commands that exist)


def _friendly(fn):
    @functools.wraps(fn)
    def wrapper(args):
        try:
            H.period(None, getattr(args, "since", None), getattr(args, "until", None))  # before any file
            return fn(args)
        except (H.HistoryError, DatabaseError, ValueError) as exc:
            print(f"repband: {exc}", file=sys.stderr)
            return exits.FIX
    return wrapper  # an OSError (a path refused, a reader gone) goes to cli.main's one line


def _db_arg(args):
    return getattr(args, "db", None) or getattr(args, "top_db", None)


def _config(args):
    return getattr(args, "config", None) or getattr(args, "top_config", None)


def _json(args) -> bool:
    return bool(getattr(args, "json", False) or getattr(args, "top_json", False))


def _out(obj) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def _period(args, db):
    return H.period(getattr(args, "days", None), getattr(args, "since", None), getattr(args, "until", None), db)


def _has(cmd: str) -> bool:
    return not _COMMANDS or cmd in _COMMANDS


def _ago(ms: int | None) -> str:
    if not ms:
        return "never"
    d = time.time() - ms / 1000.0
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(ms / 1000.0))
    if d < 90:
        rel = "just now"
    elif d < 5400:
        rel = f"{d / 60:.0f} min ago"
    elif d < 2 * 86400:
        rel = f"{d / 3600:.0f} h ago"
    else:
        rel = f"{d / 86400:.0f} days ago"
    return f"{when} ({rel})"


# ---------------------------------------------------------------------------- sessions / show


@_friendly
def cmd_sessions(args) -> int:
    with H.open_db(_db_arg(args)) as db:
        since, until = _period(args, db)
        rows = H.list_sessions(db, since, until, exercise=args.exercise,
                               limit=None if args.all or _json(args) and args.limit is None else
                               (args.limit if args.limit is not None else 20))
        total = len(H.list_sessions(db, since, until, exercise=args.exercise))
    if _json(args):
        _out({"sessions": rows, "total": total})
        return 0
    if not rows:
        print("No sessions" + (f" from {since}" if since else "") + (f" to {until}" if until else "")
              + ". Sync the band (`repband sync`) after a session.")
        return 0
    exercises = [", ".join(s["exercises"]) or (s["mode"] or "") for s in rows]
    wide = max(len("exercises"), *map(len, exercises))  # "bridge, clam, stretch" keeps the columns after it
    print(f"{'ID':>5}  {'day':<10}  start  {'min':>5}  {'exercises':<{wide}} {'sets':>4} {'reps':>5} {'partial':>7}"
          f" {'holds':>5}")
    for s, ex in zip(rows, exercises):
        start = s["start"][11:16] if s["start"] else "--:--"
        mins = "-" if s["duration_s"] is None else f"{s['duration_s'] / 60:.1f}"
        print(f"{s['id']:>5}  {s['day'] or '?':<10} {'~' if s['time_approx'] else ' '}{start}  {mins:>5}  "
              f"{ex:<{wide}} {s['sets']:>4} {s['reps']:>5} {s['partial']:>7} {s['holds']:>5}"
              + ("" if s["complete"] else "  (still running at the last sync)"))
    more = total - len(rows)
    print(f"{len(rows)} of {total} sessions" + (" (the newest; --all or --limit N for more)" if more else "")
          + ("; ~ approximate time (the band's clock was not set)" if any(s["time_approx"] for s in rows) else "")
          + ". `repband show ID` shows one in detail.")
    return 0


@_friendly
def cmd_show(args) -> int:
    with H.open_db(_db_arg(args)) as db:
        s = H.show_session(db, args.id)
    if _json(args):
        _out(s)
        return 0
    approx = " (approximate time)" if s.get("time_approx") else ""
    dur = "" if s.get("duration_s") is None else f", {s['duration_s'] / 60:.1f} min"
    print(f"Session {s['id']}: {s.get('start') or 'start unknown'}{approx}{dur}, device {s.get('device')}")
    print(f"  mode {s.get('mode')}, sensor on the {s.get('leg')} {s.get('placement')}; targets on the band: "
          f"{s.get('target_reps')} reps, {s.get('target_hold_s')} s holds; ended: {s.get('end_reason') or 'not yet'}")
    for st in s["set_list"]:
        if st["exercise"] in (None, "none"):
            print(f"  set {st['no']}: not counted, {H.plural(st['band_count'], 'movement')} the band could not"
                  f" name; next time {H.calibrate_hint(s.get('placement'))}")
            continue
        print(f"  set {st['no']}, {_set_name(st)}: {H.plural(st['count'], 'rep')}" + _fix_text(st)
              + (f" (+{st['partial']} partial)" if st["partial"] else "")
              + f", {st['start'][11:19] if st['start'] else '?'}, {st['duration_s']:.0f} s,"
              f" mean range {st['mean_rom_deg']:.1f} deg, {st['period_s']:.1f} s per rep")
        if st["reps"]:
            print("      range (deg): " + " ".join(f"{r['rom_deg']:.0f}" + ("p" if r["partial"] else "")
                                                   for r in st["reps"]))
    if s["reps_outside_sets"]:
        print(f"  {H.plural(len(s['reps_outside_sets']), 'rep')} outside a completed set")
    for h in s["hold_list"]:
        print(f"  hold {H.EXERCISE_LABEL.get(h['exercise'], h['exercise'])} {h['side']}: {h['duration_s']:.0f} s at "
              f"{h['angle_deg']:.1f} deg, {h['start'][11:19] if h['start'] else '?'}")
    for e in s["events"]:
        print(f"  {H.event_text(e['kind'], e['code'], s.get('placement'))} at {e['time'][11:19] if e['time'] else '?'}")
    for g in s.get("lost", []):  # records lost on the band (bit rot) or quarantined
        n = g["last_seq"] - g["first_seq"] + 1
        print(f"  {H.plural(n, 'record')} of the band lost ({g['why']}: seq {g['first_seq']}"
              + (f"..{g['last_seq']}" if n > 1 else "") + "): counts here may be short")
    return 0


def _set_name(st: dict) -> str:
    side = "" if st["side"] in (None, "none") else f" {st['side']}"
    return f"{H.EXERCISE_LABEL.get(st['exercise'], st['exercise'])}{side}"


def _fix_text(st: dict) -> str:
    fix = st.get("corrected")
    if not fix:
        return ""
    note = f": {fix['note']}" if fix["note"] else ""
    return f" (corrected by you; the band counted {st['band_count']}{note})"


@_friendly
def cmd_correct(args) -> int:
    if args.reps is None and not args.undo:
        raise H.HistoryError("give the number of full reps you did (or --undo to go back to the band's count)")
    with H.open_db(_db_arg(args)) as db:
        st = H.correct_set(db, args.id, args.set, None if args.undo else args.reps, args.note)
    if _json(args):
        _out(st)
        return 0
    if st["corrected"]:
        print(f"Session {args.id}, set {st['no']} ({_set_name(st)}): {H.plural(st['count'], 'full rep')}, "
              f"corrected by you; the band's count ({st['band_count']}) is kept beside it.")
    else:
        print(f"Session {args.id}, set {st['no']} ({_set_name(st)}): back to the band's count, "
              f"{H.plural(st['count'], 'full rep')}.")
    print("Stats, the report and exports use it; `repband show ID` shows both.")
    return 0


# ---------------------------------------------------------------------------- stats


def _fmt_trend(tr: dict, unit: str) -> str:
    if tr["per_week"] is None:
        return ""
    if tr["span_days"] < 14:  # the first and the last week overlap
        return f" (trend {tr['per_week']:+.2f} {unit}/week)"
    return (f" (trend {tr['per_week']:+.2f} {unit}/week; first week {tr['first_week']:.1f}, "
            f"last week {tr['last_week']:.1f})")


def _today_line(row: dict | None, t: dict) -> str:
    if row is None:
        row = {"bridge_reps": 0, "clam_left": 0, "clam_right": 0, "long_holds_left": 0, "long_holds_right": 0}

    def mark(v, target):
        return f"{v}/{target}" + (" done" if v >= target else "")
    return (f"bridges {mark(row['bridge_reps'], t['bridge_reps'])}; clams left {mark(row['clam_left'], t['clam_reps'])},"
            f" right {mark(row['clam_right'], t['clam_reps'])}; stretch holds of {t['hold_s']} s left "
            f"{mark(row['long_holds_left'], t['stretch_holds'])}, right "
            f"{mark(row['long_holds_right'], t['stretch_holds'])}")


@_friendly
def cmd_stats(args) -> int:
    settings = H.load_settings(_config(args))
    with H.open_db(_db_arg(args)) as db:
        since, until = _period(args, db)
        st = H.stats(db, settings, since, until)
    st["settings"] = {k: settings[k] for k in ("leg", "placement", "configured")}
    if _json(args):
        _out(st)
        return 0
    a, t = st["adherence"], st["targets"]
    if not st["days"]:
        print("No sessions in this period. Sync the band (`repband sync`) after a session.")
        return 0
    print(f"repband stats, {st['since']} to {st['until']} ({H.plural(a['days'], 'day')})"
          + ("" if settings["configured"] else "; default targets (`repband setup` sets yours)"))
    rate = "" if a["rate"] is None else f" ({a['rate'] * 100:.0f} % of the days planned, {t['days_per_week']} a week)"
    print(f"Adherence: {a['days_active']} of {H.plural(a['days'], 'day')} active, {a['days_done']} with every "
          f"target met{rate}; {H.streak_text(a['current'], a['longest'])}")
    if st["today"] is not None:
        print(f"Today: {_today_line(st['today'], t)}")
    print("Per exercise and side:")
    for x in st["exercises"]:
        side = "" if x["side"] in (None, "none") else f" {x['side']}"
        name = f"{H.EXERCISE_LABEL.get(x['exercise'], x['exercise'])}{side}"
        fixed = (f"; {H.plural(x['corrected_sets'], 'set')} corrected by you, the band counted {x['band_reps']}"
                 if x["corrected_sets"] else "")
        print(f"  {name:<18} {H.plural(x['reps'], 'rep')}" + (f" (+{x['partial']} partial)" if x["partial"] else "")
              + f" in {H.plural(x['sets'], 'set')} on {H.plural(x['days'], 'day')}{fixed}")
        if x["rom_deg"]["mean"] is not None:
            print(f"  {'':<18} range {x['rom_deg']['mean']:.1f} deg{_fmt_trend(x['rom_trend_deg'], 'deg')}")
            tp = x["tempo_s"]
            print(f"  {'':<18} tempo {tp['period']['mean']:.1f} s per rep (up {tp['up']['median']:.1f}, "
                  f"top {tp['top']['median']:.1f}, down {tp['down']['median']:.1f} s)"
                  f"{_fmt_trend(x['tempo_trend_s'], 's')}")
    b = st["clam_balance"]
    if b["left_share"] is not None:
        rng = {s: "no reps" if b[f"{s}_rom_deg"] is None else f"{b[f'{s}_rom_deg']:.1f} deg" for s in ("left", "right")}
        print(f"  clam balance: {b['verdict']} (left {b['left_reps']}, right {b['right_reps']} reps; mean range "
              f"left {rng['left']}, right {rng['right']})")
    for side in ("left", "right"):
        h = st["holds"][side]
        if h["holds"]:
            print(f"  hip flexor stretch {side}: {H.plural(h['holds'], 'hold')}, {h['at_target']} of at least "
                  f"{t['hold_s']} s; "
                  f"mean {h['duration_s']['mean']:.1f} s (longest {h['duration_s']['max']:.1f} s), angle "
                  f"{h['angle_deg']['mean']:.1f} deg{_fmt_trend(h['trend_s'], 's')}")
    return 0


# ---------------------------------------------------------------------------- report / export


@_friendly
def cmd_report(args) -> int:
    from repband import report as RP

    settings = H.load_settings(_config(args))
    out = Path(args.out)
    with H.open_db(_db_arg(args)) as db:
        since, until = _period(args, db)
        if db.conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0:
            raise H.HistoryError("the database holds no sessions yet: sync the band (`repband sync`) first, "
                                 "or try the simulated band: `repband demo --db PATH`")
        if not H.list_sessions(db, since, until):
            lo, hi = db.conn.execute("SELECT min(day), max(day) FROM sessions").fetchone()
            raise H.HistoryError(f"no sessions from {since or 'the start'} to {until or 'today'}: the database "
                                 f"holds sessions from {lo} to {hi}; choose a period within it (--days, --since, "
                                 f"--until)")
        with progress.bar(len(RP.CHARTS) + 2, "report", unit="step", quiet=_json(args)) as bar:
            info = RP.make_report(db, settings, out, since, until, png_dir=args.png, progress=bar)
    if _json(args):
        _out(info)
        return 0
    print(f"Wrote {info['html']} ({info['bytes'] // 1024} kB, {info['since']} to {info['until']}; opens offline "
          f"in any browser, prints on A4)")
    print(f"Open it: {info['url']}")
    if info["png"]:
        print(f"Charts as PNG in {args.png}: " + ", ".join(Path(p).name for p in info["png"]))
    return 0


@_friendly
def cmd_export(args) -> int:
    from repband import export as X

    settings = H.load_settings(_config(args))
    with H.open_db(_db_arg(args)) as db:
        since, until = _period(args, db)
        if args.format == "csv":
            text = X.export_csv(db, settings, args.table, since, until)
            what = f"{H.plural(text.count(chr(10)) - 1, 'row')} ({args.table})"
        elif args.format == "json":
            n = len(H.list_sessions(db, since, until))
            with progress.bar(n, "export", unit="session") as bar:
                doc = X.export_json(db, settings, since, until, progress=bar)
            text = json.dumps(doc, ensure_ascii=False, indent=1) + "\n"
            what = H.plural(len(doc['sessions']), "session")
        else:
            with progress.bar(X.fhir_total(db, since, until), "export", unit="observation") as bar:
                doc = X.export_fhir(db, settings, since, until, patient_reference=args.patient_reference,
                                    progress=bar)
            if not args.no_validate:
                X.validate_fhir(doc)
            text = json.dumps(doc, ensure_ascii=False, indent=1) + "\n"
            n_obs = sum(1 for e in doc["entry"] if e["resource"]["resourceType"] == "Observation")
            what = (f"FHIR R4 transaction Bundle: {n_obs} Observations"
                    + ("" if args.no_validate else ", validated"))
    if args.out in (None, "-"):
        sys.stdout.write(text)
    else:
        with open_private(args.out, "w", encoding="utf-8") as f:  # health data: 0600 like the database
            f.write(text)
        print(f"Wrote {args.out}: {what}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------- setup


def _is_tty() -> bool:
    return sys.stdin.isatty()


def _ask(prompt: str, default, parse):
    while True:
        try:
            ans = input(f"{prompt} [{default}]: ").strip()
        except EOFError:
            return default
        if not ans:
            return default
        try:
            return parse(ans)
        except (ValueError, argparse.ArgumentTypeError) as exc:
            print(f"  {exc}; try again")


def _choice(options):
    def parse(s):
        s = s.lower()
        for o in options:
            if o.startswith(s):
                return o
        raise ValueError(f"answer one of: {', '.join(options)}")
    return parse


_TARGET_FLAGS = [  # key, flag attr, question, lo, hi
    ("bridge_reps", "bridge_reps", "Glute bridges a day (full reps)", 1, 200),
    ("clam_reps", "clam_reps", "Clams a day on each side (full reps)", 1, 200),
    ("stretch_holds", "stretch_holds", "Hip flexor stretch holds a day on each side", 0, 20),
    ("hold_s", "hold_seconds", "Seconds each stretch hold should last", 5, 300),
    ("days_per_week", "days_per_week", "Days a week you plan to do the routine", 1, 7),
]


@_friendly
def cmd_setup(args) -> int:
    cur = H.load_settings(_config(args))
    new = {"leg": cur["leg"], "placement": cur["placement"], "targets": dict(cur["targets"]),
           "patient": dict(cur.get("patient") or {})}
    for key, attr, _q, lo, hi in _TARGET_FLAGS:
        v = getattr(args, attr)
        if v is not None:
            if not lo <= v <= hi:
                raise H.HistoryError(f"--{attr.replace('_', '-')} must be from {lo} to {hi}")
            new["targets"][key] = v
    if args.leg:
        new["leg"] = args.leg
    if args.placement:
        new["placement"] = args.placement
    for k in ("name", "id", "system"):
        v = getattr(args, f"patient_{k}")
        if v is not None:
            if v:
                new["patient"][k] = v
            else:
                new["patient"].pop(k, None)
    interactive = not args.non_interactive and _is_tty() and not _json(args)
    if interactive:
        print("repband set-up. Press Enter to keep the value in brackets.")
        print("Get your physical therapist's OK for this routine first, and stop any exercise that hurts.")
        if args.leg is None:
            new["leg"] = _ask("Which leg wears the band (left/right)", new["leg"], _choice(["left", "right"]))
        if args.placement is None:
            new["placement"] = _ask("Where on that leg (thigh: above the knee, outer side; hip: over the pelvis)",
                                    new["placement"], _choice(["thigh", "hip"]))
        for key, attr, q, lo, hi in _TARGET_FLAGS:
            if getattr(args, attr) is None:
                new["targets"][key] = _ask(q, new["targets"][key], whole_number(lo, hi))
    path = H.save_settings(new, _config(args))
    saved = H.load_settings(path)
    if _json(args):
        _out({k: saved[k] for k in ("leg", "placement", "targets", "patient", "path")})
        return 0
    t = saved["targets"]
    print(f"Saved {path} (readable only by you).")
    print(f"  band on the {saved['leg']} {saved['placement']}; a day: {t['bridge_reps']} glute bridges, "
          f"{t['clam_reps']} clams on each side, {t['stretch_holds']} hip flexor stretch holds of {t['hold_s']} s "
          f"on each side; {t['days_per_week']} days a week")
    if saved["placement"] == "hip":
        print(f"  Note: {H.HIP_NOTE}.")
    if not interactive and not args.non_interactive:
        print("  (not a terminal: took the flags given and kept the rest; `repband setup --help` lists them)")
    if _has("pair"):
        print("  The band gets the leg, the placement and the hold time when you pair it (`repband pair`), "
              "or at its next `repband sync`")
    print("Next: " + _next_step(_db_arg(args), saved)[0])
    return 0


# ---------------------------------------------------------------------------- the bare command


def _existing(db_path) -> tuple[Path, bool]:
    """The database path (repband.db.locate: a folder or a missing folder is an error)
    and whether a database is there yet."""
    try:
        return locate(db_path), True
    except NoDatabase as exc:
        return exc.path, False


def state(db_path=None, config=None) -> dict:
    """What `repband` alone shows."""
    settings = H.load_settings(config)
    p, exists = _existing(db_path)
    out = {"database": {"path": str(p), "exists": exists},
           "settings": {k: settings[k] for k in ("leg", "placement", "targets", "configured", "path")},
           "devices": [], "today": None, "streak": None, "next_steps": []}
    if exists:
        with H.open_db(p) as db:
            s = db.summary()
            out["database"].update({k: s[k] for k in ("sessions", "reps", "holds", "records", "schema_version")})
            out["devices"] = [{k: d[k] for k in ("address", "name", "last_sync_ms", "last_error", "records",
                                                 "retired_ms")} for d in s["devices"]]
            td = H.today()
            days = H.daily(db, settings, None, td)
            row = next((d for d in days if d["day"] == td), None)
            if row is None:
                row = H.daily(db, settings, td, td, fill=True)
                row = row[0] if row else None
            out["today"] = row
            out["streak"] = H.streaks(days, td)
    out["next_steps"] = _next_step(db_path, settings, out)
    return out


def _next_step(db_path, settings, st: dict | None = None) -> list[str]:
    if st is None:
        p, exists = _existing(db_path)
        st = {"database": {"exists": exists}, "devices": [], "today": None}
        if exists:
            try:
                with H.open_db(p) as db:
                    st["devices"] = db.devices()
                    td = H.today()
                    r = H.daily(db, settings, td, td)
                    st["today"] = r[0] if r else None
            except H.HistoryError:
                pass
    steps = []
    if not settings["configured"]:
        steps.append("tell repband your leg, placement and targets: `repband setup`")
    live = [d for d in st["devices"] if not d.get("retired_ms")]
    if not live:
        if _has("pair"):
            steps.append("pair your band: `repband scan`, then `repband pair`, then `repband sync` after a session")
        elif _has("sync"):
            steps.append("sync your band after a session: `repband sync`")
        steps.append("no band yet? `repband demo` shows what a session gives")
        return steps
    newest = max((d.get("last_sync_ms") or 0) for d in live)
    errs = [d for d in live if d.get("last_error")]
    if errs:
        steps.append(f"the last sync of {errs[0].get('name') or errs[0]['address']} failed "
                     f"({errs[0]['last_error']}): run `repband sync` again")
    elif not newest or time.time() - newest / 1000.0 > 12 * 3600:
        steps.append("sync the band to get your latest sessions: `repband sync`")
    todo = H.next_steps(st.get("today"), settings["targets"])
    if todo:
        steps.append("today's routine, still to do: " + "; ".join(todo))
    else:
        steps.append("every target met today. Well done! `repband report` shows your progress")
    return steps


@_friendly
def cmd_state(args) -> int:
    st = state(_db_arg(args), _config(args))
    if _json(args):
        _out(st)
        return 0
    print("repband: rep counter for a low-back physiotherapy routine (`repband --help` lists the commands)")
    db = st["database"]
    if db["exists"]:
        print(f"Database: {db['path']} ({H.plural(db['sessions'], 'session')}, {H.plural(db['reps'], 'rep')}, "
              f"{H.plural(db['holds'], 'hold')})")
    else:
        print(f"Database: none yet ({db['path']} is made by `repband pair` or the first `repband sync`)")
    s = st["settings"]
    if s["configured"]:
        t = s["targets"]
        print(f"Set-up: band on the {s['leg']} {s['placement']}; a day: {t['bridge_reps']} bridges, {t['clam_reps']} "
              f"clams a side, {t['stretch_holds']} stretch holds of {t['hold_s']} s a side")
    else:
        print("Set-up: not done (default targets in use)")
    for d in st["devices"]:
        if d["retired_ms"]:
            continue
        err = f"; last attempt failed: {d['last_error']}" if d["last_error"] else ""
        print(f"Device: {d['name'] or 'band'} {d['address']}, last sync {_ago(d['last_sync_ms'])}{err}")
    if db["exists"] and not st["devices"]:
        print("Device: none synced yet")
    if st["today"] is not None:
        print(f"Today ({st['today']['day']}): {_today_line(st['today'], s['targets'])}")
        print(f"Streak: {H.streak_text(st['streak']['current'], st['streak']['longest'])}")
    for i, step in enumerate(st["next_steps"]):
        print(("Next: " if i == 0 else "      ") + step)
    return 0


# ---------------------------------------------------------------------------- parsers


def _common(p, read: bool = True, period: bool = False) -> None:
    p.add_argument("--db", metavar="PATH", default=None, help=f"database file (default: {default_path()})")
    p.add_argument("--config", metavar="PATH", default=None,
                   help="settings file written by `repband setup` (default: in your user config folder)")
    if read:
        p.add_argument("--json", action="store_true", help="print one JSON object")
    if period:
        p.add_argument("--days", type=int, default=None, metavar="N", help="the last N days (up to --until)")
        p.add_argument("--since", metavar="YYYY-MM-DD", default=None, help="first day")
        p.add_argument("--until", metavar="YYYY-MM-DD", default=None, help="last day")


def add_parser(sub) -> None:
    """Register sessions, show, stats, report, export and setup."""
    global _COMMANDS
    _COMMANDS = sub.choices  # the parser's live dict: commands registered later show up too

    p = sub.add_parser("sessions", help="list the synced sessions")
    _common(p, period=True)
    p.add_argument("--exercise", choices=["bridge", "clam", "stretch"], default=None)
    p.add_argument("--limit", type=int, default=None, metavar="N", help="the newest N (default 20)")
    p.add_argument("--all", action="store_true", help="every session")
    p.set_defaults(func=cmd_sessions)

    p = sub.add_parser("show", help="one session in detail: sets, reps, holds")
    p.add_argument("id", type=int, metavar="ID", help="the session's ID (`repband sessions`)")
    _common(p)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("correct", help="correct a set's count: keep the reps you did beside the band's count")
    p.add_argument("id", type=int, metavar="ID", help="the session's ID (`repband sessions`)")
    p.add_argument("set", type=int, metavar="SET", help="the set's number in `repband show ID`")
    p.add_argument("reps", type=int, nargs="?", metavar="REPS", help="the full reps you did in that set")
    p.add_argument("--note", default=None, help="why (kept with the correction, shown in exports)")
    p.add_argument("--undo", action="store_true", help="drop the correction: the band's count again")
    _common(p)
    p.set_defaults(func=cmd_correct)

    p = sub.add_parser("stats", help="progress per exercise and side, against your targets")
    _common(p, period=True)
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("report", help="an HTML report with charts (opens offline)")
    _common(p, period=True)
    p.add_argument("--out", "-o", default="repband-report.html", metavar="FILE",
                   help="the HTML file (default: repband-report.html)")
    p.add_argument("--png", metavar="DIR", default=None, help="also write every chart as a PNG into DIR")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("export", help="export as CSV, JSON or a FHIR R4 Bundle")
    _common(p, read=False, period=True)
    p.add_argument("--format", choices=["csv", "json", "fhir"], required=True)
    p.add_argument("--table", choices=["activity", "sessions", "sets", "reps", "holds", "days"], default="activity",
                   help="CSV only: which table (default activity: one row per rep and per hold)")
    p.add_argument("--out", "-o", default=None, metavar="FILE", help="write to FILE (default: standard output)")
    p.add_argument("--patient-reference", default=None, metavar="REF",
                   help="FHIR only: reference an existing patient (e.g. Patient/123) instead of including one")
    p.add_argument("--no-validate", action="store_true", help="FHIR only: skip the structure validation")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("setup", help="your leg, the band's placement and your daily targets")
    _common(p)
    p.add_argument("--leg", choices=["left", "right"], default=None)
    p.add_argument("--placement", choices=["thigh", "hip"], default=None)
    p.add_argument("--bridge-reps", type=int, default=None, metavar="N", help="glute bridges a day")
    p.add_argument("--clam-reps", type=int, default=None, metavar="N", help="clams a day on each side")
    p.add_argument("--stretch-holds", type=int, default=None, metavar="N",
                   help="hip flexor stretch holds a day on each side")
    p.add_argument("--hold-seconds", type=int, default=None, metavar="S", help="how long each hold should last")
    p.add_argument("--days-per-week", type=int, default=None, metavar="N")
    p.add_argument("--patient-name", default=None, help="for exports (empty to remove)")
    p.add_argument("--patient-id", default=None, help="the identifier your clinic uses, for FHIR exports")
    p.add_argument("--patient-system", default=None, metavar="URI", help="the system of --patient-id")
    p.add_argument("--non-interactive", "-y", action="store_true",
                   help="ask nothing: take the flags, keep the rest")
    p.set_defaults(func=cmd_setup)


def bare_command(parser: argparse.ArgumentParser, sub) -> None:
    """`repband` with no command shows the state screen (`repband --db PATH`, `--json`)."""
    sub.required = False
    parser.add_argument("--db", dest="top_db", metavar="PATH", default=None,
                        help="database file, for `repband` alone (commands take their own --db)")
    parser.add_argument("--config", dest="top_config", metavar="PATH", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--json", dest="top_json", action="store_true",
                        help="`repband` alone: print the state as JSON")
    parser.set_defaults(func=cmd_state)
