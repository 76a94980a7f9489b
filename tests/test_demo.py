"""`repband demo` on the virtual band: a routine, live counts, a sync into a fresh
database and the summary from it; `--days/--chaos/--json`: days of use with faults and
the record accounting (repband.demo)."""
from __future__ import annotations

import json

import pytest

from repband import cli
from repband.demo import account, run_chaos


def test_demo_syncs_the_routine_and_summarises_it_from_the_database(capsys, tmp_path):
    db = tmp_path / "demo.db"
    assert cli.main(["demo", "--seed", "1", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    for phrase in ("reps counted:", "set 1:", "against the simulator's truth", "live on the host:",
                   "in the database", "synced"):
        assert phrase in out
    line = next(x for x in out.splitlines() if x.strip().startswith("sync:"))
    # every record the band wrote is in the database
    import re

    m = re.search(r"\((\d+) written by the band, (\d+) in the database\)", line)
    assert m and m.group(1) == m.group(2) and int(m.group(1)) > 20
    assert "(F1 1.000)" in out
    assert db.is_file() and (db.stat().st_mode & 0o777) == 0o600


def test_chaos_days_lose_and_duplicate_nothing(capsys):
    assert cli.main(["demo", "--days", "2", "--chaos", "7", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert {"device_records", "db_records", "lost", "duplicates"} <= set(res)
    assert res["lost"] == 0 and res["duplicates"] == 0
    assert res["device_records"] == res["db_records"] > 40
    f = res["faults"]
    assert f["sync_attempts"] > f["syncs_complete"] or f["reboots"] or f["link_faults"]


def test_days_without_faults():
    res = run_chaos(1, seed=3, faults=False)
    assert res["lost"] == 0 and res["duplicates"] == 0 and res["device_records"] == res["db_records"]
    assert res["stats"]["reboots"] == 0 and res["stats"]["link_faults"] == 0


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
