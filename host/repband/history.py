"""History queries over the session database: sessions, one session in detail, and
statistics per exercise and side (left/right clam balance, range-of-motion and tempo
trends, stretch hold times, adherence: days done and streaks) against the targets the
user set with ``repband setup`` (``repband.settings``-style JSON file, see
``load_settings``).

Everything here reads the tables of docs/database.md and returns plain dicts and lists
(JSON-ready). Conventions:

- A session, and everything in it, counts on its ``sessions.day`` (the host's local
  date of the session's start, as the database stores it).
- "reps" are full reps (``partial = 0``); partial reps are counted apart and never
  towards a target.
- Angles are degrees (the database stores tenths), durations seconds.
- A day is *done* when every target of that day is met: bridge reps, clam reps on each
  side, and on each side the number of stretch holds that lasted at least the target
  hold time.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import stat
import sys
import time
from pathlib import Path
from statistics import median

from repband.db import (CAL_METHODS, END_REASONS, EXERCISES, FAULTS, MODES, PLACEMENTS, SIDES, Database,
                        DatabaseError, locate)

APP_NAME = "repband"
SETTINGS_FILENAME = "settings.json"
SETTINGS_VERSION = 1

DEFAULT_TARGETS = {
    "bridge_reps": 15,  # full glute bridges a day
    "clam_reps": 15,  # full clams a day, on EACH side
    "stretch_holds": 2,  # hip flexor stretch holds a day on EACH side ...
    "hold_s": 30,  # ... each lasting at least this long
    "days_per_week": 7,  # routine days a week the adherence is measured against
}
DEFAULT_SETTINGS = {"version": SETTINGS_VERSION, "leg": "right", "placement": "thigh",
                    "targets": dict(DEFAULT_TARGETS), "patient": {}}

EXERCISE_LABEL = {"bridge": "glute bridge", "clam": "clam", "stretch": "hip flexor stretch"}
# What the band can see from the hip, said wherever a person chooses the hip.
HIP_NOTE = ("from the hip the band counts glute bridges; clams only when your pelvis rolls back with "
            "each one (many people's does not), and stretch holds only in stretch mode "
            "(`repband config --mode stretch`). On the thigh it counts all three")
# What a person does when the band cannot tell the exercise (it is not calibrated).
CALIBRATE_HINT = ("walk a few steps before you start (or press calibrate on the band and stand "
                  "still for 3 s), so it knows how it sits on your leg")
# At the hip a walk or a stand shows only up: which way the band faces comes from its
# nominal place or from a set of bridges.
HIP_CALIBRATE_HINT = ("stand still for 3 s before you lie down, with the band over the side of your "
                      "pelvis, arrow down (worn elsewhere round the waist it learns which way it "
                      "faces from a set of bridges)")


def calibrate_hint(placement: str | None) -> str:
    """What to do so that the band can name such a set next time, where it is worn."""
    return HIP_CALIBRATE_HINT if placement == "hip" else CALIBRATE_HINT


class HistoryError(Exception):
    """A problem the user can fix; the message says how."""


# ---------------------------------------------------------------------------- words


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 day', '3 days', '0 holds'."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def streak_text(current: int, longest: int) -> str:
    """The streak of days with every target met, in words."""
    if not longest:
        return "no day with every target met yet"
    if not current:
        return f"no current streak (longest {plural(longest, 'day')})"
    return f"a streak of {plural(current, 'day')} (longest {plural(longest, 'day')})"


def event_text(kind: str, code: int, placement: str | None = None) -> str:
    """A session event as a person reads it (events table: kind and its code)."""
    if kind == "calibrated":
        how = {"standing": "while you stood", "user": "when asked (button)",
               "flexion": "from your first movements", "walking": "while you walked",
               "set": "from the shape of your set of bridges or clams"}.get(
            CAL_METHODS.get(code, ""), f"method {code}")
        return f"calibrated {how}"
    if kind == "fault" and FAULTS.get(code) == "uncalibrated":
        return f"a set began that the band could not name yet: {calibrate_hint(placement)}"
    if kind == "fault":
        what = {"bad_sample": "a bad sensor reading", "gap": "a gap in the sensor data"}
        return f"sensor fault: {what.get(FAULTS.get(code, ''), f'code {code}')}"
    return f"{kind} ({code})"


# ---------------------------------------------------------------------------- settings


def settings_path() -> Path:
    """``$REPBAND_CONFIG`` or ``<user config dir>/repband/settings.json``."""
    env = os.environ.get("REPBAND_CONFIG")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / SETTINGS_FILENAME


def load_settings(path: str | os.PathLike | None = None) -> dict:
    """The settings (defaults filled in). ``settings["configured"]`` says whether the
    file exists (i.e. ``repband setup`` ran)."""
    p = Path(path) if path else settings_path()
    out = json.loads(json.dumps(DEFAULT_SETTINGS))
    out["configured"] = False
    out["path"] = str(p)
    if not p.exists():
        return out
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise HistoryError(f"{p}: unreadable settings ({exc}); run `repband setup` to write them again") \
            from None
    if not isinstance(data, dict):
        raise HistoryError(f"{p}: settings are not a JSON object; run `repband setup` to write them again")
    for k in ("leg", "placement"):
        if data.get(k) is not None:
            out[k] = data[k]
    for k, v in (data.get("targets") or {}).items():
        if k in DEFAULT_TARGETS and isinstance(v, (int, float)) and v >= 0:
            out["targets"][k] = v
    if isinstance(data.get("patient"), dict):
        out["patient"] = {k: str(v) for k, v in data["patient"].items() if v}
    out["configured"] = True
    return out


def save_settings(settings: dict, path: str | os.PathLike | None = None) -> Path:
    """Write the settings file with mode 0600 (folder 0700), atomically."""
    p = Path(path) if path else settings_path()
    if not p.parent.exists():
        p.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    data = {"version": SETTINGS_VERSION, "leg": settings["leg"], "placement": settings["placement"],
            "targets": {k: settings["targets"][k] for k in DEFAULT_TARGETS},
            "patient": settings.get("patient") or {}}
    tmp = p.with_name(p.name + ".tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, p)
    if stat.S_IMODE(os.stat(p).st_mode) != 0o600:  # pragma: no cover - odd filesystems
        os.chmod(p, 0o600)
    return p


# ---------------------------------------------------------------------------- database


def open_db(path: str | os.PathLike | None = None) -> Database:
    """Open an existing database for reading (repband.db.locate: a missing file is
    `NoDatabase`, saying how to get one; reading never creates a database)."""
    p = locate(path)
    try:
        db = Database(p)
    except DatabaseError as exc:
        raise HistoryError(str(exc)) from None
    if db.damaged:  # readable, but not all of it may be there
        print(f"repband: {db.damage_note()}", file=sys.stderr)
    return db


def _local(ms: int | None) -> str | None:
    if ms is None:
        return None
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000.0))


def _hm(ms: int | None) -> str:
    return "--:--" if ms is None else time.strftime("%H:%M", time.localtime(ms / 1000.0))


def _deg(x10) -> float | None:
    return None if x10 is None else round(x10 / 10.0, 1)


def _s(ms) -> float | None:
    return None if ms is None else round(ms / 1000.0, 1)


# A session's corrections (SQL for list_sessions): the reps they add (corrected count
# minus the band's; may be negative) and how many sets were corrected.
_CORRECTED = ("(SELECT coalesce(sum(k.count - x.count), 0) FROM corrections k JOIN sets x ON x.device_id = k.device_id"
              " AND x.seq = k.seq WHERE {where}), (SELECT count(*) FROM corrections k JOIN sets x"
              " ON x.device_id = k.device_id AND x.seq = k.seq WHERE {where})")


def _day_filter(since: str | None, until: str | None, col: str = "s.day") -> tuple[str, list]:
    cond, args = [], []
    if since:
        cond.append(f"{col} >= ?")
        args.append(since)
    if until:
        cond.append(f"{col} <= ?")
        args.append(until)
    return (" AND ".join(cond) if cond else "1"), args


def parse_day(text: str | None, what: str = "date") -> str | None:
    if text is None:
        return None
    try:
        return _dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise HistoryError(f"{what} {text!r} is not a date: write it as YYYY-MM-DD") from None


def today() -> str:
    return _dt.date.today().isoformat()


def period(days: int | None = None, since: str | None = None, until: str | None = None,
           db: Database | None = None) -> tuple[str | None, str | None]:
    """(since, until) days. `days`: the last N days up to `until` (default today, or the
    last day with data when that is earlier: a history that stopped is still shown)."""
    since, until = parse_day(since, "--since"), parse_day(until, "--until")
    if days is not None:
        if days < 1:
            raise HistoryError("--days must be at least 1")
        end = until or today()
        if db is not None and until is None:
            last = db.conn.execute("SELECT max(day) FROM sessions").fetchone()[0]
            if last and last < end:
                end = last
        since = (_dt.date.fromisoformat(end) - _dt.timedelta(days=days - 1)).isoformat()
        until = end
    if since and until and since > until:
        raise HistoryError(f"--since {since} is after --until {until}: give the earlier day first")
    return since, until


# ---------------------------------------------------------------------------- sessions


def _session_exercises(db: Database, dev: int, sess: int) -> list[str]:
    rows = db.conn.execute(
        "SELECT DISTINCT exercise FROM reps WHERE device_id = ? AND session = ?"
        " UNION SELECT DISTINCT exercise FROM holds WHERE device_id = ? AND session = ?",
        (dev, sess, dev, sess)).fetchall()
    return sorted(EXERCISES.get(r[0], str(r[0])) for r in rows)


def list_sessions(db: Database, since: str | None = None, until: str | None = None,
                  exercise: str | None = None, limit: int | None = None) -> list[dict]:
    """Sessions, oldest first (the newest `limit` when given), with what they hold."""
    cond, args = _day_filter(since, until)
    rows = db.conn.execute(
        "SELECT s.id, s.device_id, d.address, d.name, s.session, s.day, s.start_ms, s.end_ms,"
        " s.t_start_ms, s.t_end_ms, s.time_approx, s.mode, s.placement, s.side, s.end_reason,"
        " s.target_reps, s.target_hold_s,"
        " (SELECT count(*) FROM reps r WHERE r.device_id = s.device_id AND r.session = s.session"
        "   AND r.partial = 0),"
        " (SELECT count(*) FROM reps r WHERE r.device_id = s.device_id AND r.session = s.session"
        "   AND r.partial = 1),"
        " (SELECT count(*) FROM sets x WHERE x.device_id = s.device_id AND x.session = s.session"
        "   AND x.exercise != 0),"  # exercise 0: a set the band could not count
        " (SELECT count(*) FROM holds h WHERE h.device_id = s.device_id AND h.session = s.session),"
        " (SELECT coalesce(sum(duration_ms), 0) FROM holds h WHERE h.device_id = s.device_id"
        "   AND h.session = s.session),"
        f" {_CORRECTED.format(where='x.device_id = s.device_id AND x.session = s.session')}"
        f" FROM sessions s JOIN devices d ON d.id = s.device_id WHERE {cond}"
        " ORDER BY s.start_ms IS NULL, s.start_ms, s.id", args).fetchall()
    out = []
    for r in rows:
        (sid, dev, addr, name, sess, day, start, end, t0, t1, approx, mode, placement, side, reason,
         treps, thold, reps, partial, nsets, holds, hold_ms, delta, corrected) = r
        exs = _session_exercises(db, dev, sess)
        if exercise and exercise not in exs:
            continue
        dur = None
        if t0 is not None and t1 is not None:
            dur = round((t1 - t0) / 1000.0, 1)
        out.append({
            "id": sid, "device_id": dev, "device": name or addr, "address": addr, "session": sess,
            "day": day, "start": _local(start), "end": _local(end), "start_ms": start, "end_ms": end,
            "time_approx": bool(approx), "duration_s": dur,
            "mode": MODES.get(mode) if mode is not None else None,
            "placement": PLACEMENTS.get(placement) if placement is not None else None,
            "leg": SIDES.get(side) if side is not None else None,
            "end_reason": END_REASONS.get(reason) if reason is not None else None,
            "complete": t1 is not None, "exercises": exs, "sets": nsets, "reps": reps + delta,
            "band_reps": reps, "corrected_sets": corrected,
            "partial": partial, "holds": holds, "hold_s": round(hold_ms / 1000.0, 1),
            "target_reps": treps, "target_hold_s": thold,
        })
    if limit is not None and limit >= 0:
        out = out[-limit:] if limit else []
    return out


def show_session(db: Database, session_id: int) -> dict:
    """One session (by ``sessions.id``, the ID `repband sessions` shows) in full: its
    sets with their reps, holds, calibration and fault events."""
    row = db.conn.execute("SELECT device_id, session, day FROM sessions WHERE id = ?",
                          (session_id,)).fetchone()
    if row is None:
        n = db.conn.execute("SELECT min(id), max(id) FROM sessions").fetchone()
        rng = f" (IDs here run {n[0]}-{n[1]})" if n[0] is not None else " (the database holds no sessions)"
        raise HistoryError(f"no session with ID {session_id}{rng}: `repband sessions` lists them")
    dev, sess, day = row
    base = [s for s in list_sessions(db, day, day) if s["id"] == session_id]
    info = base[0] if base else {"id": session_id}
    c = db.conn.execute
    reps = [{"seq": r[0], "time": _local(r[1]), "wall_ms": r[1], "time_approx": bool(r[2]),
             "exercise": EXERCISES.get(r[3]), "side": SIDES.get(r[4]), "partial": bool(r[5]),
             "rom_deg": _deg(r[6]), "up_s": _s(r[7]), "top_s": _s(r[8]), "down_s": _s(r[9]),
             "period_s": _s(r[7] + r[8] + r[9])}
            for r in c("SELECT seq, wall_ms, time_approx, exercise, side, partial, rom_x10, up_ms, top_ms,"
                       " down_ms FROM reps WHERE device_id = ? AND session = ? ORDER BY seq", (dev, sess))]
    sets = []
    for no, r in enumerate(c(
            "SELECT x.seq, x.wall_ms, x.end_ms, x.time_approx, x.exercise, x.side, x.count, x.n_partial,"
            " x.mean_rom_x10, x.period_ms, x.t_ms, x.duration_ms, k.count, k.note, k.made_ms FROM sets x"
            " LEFT JOIN corrections k ON k.device_id = x.device_id AND k.seq = x.seq"
            " WHERE x.device_id = ? AND x.session = ? ORDER BY x.t_ms, x.seq", (dev, sess)), 1):
        ex, side = EXERCISES.get(r[4]), SIDES.get(r[5])
        fix = None if r[12] is None else {"count": r[12], "note": r[13], "made": _local(r[14])}
        sets.append({"no": no, "seq": r[0], "start": _local(r[1]), "end": _local(r[2]), "time_approx": bool(r[3]),
                     "exercise": ex, "side": side, "count": r[6] if fix is None else fix["count"],
                     "band_count": r[6], "corrected": fix, "partial": r[7],
                     "mean_rom_deg": _deg(r[8]), "period_s": _s(r[9]), "duration_s": _s(r[11]),
                     "t_ms": r[10], "t_end_ms": r[10] + r[11]})
    # a set's record follows its reps: a set takes the (count + partial) latest reps of
    # its exercise and side before it that no earlier set took
    taken: set[int] = set()
    for st in sorted(sets, key=lambda x: x["seq"]):
        cand = [r for r in reps if r["seq"] < st["seq"] and r["seq"] not in taken
                and r["exercise"] == st["exercise"] and r["side"] == st["side"]]
        n = st["band_count"] + st["partial"]
        mine = cand[-n:] if n else []
        taken.update(r["seq"] for r in mine)
        st["reps"] = mine
    for st in sets:
        st.pop("t_ms", None)
        st.pop("t_end_ms", None)
    loose = [r for r in reps if r["seq"] not in taken]
    holds = [{"seq": r[0], "start": _local(r[1]), "time_approx": bool(r[2]), "exercise": EXERCISES.get(r[3]),
              "side": SIDES.get(r[4]), "duration_s": _s(r[5]), "angle_deg": _deg(r[6])}
             for r in c("SELECT seq, wall_ms, time_approx, exercise, side, duration_ms, angle_x10 FROM holds"
                        " WHERE device_id = ? AND session = ? ORDER BY seq", (dev, sess))]
    events = [{"seq": r[0], "time": _local(r[1]), "kind": r[2], "code": r[3]}
              for r in c("SELECT seq, wall_ms, kind, code FROM events WHERE device_id = ? AND session = ?"
                         " ORDER BY seq", (dev, sess))]
    info = dict(info)
    lost = [{"first_seq": a, "last_seq": b, "why": why} for a, b, why in db.session_lost(dev, sess)]
    info.update({"set_list": sets, "reps_outside_sets": loose, "hold_list": holds, "events": events,
                 "lost": lost})
    return info


# ---------------------------------------------------------------------------- corrections


def correct_set(db: Database, session_id: int, set_no: int, count: int | None, note: str | None = None) -> dict:
    """Keep the person's count of full reps for set `set_no` (as `show` numbers them) of
    session `session_id` beside the band's (count None: drop the correction). Returns
    the set as show_session gives it now."""
    sets = show_session(db, session_id)["set_list"]
    if not 1 <= set_no <= len(sets):
        raise HistoryError(f"session {session_id} has {plural(len(sets), 'set')}" + (
            f": give a set number from 1 to {len(sets)} (`repband show {session_id}`)" if sets else ""))
    if count is not None and not 0 <= count <= 500:
        raise HistoryError(f"{count} reps: give the number of full reps you did, from 0 to 500")
    st = sets[set_no - 1]
    dev = db.conn.execute("SELECT device_id FROM sessions WHERE id = ?", (session_id,)).fetchone()[0]
    if count is None:
        db.conn.execute("DELETE FROM corrections WHERE device_id = ? AND seq = ?", (dev, st["seq"]))
    else:
        db.conn.execute("INSERT INTO corrections VALUES (?,?,?,?,?) ON CONFLICT(device_id, seq) DO UPDATE"
                        " SET count = excluded.count, note = excluded.note, made_ms = excluded.made_ms",
                        (dev, st["seq"], count, note or None, int(time.time() * 1000)))
    return show_session(db, session_id)["set_list"][set_no - 1]


# ---------------------------------------------------------------------------- statistics


def _trend(points: list[tuple[str, float]]) -> dict:
    """Least-squares slope per week of (day, value) points, and first/last week means."""
    pts = [(_dt.date.fromisoformat(d).toordinal(), v) for d, v in points if d and v is not None]
    out = {"n_days": len(pts), "span_days": 0, "per_week": None, "first_week": None, "last_week": None}
    if not pts:
        return out
    pts.sort()
    x0, x1 = pts[0][0], pts[-1][0]
    out["span_days"] = x1 - x0 + 1
    first = [v for x, v in pts if x - x0 < 7]
    last = [v for x, v in pts if x1 - x < 7]
    out["first_week"] = round(sum(first) / len(first), 2)
    out["last_week"] = round(sum(last) / len(last), 2)
    if len(pts) >= 2 and x1 > x0:
        n = len(pts)
        mx = sum(x for x, _ in pts) / n
        my = sum(v for _, v in pts) / n
        sxx = sum((x - mx) ** 2 for x, _ in pts)
        sxy = sum((x - mx) * (v - my) for x, v in pts)
        out["per_week"] = round(7 * sxy / sxx, 2) if sxx else None
    return out


def _rep_rows(db: Database, since, until) -> list[tuple]:
    cond, args = _day_filter(since, until, "s.day")
    return db.conn.execute(
        "SELECT s.day, r.exercise, r.side, r.partial, r.rom_x10, r.up_ms, r.top_ms, r.down_ms"
        " FROM reps r JOIN sessions s ON s.device_id = r.device_id AND s.session = r.session"
        f" WHERE {cond} ORDER BY r.wall_ms, r.seq", args).fetchall()


def _hold_rows(db: Database, since, until) -> list[tuple]:
    cond, args = _day_filter(since, until, "s.day")
    return db.conn.execute(
        "SELECT s.day, h.exercise, h.side, h.duration_ms, h.angle_x10, h.wall_ms, h.time_approx"
        " FROM holds h JOIN sessions s ON s.device_id = h.device_id AND s.session = h.session"
        f" WHERE {cond} ORDER BY h.wall_ms, h.seq", args).fetchall()


def _corrections(db: Database, since, until) -> list[tuple[str, str, int]]:
    """(day, "bridge" | "clam_left" | "clam_right", reps added) of each corrected set."""
    cond, args = _day_filter(since, until, "s.day")
    out = []
    for d, ex, side, delta in db.conn.execute(
            "SELECT s.day, x.exercise, x.side, k.count - x.count FROM corrections k"
            " JOIN sets x ON x.device_id = k.device_id AND x.seq = k.seq"
            " JOIN sessions s ON s.device_id = x.device_id AND s.session = x.session"
            f" WHERE s.day IS NOT NULL AND {cond}", args):
        name = EXERCISES.get(ex)
        out.append((d, name if name == "bridge" else f"{name}_{SIDES.get(side)}", delta))
    return out


def daily(db: Database, settings: dict, since: str | None = None, until: str | None = None,
          fill: bool = True) -> list[dict]:
    """Per-day totals and whether each target was met, every day of the period (days
    without sessions too, when `fill`), oldest first."""
    t = settings["targets"]
    days: dict[str, dict] = {}

    def day(d):
        if d not in days:
            days[d] = {"day": d, "sessions": 0, "bridge_reps": 0, "clam_left": 0, "clam_right": 0,
                       "partial": 0, "holds_left": 0, "holds_right": 0, "long_holds_left": 0,
                       "long_holds_right": 0, "hold_s": 0.0}
        return days[d]

    cond, args = _day_filter(since, until, "day")
    for d, n in db.conn.execute(f"SELECT day, count(*) FROM sessions WHERE day IS NOT NULL AND {cond}"
                                " GROUP BY day", args):
        day(d)["sessions"] = n
    for d, ex, side, partial, *_ in _rep_rows(db, since, until):
        if d is None:
            continue
        row = day(d)
        if partial:
            row["partial"] += 1
        elif EXERCISES.get(ex) == "bridge":
            row["bridge_reps"] += 1
        elif EXERCISES.get(ex) == "clam" and SIDES.get(side) in ("left", "right"):
            row["clam_" + SIDES[side]] += 1
    for d, key, delta in _corrections(db, since, until):
        if key in ("bridge", "clam_left", "clam_right"):
            day(d)[key + ("_reps" if key == "bridge" else "")] += delta
    for d, ex, side, dur, *_ in _hold_rows(db, since, until):
        if d is None or SIDES.get(side) not in ("left", "right"):
            continue
        row = day(d)
        row["holds_" + SIDES[side]] += 1
        row["hold_s"] = round(row["hold_s"] + dur / 1000.0, 1)
        if dur >= t["hold_s"] * 1000:
            row["long_holds_" + SIDES[side]] += 1
    if fill and days:
        lo = _dt.date.fromisoformat(since or min(days))
        hi = _dt.date.fromisoformat(until or max(days))
        d = lo
        while d <= hi:
            day(d.isoformat())
            d += _dt.timedelta(days=1)
    out = []
    for d in sorted(days):
        row = days[d]
        row["reps"] = row["bridge_reps"] + row["clam_left"] + row["clam_right"]
        met = {
            "bridge": row["bridge_reps"] >= t["bridge_reps"],
            "clam_left": row["clam_left"] >= t["clam_reps"],
            "clam_right": row["clam_right"] >= t["clam_reps"],
            "stretch_left": row["long_holds_left"] >= t["stretch_holds"],
            "stretch_right": row["long_holds_right"] >= t["stretch_holds"],
        }
        row["met"] = met
        row["targets_met"] = sum(met.values())
        row["targets_total"] = len(met)
        row["done"] = all(met.values())
        row["active"] = row["sessions"] > 0 or row["reps"] > 0 or row["holds_left"] + row["holds_right"] > 0
        out.append(row)
    return out


def streaks(days: list[dict], until: str | None = None) -> dict:
    """Current and longest runs of consecutive done days. The current streak ends today
    (`until`), or yesterday while today is not done yet."""
    done = {d["day"] for d in days if d["done"]}
    longest = run = 0
    best_end = None
    prev = None
    for d in sorted(done):
        x = _dt.date.fromisoformat(d)
        run = run + 1 if prev is not None and (x - prev).days == 1 else 1
        prev = x
        if run > longest:
            longest, best_end = run, d
    end = _dt.date.fromisoformat(until or today())
    if end.isoformat() not in done:
        end -= _dt.timedelta(days=1)
    cur = 0
    while end.isoformat() in done:
        cur += 1
        end -= _dt.timedelta(days=1)
    return {"current": cur, "longest": longest, "longest_ended": best_end}


def _new_entry() -> dict:
    return {"reps": 0, "partial": 0, "rom": [], "period": [], "up": [], "top": [], "down": [], "rom_by_day": {},
            "period_by_day": {}, "days": set(), "corrected": 0, "added": 0}


def _summ(vals: list[float]) -> dict:
    if not vals:
        return {"n": 0, "mean": None, "median": None, "min": None, "max": None}
    return {"n": len(vals), "mean": round(sum(vals) / len(vals), 1), "median": round(median(vals), 1),
            "min": round(min(vals), 1), "max": round(max(vals), 1)}


def stats(db: Database, settings: dict, since: str | None = None, until: str | None = None,
          today_day: str | None = None) -> dict:
    """Everything `repband stats` and the report show, as one dict."""
    t = settings["targets"]
    reps = _rep_rows(db, since, until)
    holds = _hold_rows(db, since, until)
    per: dict[tuple[str, str], dict] = {}
    for d, ex, side, partial, rom, up, top, down in reps:
        key = (EXERCISES.get(ex, str(ex)), SIDES.get(side, str(side)))
        e = per.setdefault(key, _new_entry())
        if partial:
            e["partial"] += 1
            continue
        e["reps"] += 1
        e["days"].add(d)
        e["rom"].append(rom / 10.0)
        per_s = (up + top + down) / 1000.0
        e["period"].append(per_s)
        e["up"].append(up / 1000.0)
        e["top"].append(top / 1000.0)
        e["down"].append(down / 1000.0)
        e["rom_by_day"].setdefault(d, []).append(rom / 10.0)
        e["period_by_day"].setdefault(d, []).append(per_s)
    for d, key, delta in _corrections(db, since, until):  # the person's counts, beside the band's
        ex, _, side = key.partition("_")
        e = per.setdefault((ex, side or "none"), _new_entry())
        e["corrected"] += 1
        e["added"] += delta
    cond, args = _day_filter(since, until, "s.day")
    nsets = {}
    for ex, side, n in db.conn.execute(
            "SELECT x.exercise, x.side, count(*) FROM sets x JOIN sessions s ON s.device_id = x.device_id"
            f" AND s.session = x.session WHERE {cond} AND x.exercise != 0 GROUP BY x.exercise, x.side", args):
        nsets[(EXERCISES.get(ex), SIDES.get(side))] = n
    exercises = []
    for (ex, side), e in sorted(per.items()):
        rom_days = [(d, sum(v) / len(v)) for d, v in e["rom_by_day"].items()]
        per_days = [(d, sum(v) / len(v)) for d, v in e["period_by_day"].items()]
        exercises.append({
            "exercise": ex, "side": side, "sets": nsets.get((ex, side), 0), "reps": e["reps"] + e["added"],
            "band_reps": e["reps"], "corrected_sets": e["corrected"], "partial": e["partial"],
            "days": len(e["days"]),
            "rom_deg": _summ(e["rom"]), "rom_trend_deg": _trend(rom_days),
            "tempo_s": {"period": _summ(e["period"]), "up": _summ(e["up"]), "top": _summ(e["top"]),
                        "down": _summ(e["down"])},
            "tempo_trend_s": _trend(per_days),
        })
    by = {(x["exercise"], x["side"]): x for x in exercises}
    cl, cr = by.get(("clam", "left")), by.get(("clam", "right"))
    l_n, r_n = (cl or {}).get("reps", 0), (cr or {}).get("reps", 0)
    balance = {
        "left_reps": l_n, "right_reps": r_n,
        "left_share": round(l_n / (l_n + r_n), 3) if l_n + r_n else None,
        "left_rom_deg": cl["rom_deg"]["mean"] if cl else None,
        "right_rom_deg": cr["rom_deg"]["mean"] if cr else None,
    }
    if balance["left_share"] is not None:
        diff = l_n - r_n
        balance["verdict"] = ("balanced" if abs(diff) <= 0.1 * max(l_n, r_n)
                              else f"{'left' if diff > 0 else 'right'} side ahead by {abs(diff)} reps")
    else:
        balance["verdict"] = "no clams yet"
    hold_sides = {}
    for side in ("left", "right"):
        hs = [(d, dur / 1000.0, ang / 10.0) for d, ex, sd, dur, ang, *_ in holds if SIDES.get(sd) == side]
        by_day: dict[str, list] = {}
        for d, dur, _a in hs:
            by_day.setdefault(d, []).append(dur)
        hold_sides[side] = {
            "holds": len(hs), "total_s": round(sum(h[1] for h in hs), 1),
            "duration_s": _summ([h[1] for h in hs]), "angle_deg": _summ([h[2] for h in hs]),
            "at_target": sum(1 for h in hs if h[1] >= t["hold_s"]),
            "trend_s": _trend([(d, sum(v) / len(v)) for d, v in by_day.items()]),
        }
    days = daily(db, settings, since, until)
    active = [d for d in days if d["active"]]
    done = [d for d in days if d["done"]]
    n_days = len(days)
    expected = n_days * t["days_per_week"] / 7.0 if n_days else 0
    td = today_day or today()
    today_row = next((d for d in days if d["day"] == td), None)
    if today_row is None:
        today_row = next((d for d in daily(db, settings, td, td, fill=True) if d["day"] == td), None) \
            if (since is None or since <= td) else None
    return {
        "since": days[0]["day"] if days else since, "until": days[-1]["day"] if days else until,
        "targets": t,
        "totals": {"sessions": sum(d["sessions"] for d in days),
                   "reps": sum(x["reps"] for x in exercises),
                   "band_reps": sum(x["band_reps"] for x in exercises),
                   "corrected_sets": sum(x["corrected_sets"] for x in exercises),
                   "partial": sum(x["partial"] for x in exercises),
                   "bridge_reps": sum(d["bridge_reps"] for d in days),
                   "clam_left": l_n, "clam_right": r_n,
                   "holds": sum(h["holds"] for h in hold_sides.values()),
                   "hold_s": round(sum(h["total_s"] for h in hold_sides.values()), 1)},
        "exercises": exercises,
        "clam_balance": balance,
        "holds": hold_sides,
        "adherence": {"days": n_days, "days_active": len(active), "days_done": len(done),
                      "rate": round(len(done) / expected, 3) if expected else None,
                      **streaks(days, until if until and until < td else td)},
        "today": today_row,
        "days": days,
    }


def next_steps(today_row: dict | None, targets: dict) -> list[str]:
    """What is left to do today, in the routine's order."""
    if today_row is None:
        today_row = {"bridge_reps": 0, "clam_left": 0, "clam_right": 0, "long_holds_left": 0,
                     "long_holds_right": 0}
    out = []
    for side in ("left", "right"):
        n = today_row[f"long_holds_{side}"]
        if n < targets["stretch_holds"]:
            out.append(f"hip flexor stretch, {side}: {n}/{targets['stretch_holds']} holds of "
                       f"{targets['hold_s']} s")
    if today_row["bridge_reps"] < targets["bridge_reps"]:
        out.append(f"glute bridges: {today_row['bridge_reps']}/{targets['bridge_reps']} reps")
    for side in ("left", "right"):
        n = today_row[f"clam_{side}"]
        if n < targets["clam_reps"]:
            out.append(f"clams, {side} side: {n}/{targets['clam_reps']} reps")
    return out


# ---------------------------------------------------------------------------- demo data


def fill_demo(db: Database, n_sessions: int = 90, seed: int = 1, end_day: str | None = None,
              address: str = "AA:BB:CC:DD:EE:01", name: str = "repband demo") -> dict:
    """Sync a realistic history (``sync_bench.build_history``: 3 sessions a day) ending on
    `end_day` (default today) into `db` through the real sync engine over the modelled
    link. For tests and demonstrations; returns the sync result."""
    import asyncio

    from repband.db import DeviceInfo
    from repband.sync import sync
    from repband.sync_bench import ModelLink, build_history

    n_days = (n_sessions + 2) // 3
    end = _dt.date.fromisoformat(end_day) if end_day else _dt.date.today()
    start = end - _dt.timedelta(days=n_days - 1)
    # build_history puts sessions at 08:00-18:30 UTC of each day from start_epoch: start
    # at local midnight so that they fall on the intended local days
    # build_history puts the sessions at about 08:00, 13:00 and 18:00 after start_epoch
    # of each day: local midnight makes them fall on the intended local days
    start_epoch = int(time.mktime(start.timetuple()))
    recs = build_history(n_sessions, seed, start_epoch=start_epoch)
    link = ModelLink(recs)
    res = asyncio.run(sync(link, db, DeviceInfo(address, name)))
    return res.as_dict()
