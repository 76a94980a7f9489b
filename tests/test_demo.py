"""`repband demo` on the virtual band: a routine, live counts, a sync into the demo's
own database and the summary from it; `--days N`: a person's first weeks as real days
ending today (repband.demo_month), streamed a day at a time; `--chaos`: faults, and
the record accounting (repband.demo)."""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from repband import cli
from repband import demo_month as M
from repband.db import Database
from repband.demo import account, run_days

ROOT = Path(__file__).resolve().parents[1]


def test_demo_syncs_the_routine_and_summarises_it_from_the_database(capsys, tmp_path):
    db = tmp_path / "demo.db"
    assert cli.main(["demo", "--seed", "1", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    for phrase in ("reps counted:", "set 1:", "against the simulator's truth", "live on the host:",
                   "in the database", "synced", f"Explore it: repband stats --db {db}"):
        assert phrase in out
    line = next(x for x in out.splitlines() if x.strip().startswith("sync:"))
    # every record the band wrote is in the database
    m = re.search(r"\((\d+) written by the band, (\d+) in the database\)", line)
    assert m and m.group(1) == m.group(2) and int(m.group(1)) > 20
    assert "(F1 1.000)" in out
    assert db.is_file() and (db.stat().st_mode & 0o777) == 0o600
    with Database(db) as d:  # the session just happened, on the day it started (local time)
        day, start_ms, end_ms = d.conn.execute("SELECT day, start_ms, end_ms FROM sessions").fetchone()
    assert day == dt.datetime.fromtimestamp(start_ms / 1000).date().isoformat()
    assert 0 <= time.time() - end_ms / 1000 < 3600  # a run just after midnight: yesterday's session
    # what the person reads next: one session (of three exercises) and one hold, in words and columns
    assert cli.main(["--db", str(db)]) == 0
    assert re.search(r"\(1 session, \d+ reps, 1 hold\)", capsys.readouterr().out)
    assert cli.main(["sessions", "--db", str(db)]) == 0
    header, row = capsys.readouterr().out.splitlines()[:2]
    assert "bridge, clam, stretch" in row and len(row) == len(header), (header, row)  # right-aligned to "holds"
    assert cli.main(["export", "--format", "json", "--db", str(db), "--out", str(tmp_path / "e.json")]) == 0
    assert capsys.readouterr().err == f"Wrote {tmp_path / 'e.json'}: 1 session\n"
    assert cli.main(["report", "--db", str(db), "--out", str(tmp_path / "r.html")]) == 0
    assert ">right (1 hold)<" in (tmp_path / "r.html").read_text()  # the holds chart's legend


# -- the plan of a first month ------------------------------------------------------------


def test_a_first_month_plan():
    end = dt.date(2026, 12, 4)
    days = M.plan(30, end, seed=1, leg="right")
    assert [d.date for d in days] == [end - dt.timedelta(days=29 - i) for i in range(30)]
    kinds = [d.kind for d in days]
    assert kinds.count("rest") == 4 and len({d.date.weekday() for d in days if d.kind == "rest"}) == 1
    assert kinds.count("missed") == 2 and kinds[0] == "routine"
    assert kinds.count("routine") + kinds.count("short") == 24
    # the band starts each day on the leg it ended on; a routine day moves it once
    on = "right"
    for d in days:
        assert d.first_leg == on
        if d.active:
            assert d.legs == ((on, M.OTHER[on]) if d.kind == "routine" else (on,))
            on = d.legs[-1]
    assert M.plan(30, end, seed=1, leg="right") == days  # deterministic


def test_range_and_holds_grow_over_the_month():
    days = [d for d in M.plan(30, dt.date(2026, 12, 4), seed=1) if d.kind == "routine"]
    first = M.day_motion(days[0], seed=1)[1]
    last = M.day_motion(days[-1], seed=1)[1]
    assert min(last["hold_s"]) > max(first["hold_s"])  # ~20 s at first, ~40 s after a month
    assert first["clam_left"] and first["clam_right"] and first["bridge"] >= 18


# -- real days on the virtual band --------------------------------------------------------


@pytest.fixture
def zone(monkeypatch):
    """Run in another time zone (the process's local time, as SQLite and time.localtime
    see it)."""
    def use(name):
        monkeypatch.setenv("TZ", name)
        time.tzset()
    yield use
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("tz, end", [("Europe/Berlin", dt.date(2026, 3, 30)),  # summer time from the 29th
                                     ("Pacific/Kiritimati", dt.date(2026, 1, 2))])  # UTC+14: a day ahead of UTC
def test_days_are_real_days_ending_on_the_given_day(tmp_path, zone, tz, end):
    zone(tz)
    db = tmp_path / "days.db"
    res = run_days(4, seed=2, end=end, db_path=db)
    plan = M.plan(4, end, seed=2, leg="right")
    assert res["lost"] == res["duplicates"] == res["pending_on_band"] == 0
    assert (res["since"], res["until"]) == (plan[0].date.isoformat(), end.isoformat())
    with Database(db) as d:
        rows = d.conn.execute("SELECT day, start_ms, side, time_approx FROM sessions ORDER BY start_ms").fetchall()
        clams = dict(d.conn.execute("SELECT side, count(*) FROM reps WHERE exercise = 2 AND partial = 0"
                                    " GROUP BY side").fetchall())
    active = [p for p in plan if p.active]
    assert sorted({r[0] for r in rows}) == [p.date.isoformat() for p in active]  # each day on its own date
    for p in active:
        day_rows = [r for r in rows if r[0] == p.date.isoformat()]
        legs = {1: "left", 2: "right"}
        assert [legs[r[2]] for r in day_rows] == list(p.legs)  # the double press moved the band
        first = time.localtime(day_rows[0][1] / 1000)  # local time of the first session: the plan's
        assert 0 <= (first.tm_hour * 60 + first.tm_min) - p.minute <= 5
    assert not any(r[3] for r in rows)  # the host set the clock: exact times
    assert clams.get(1, 0) > 20 and clams.get(2, 0) > 20  # both sides' clams counted
    truth = res["truth"]
    assert res["totals"]["reps"] >= 0.95 * (truth["bridge"] + truth["clam_left"] + truth["clam_right"])


def test_chaos_days_lose_and_duplicate_nothing(capsys, tmp_path):
    assert cli.main(["demo", "--days", "2", "--chaos", "7", "--json", "--db", str(tmp_path / "c.db")]) == 0
    res = json.loads(capsys.readouterr().out)
    assert {"device_records", "db_records", "lost", "duplicates"} <= set(res)
    assert res["lost"] == 0 and res["duplicates"] == 0
    assert res["device_records"] == res["db_records"] > 40
    f = res["stats"]
    assert f["sync_attempts"] > f["syncs_complete"] or f["reboots"] or f["link_faults"]
    assert res["chaos_seed"] == 7


def test_days_without_chaos_have_no_faults(capsys, tmp_path):
    assert cli.main(["demo", "--days", "1", "--end", "2026-05-01", "--db", str(tmp_path / "d.db")]) == 0
    out = capsys.readouterr().out
    assert "with faults" not in out and "seed None" not in out
    assert "1 days" not in out and "lost 0, duplicates 0" in out
    assert "Explore it: repband stats --db" in out


def test_ctrl_c_keeps_the_days_synced_so_far(tmp_path):
    db = tmp_path / "month.db"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "host"), str(ROOT / "firmware")]),
               XDG_DATA_HOME=str(tmp_path / "data"))
    proc = subprocess.Popen([sys.executable, "-m", "repband.cli", "demo", "--days", "30", "--db", str(db)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 240
        synced = 0
        while time.monotonic() < deadline and synced < 2:  # wait for two days in the database
            time.sleep(0.5)
            if db.exists():
                with Database(db) as d:
                    synced = d.conn.execute("SELECT count(DISTINCT day) FROM sessions").fetchone()[0]
        assert synced >= 2, proc.stderr.read() if proc.poll() is not None else "no day synced in time"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert err.startswith("repband: interrupted after ") and err.count("\n") == 1 and "Traceback" not in err
    assert "Task" not in err and f"{db} holds the days synced so far" in err
    with Database(db) as d:
        assert d.conn.execute("SELECT count(DISTINCT day) FROM sessions").fetchone()[0] >= 2


def _rec(seq, t):
    from repcore import records as R

    return R.encode_event((1, t, 1, 0, 0, 231, 800, 2000, 900), 0, 1, seq)


def test_account_finds_lost_and_duplicated_records():
    led = {s: _rec(s, 1000 * s) for s in range(1, 6)}
    assert account(led, dict(led), {}) == {"device_records": 5, "db_records": 5, "lost": 0,
                                           "duplicates": 0, "pending_on_band": 0}
    rows = {s: b for s, b in led.items() if s != 3}
    assert account(led, rows, {})["lost"] == 1  # deleted on the band, never stored
    assert account(led, rows, {3: led[3]})["lost"] == 0  # still on the band: pending
    rows = dict(led)
    rows[6] = _rec(6, 3000)  # the band's record 3 again under another seq
    r = account(led, rows, {})
    assert r["duplicates"] == 2  # a row the band never wrote, and the same content twice
    rows = dict(led)
    rows[2] = _rec(2, 99)
    assert account(led, rows, {})["lost"] == 1  # stored with other bytes
