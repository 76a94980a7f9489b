"""History, stats, exports, setup and the bare `repband` state screen, on databases
filled through the real sync engine (sync_bench.build_history over the modelled link)."""
from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import json
import os
import stat

import pytest

from repband import commands_history as C
from repband import export as X
from repband import history as H
from repband.cli import main
from repband.db import Database


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Settings and the default database never touch the user's real folders."""
    monkeypatch.setenv("REPBAND_CONFIG", str(tmp_path / "cfg" / "settings.json"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))


@pytest.fixture(scope="module")
def month_db(tmp_path_factory):
    """30 days (90 sessions) ending today."""
    path = tmp_path_factory.mktemp("hist") / "month.db"
    with Database(path) as db:
        res = H.fill_demo(db, 90, seed=3)
        assert res["complete"]
    return str(path)


def _sql(path, q, args=()):
    with Database(path) as db:
        return db.conn.execute(q, args).fetchall()


def _run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


DEFAULTS = H.load_settings("/nonexistent/settings.json")


# ---------------------------------------------------------------------------- queries


def test_sessions_and_show_match_the_tables(month_db):
    with H.open_db(month_db) as db:
        ss = H.list_sessions(db)
        assert len(ss) == 90 == _sql(month_db, "SELECT count(*) FROM sessions")[0][0]
        assert [s["start_ms"] for s in ss] == sorted(s["start_ms"] for s in ss)
        assert H.list_sessions(db, limit=5) == ss[-5:]
        assert {tuple(s["exercises"]) for s in ss} == {("stretch",), ("bridge",), ("clam",)}
        assert sum(s["reps"] for s in ss) == _sql(month_db, "SELECT count(*) FROM reps WHERE partial = 0")[0][0]
        clams = H.list_sessions(db, exercise="clam")
        assert len(clams) == 30 and all(s["exercises"] == ["clam"] for s in clams)
        for s in ss[:6]:
            full = H.show_session(db, s["id"])
            n_reps = sum(len(st["reps"]) for st in full["set_list"]) + len(full["reps_outside_sets"])
            assert n_reps == s["reps"] + s["partial"]
            for st in full["set_list"]:  # every rep sits in the set of its exercise and side
                assert len(st["reps"]) == st["count"] + st["partial"]
                assert {(r["exercise"], r["side"]) for r in st["reps"]} == {(st["exercise"], st["side"])}
                assert sum(1 for r in st["reps"] if not r["partial"]) == st["count"]
            assert len(full["hold_list"]) == s["holds"]
        with pytest.raises(H.HistoryError, match="repband sessions"):
            H.show_session(db, 10_000)


def test_stats_match_sql(month_db):
    with H.open_db(month_db) as db:
        st = H.stats(db, DEFAULTS)
    q = lambda sql: _sql(month_db, sql)[0][0]  # noqa: E731
    assert st["totals"]["reps"] == q("SELECT count(*) FROM reps WHERE partial = 0")
    assert st["totals"]["partial"] == q("SELECT count(*) FROM reps WHERE partial = 1")
    assert st["clam_balance"]["left_reps"] == q("SELECT count(*) FROM reps WHERE exercise = 2 AND side = 1"
                                                " AND partial = 0")
    assert st["clam_balance"]["right_reps"] == q("SELECT count(*) FROM reps WHERE exercise = 2 AND side = 2"
                                                 " AND partial = 0")
    assert st["holds"]["left"]["holds"] == q("SELECT count(*) FROM holds WHERE side = 1")
    assert st["holds"]["left"]["at_target"] == q("SELECT count(*) FROM holds WHERE side = 1 AND duration_ms >= 30000")
    mean_rom = q("SELECT avg(rom_x10) / 10.0 FROM reps WHERE exercise = 1 AND partial = 0")
    bridge = next(x for x in st["exercises"] if x["exercise"] == "bridge")
    assert bridge["rom_deg"]["mean"] == pytest.approx(mean_rom, abs=0.06)
    assert bridge["sets"] == q("SELECT count(*) FROM sets WHERE exercise = 1")
    assert st["adherence"]["days"] == 30 and st["adherence"]["days_active"] == 30
    per_day = dict(_sql(month_db, "SELECT s.day, count(*) FROM reps r JOIN sessions s ON s.device_id = r.device_id"
                                  " AND s.session = r.session WHERE r.partial = 0 GROUP BY s.day"))
    assert {d["day"]: d["reps"] for d in st["days"]} == per_day
    assert st["today"]["day"] == dt.date.today().isoformat()
    for d in st["days"]:
        assert d["done"] == (d["targets_met"] == 5)
    # trends are computed from daily means: a clearly rising series gives a positive slope
    assert H._trend([("2026-01-0%d" % i, float(i)) for i in range(1, 8)])["per_week"] == pytest.approx(7.0)


def test_targets_drive_days_done_and_streaks(month_db):
    easy = copy.deepcopy(DEFAULTS)
    easy["targets"].update(bridge_reps=1, clam_reps=1, stretch_holds=1, hold_s=5)
    hard = copy.deepcopy(DEFAULTS)
    hard["targets"].update(bridge_reps=500)
    with H.open_db(month_db) as db:
        e = H.stats(db, easy)["adherence"]
        h = H.stats(db, hard)["adherence"]
    assert e["days_done"] == 30 and e["current"] == 30 and e["longest"] == 30 and e["rate"] == 1.0
    assert h["days_done"] == 0 and h["current"] == 0 and h["longest"] == 0


def test_streak_rules():
    def days(*done):
        return [{"day": d, "done": True} for d in done]
    # today not done yet: the streak that ended yesterday still counts
    assert H.streaks(days("2026-03-01", "2026-03-02", "2026-03-03"), "2026-03-04")["current"] == 3
    assert H.streaks(days("2026-03-01", "2026-03-02", "2026-03-04"), "2026-03-04")["current"] == 1
    s = H.streaks(days("2026-03-01", "2026-03-02", "2026-03-03", "2026-03-06"), "2026-03-09")
    assert s == {"current": 0, "longest": 3, "longest_ended": "2026-03-03"}
    # across a month end
    assert H.streaks(days("2026-02-27", "2026-02-28", "2026-03-01"), "2026-03-01")["longest"] == 3


def test_period_selection(month_db):
    with H.open_db(month_db) as db:
        since, until = H.period(7, db=db)
        st = H.stats(db, DEFAULTS, since, until)
        assert len(st["days"]) == 7 and st["until"] == dt.date.today().isoformat()
        assert len(H.list_sessions(db, since, until)) == 21
    with pytest.raises(H.HistoryError, match="YYYY-MM-DD"):
        H.period(since="last tuesday")


def test_approximate_times_are_flagged(tmp_path):
    # 16 sessions: the band rebooted before the 16th and its clock was never set again
    with Database(tmp_path / "approx.db") as db:
        H.fill_demo(db, 16, seed=2)
        ss = H.list_sessions(db)
        assert [s["time_approx"] for s in ss] == [False] * 15 + [True]
        bundle = X.export_fhir(db, DEFAULTS)
    notes = [e["resource"].get("note") for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert any(n and "Approximate" in n[0]["text"] for n in notes)
    assert not all(notes)


# ---------------------------------------------------------------------------- exports


def test_export_csv_tables(month_db, capsys, tmp_path):
    rc, out, _ = _run(capsys, "export", "--format", "csv", "--db", month_db)
    assert rc == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    n_reps = _sql(month_db, "SELECT count(*) FROM reps")[0][0]
    n_holds = _sql(month_db, "SELECT count(*) FROM holds")[0][0]
    assert len(rows) == n_reps + n_holds
    assert {r["type"] for r in rows} == {"rep", "hold"}
    first = next(r for r in rows if r["type"] == "rep")
    assert 1.5 <= float(first["rom_deg"]) <= 65 and first["time"][:4].isdigit() and first["time"][19] in "+-Z"
    out_file = tmp_path / "days.csv"
    rc, _, err = _run(capsys, "export", "--format", "csv", "--table", "days", "--db", month_db, "--out", str(out_file))
    assert rc == 0 and "Wrote" in err
    days = list(csv.DictReader(out_file.open()))
    assert len(days) == 30 and sum(int(d["reps"]) for d in days) == \
        _sql(month_db, "SELECT count(*) FROM reps WHERE partial = 0")[0][0]
    for table in X.TABLES:
        rc, out, _ = _run(capsys, "export", "--format", "csv", "--table", table, "--db", month_db)
        assert rc == 0 and len(out.splitlines()) > 1


def test_export_json(month_db, capsys):
    rc, out, _ = _run(capsys, "export", "--format", "json", "--db", month_db, "--days", "3")
    assert rc == 0
    doc = json.loads(out)
    assert doc["format"] == "repband-export" and len(doc["sessions"]) == 9 and len(doc["days"]) == 3
    reps = sum(len(st["reps"]) for s in doc["sessions"] for st in s["set_list"])
    assert reps == sum(s["reps"] + s["partial"] for s in doc["sessions"])


def test_export_fhir_is_valid_r4_and_complete(month_db, capsys, tmp_path):
    out_file = tmp_path / "bundle.json"
    rc, _, err = _run(capsys, "export", "--format", "fhir", "--db", month_db, "--out", str(out_file))
    assert rc == 0 and "validated" in err
    bundle = json.loads(out_file.read_text())
    assert X.validate_fhir(bundle) == len(bundle["entry"])
    # parse it again with the models, resource by resource
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.observation import Observation

    Bundle.model_validate(bundle)
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds.count("Patient") == 1 and kinds.count("Device") == 1
    obs = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    for o in obs:
        Observation.model_validate(o)
    n_sets = _sql(month_db, "SELECT count(*) FROM sets")[0][0]
    n_holds = _sql(month_db, "SELECT count(*) FROM holds")[0][0]
    assert len(obs) == n_sets + n_holds
    codes = {o["code"]["coding"][0]["code"] for o in obs}
    assert codes == {"glute-bridge-set", "clam-set", "hip-flexor-stretch-hold"}
    assert all(o["code"]["coding"][0]["system"] == X.CODE_SYSTEM for o in obs)
    # the reps in the bundle are those of the database
    assert sum(o["valueQuantity"]["value"] for o in obs if o["code"]["coding"][0]["code"] != "hip-flexor-stretch-hold") \
        == _sql(month_db, "SELECT sum(count) FROM sets")[0][0]
    left = [o for o in obs if any(c.get("valueCodeableConcept", {}).get("text") == "left" for c in o.get("component", []))]
    assert left and all(c["valueCodeableConcept"]["coding"][0]["code"] == "7771000"
                        for o in left for c in o["component"] if "valueCodeableConcept" in c)
    # references point inside the bundle; times carry an offset; re-export gives the same ids
    urls = {e["fullUrl"] for e in bundle["entry"]}
    assert all(o["subject"]["reference"] in urls and o["device"]["reference"] in urls for o in obs)
    assert all(o["effectivePeriod"]["start"][19] in "+-" for o in obs)
    with H.open_db(month_db) as db:
        again = X.export_fhir(db, DEFAULTS)
    assert [e["fullUrl"] for e in again["entry"]] == [e["fullUrl"] for e in bundle["entry"]]
    assert all(e["request"]["ifNoneExist"].startswith("identifier=") for e in bundle["entry"])
    # an existing patient instead of an included one
    with H.open_db(month_db) as db:
        ref = X.export_fhir(db, DEFAULTS, patient_reference="Patient/123")
    X.validate_fhir(ref)
    assert not any(e["resource"]["resourceType"] == "Patient" for e in ref["entry"])


@pytest.mark.parametrize("breakage, message", [
    (lambda o: o.__setitem__("status", "done"), "required binding"),
    (lambda o: o.pop("code"), "not valid FHIR"),
    (lambda o: o["valueQuantity"].__setitem__("value", "many"), "not valid FHIR"),
    (lambda o: o.__setitem__("reps", 3), "not valid FHIR"),
    (lambda o: o["subject"].__setitem__("reference", "urn:uuid:00000000-0000-0000-0000-000000000000"), "points at no"),
])
def test_fhir_validation_catches_broken_bundles(month_db, breakage, message):
    with H.open_db(month_db) as db:
        bundle = X.export_fhir(db, DEFAULTS, since=dt.date.today().isoformat())
    X.validate_fhir(bundle)
    obs = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation")
    breakage(obs)
    with pytest.raises(ValueError, match=message):
        X.validate_fhir(bundle)


# ---------------------------------------------------------------------------- commands


def test_read_commands_json(month_db, capsys):
    rc, out, _ = _run(capsys, "sessions", "--db", month_db, "--json")
    assert rc == 0 and json.loads(out)["total"] == 90 and len(json.loads(out)["sessions"]) == 90
    rc, out, _ = _run(capsys, "sessions", "--db", month_db)
    assert rc == 0 and "20 of 90 sessions" in out
    sid = json.loads(_run(capsys, "sessions", "--db", month_db, "--json", "--limit", "1")[1])["sessions"][0]["id"]
    rc, out, _ = _run(capsys, "show", str(sid), "--db", month_db, "--json")
    assert rc == 0 and json.loads(out)["id"] == sid
    rc, out, _ = _run(capsys, "show", str(sid), "--db", month_db)
    assert rc == 0 and f"Session {sid}" in out
    rc, out, _ = _run(capsys, "stats", "--db", month_db, "--json", "--days", "14")
    st = json.loads(out)
    assert rc == 0 and st["adherence"]["days"] == 14 and st["clam_balance"]["verdict"]
    rc, out, _ = _run(capsys, "stats", "--db", month_db)
    assert rc == 0 and "clam balance" in out and "hip flexor stretch left" in out and "streak" in out


def test_errors_say_what_to_do(tmp_path, month_db, capsys):
    missing = tmp_path / "nope.db"
    for argv in (["sessions"], ["stats"], ["show", "1"], ["report"], ["export", "--format", "csv"]):
        rc, out, err = _run(capsys, *argv, "--db", str(missing))
        assert rc == 2 and "repband sync" in err and "--db" in err, argv
        assert not missing.exists()  # reading never creates a database
    rc, _, err = _run(capsys, "show", "99999", "--db", month_db)
    assert rc == 2 and "repband sessions" in err
    rc, _, err = _run(capsys, "stats", "--db", month_db, "--since", "yesterday")
    assert rc == 2 and "YYYY-MM-DD" in err
    bad = tmp_path / "not-a-db.db"
    bad.write_bytes(b"hello, this is not sqlite" * 100)
    rc, _, err = _run(capsys, "sessions", "--db", str(bad))
    assert rc == 2 and "not a usable database" in err
    cfg = tmp_path / "broken.json"
    cfg.write_text("{nope")
    rc, _, err = _run(capsys, "stats", "--db", month_db, "--config", str(cfg))
    assert rc == 2 and "repband setup" in err


def test_setup_non_interactive_and_file_mode(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(C, "_is_tty", lambda: False)
    os.umask(0o022)
    cfg = tmp_path / "cfg" / "settings.json"
    rc, out, _ = _run(capsys, "setup", "--leg", "left", "--placement", "hip", "--bridge-reps", "12",
                      "--clam-reps", "10", "--stretch-holds", "3", "--hold-seconds", "40", "--days-per-week", "5",
                      "--patient-id", "MRN-7", "--config", str(cfg))
    assert rc == 0 and "Saved" in out and "Next:" in out
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    assert stat.S_IMODE(cfg.parent.stat().st_mode) == 0o700
    s = H.load_settings(cfg)
    assert s["configured"] and s["leg"] == "left" and s["placement"] == "hip"
    assert s["targets"] == {"bridge_reps": 12, "clam_reps": 10, "stretch_holds": 3, "hold_s": 40, "days_per_week": 5}
    assert s["patient"] == {"id": "MRN-7"}
    # flags not given keep their values; out-of-range values are refused
    rc, out, _ = _run(capsys, "setup", "-y", "--clam-reps", "20", "--config", str(cfg), "--json")
    assert rc == 0 and json.loads(out)["targets"]["clam_reps"] == 20 and json.loads(out)["leg"] == "left"
    rc, _, err = _run(capsys, "setup", "-y", "--days-per-week", "9", "--config", str(cfg))
    assert rc == 2 and "--days-per-week" in err


def test_setup_interactive(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(C, "_is_tty", lambda: True)
    answers = iter(["l", "", "twenty", "20", "", "", "45", "6"])
    asked = []

    def fake_input(prompt):
        asked.append(prompt)
        return next(answers)
    monkeypatch.setattr("builtins.input", fake_input)
    cfg = tmp_path / "settings.json"
    rc, out, _ = _run(capsys, "setup", "--config", str(cfg))
    assert rc == 0 and "physical therapist" in out and "try again" in out
    s = H.load_settings(cfg)
    assert s["leg"] == "left" and s["placement"] == "thigh"
    assert s["targets"] == {"bridge_reps": 20, "clam_reps": 15, "stretch_holds": 2, "hold_s": 45, "days_per_week": 6}
    assert any("leg" in a for a in asked) and any("thigh" in a for a in asked)


def test_bare_command_state(tmp_path, month_db, capsys):
    # a first run: nothing set up, no database
    rc, out, _ = _run(capsys)
    assert rc == 0 and "repband setup" in out and "none yet" in out and "Next:" in out
    rc, out, _ = _run(capsys, "--json")
    st = json.loads(out)
    assert rc == 0 and not st["database"]["exists"] and not st["settings"]["configured"]
    assert st["next_steps"][0].endswith("`repband setup`")
    assert not (tmp_path / "xdg-data" / "repband" / "repband.db").exists()
    # with a database and settings
    _run(capsys, "setup", "-y", "--bridge-reps", "10")
    rc, out, _ = _run(capsys, "--db", month_db, "--json")
    st = json.loads(out)
    today = dt.date.today().isoformat()
    assert st["today"]["day"] == today and st["devices"][0]["address"] == "AA:BB:CC:DD:EE:01"
    n_today = _sql(month_db, "SELECT count(*) FROM reps r JOIN sessions s ON s.device_id = r.device_id AND"
                             " s.session = r.session WHERE s.day = ? AND r.exercise = 1 AND r.partial = 0", (today,))[0][0]
    assert st["today"]["bridge_reps"] == n_today
    rc, out, _ = _run(capsys, "--db", month_db)
    assert rc == 0 and f"bridges {n_today}/10" in out and "last sync" in out and "Next:" in out


def test_next_steps_order():
    t = dict(H.DEFAULT_TARGETS)
    row = {"bridge_reps": 15, "clam_left": 3, "clam_right": 15, "long_holds_left": 2, "long_holds_right": 1}
    assert H.next_steps(row, t) == ["hip flexor stretch, right: 1/2 holds of 30 s", "clams, left side: 3/15 reps"]
    assert len(H.next_steps(None, t)) == 5


def test_report_command_writes_html_and_pngs(month_db, capsys, tmp_path):
    out = tmp_path / "report.html"
    rc, text, _ = _run(capsys, "report", "--db", month_db, "--out", str(out), "--png", str(tmp_path / "png"),
                       "--json")
    assert rc == 0
    info = json.loads(text)
    page = out.read_text()
    assert info["totals"]["reps"] == _sql(month_db, "SELECT count(*) FROM reps WHERE partial = 0")[0][0]
    for name in info["charts"]:
        png = tmp_path / "png" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
        assert f'data-chart="{name}"' in page
    # self-contained: nothing is fetched from anywhere
    import re

    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', page)
    assert "<link" not in page and "<script src" not in page and "@import" not in page


@pytest.mark.parametrize("n_days", [1, 30])
def test_report_calendar_days_are_squares(n_days):
    """A first day (or a first month) in the calendar: each day a square, not a bar
    stretched across the chart."""
    from repband import report as RP

    end = dt.date(2026, 12, 4)
    days = [{"day": (end - dt.timedelta(days=i)).isoformat(), "active": True, "done": i % 2 == 0, "reps": 30,
             "targets_met": 3, "targets_total": 5} for i in reversed(range(n_days))]
    plt = RP._mpl()
    fig = RP.chart_calendar(plt, {"days": days})
    fig.canvas.draw()
    cells = [p.get_window_extent() for p in fig.axes[0].patches if (p.get_gid() or "").startswith("cal-")]
    plt.close(fig)
    assert len(cells) == n_days
    assert all(abs(c.width - c.height) <= 0.02 * c.height for c in cells), [(c.width, c.height) for c in cells[:3]]


def test_report_outside_the_data_says_which_period_has_data(month_db, capsys, tmp_path):
    rc, _, err = _run(capsys, "report", "--db", month_db, "--since", "2099-01-01", "--out", str(tmp_path / "r.html"))
    assert rc == 2 and "holds sessions from" in err and "--days" in err
    assert not (tmp_path / "r.html").exists()


def test_a_corrected_count_is_kept_beside_the_bands(tmp_path, capsys):
    """A person who sees a wrong count corrects it: the band's figure stays in the
    database, the person's is used (and marked) in show, stats, the report and exports."""
    path = tmp_path / "c.db"
    with Database(path) as db:
        H.fill_demo(db, 9, seed=4)
        sid = next(s["id"] for s in H.list_sessions(db) if "clam" in s["exercises"])
        st = H.show_session(db, sid)["set_list"][0]
        before = H.stats(db, DEFAULTS)["totals"]
    band, mine = st["count"], st["count"] + 3
    rc, out, _ = _run(capsys, "correct", str(sid), "1", str(mine), "--note", "counted aloud", "--db", str(path))
    assert rc == 0 and f"{mine} full reps, corrected by you; the band's count ({band}) is kept" in out
    rc, out, _ = _run(capsys, "show", str(sid), "--db", str(path))
    assert f"set 1, clam {st['side']}: {mine} reps (corrected by you; the band counted {band}: counted aloud)" in out
    assert _sql(path, "SELECT count FROM sets WHERE seq = ?", (st["seq"],))[0][0] == band  # the band's figure
    rc, out, _ = _run(capsys, "stats", "--db", str(path), "--json")
    tot = json.loads(out)["totals"]
    assert (tot["reps"], tot["band_reps"], tot["corrected_sets"]) == (before["reps"] + 3, before["reps"], 1)
    assert tot[f"clam_{st['side']}"] == before[f"clam_{st['side']}"] + 3
    rc, out, _ = _run(capsys, "stats", "--db", str(path))
    assert f"1 set corrected by you, the band counted" in out
    rc, out, _ = _run(capsys, "export", "--format", "csv", "--table", "sets", "--db", str(path))
    row = next(r for r in csv.DictReader(io.StringIO(out)) if r["seq"] == str(st["seq"]))
    assert (row["count"], row["band_count"], row["corrected"], row["correction_note"]) == (
        str(mine), str(band), "1", "counted aloud")
    rc, out, _ = _run(capsys, "export", "--format", "fhir", "--db", str(path))
    obs = next(e["resource"] for e in json.loads(out)["entry"]
               if e["resource"]["identifier"][0]["value"].endswith(f"/{st['seq']}"))
    assert obs["valueQuantity"]["value"] == mine and obs["status"] == "amended"
    assert any(f"the band counted {band}" in n["text"] for n in obs["note"])
    rc, out, _ = _run(capsys, "report", "--db", str(path), "--out", str(tmp_path / "r.html"), "--json")
    assert json.loads(out)["totals"]["reps"] == before["reps"] + 3
    with Database(path) as db:
        db.rebuild_decoded()  # decoded again from the records: the correction stays
        assert H.stats(db, DEFAULTS)["totals"]["reps"] == before["reps"] + 3
    rc, out, _ = _run(capsys, "correct", str(sid), "1", "--undo", "--db", str(path))
    assert rc == 0 and "back to the band's count" in out
    rc, out, _ = _run(capsys, "stats", "--db", str(path), "--json")
    assert json.loads(out)["totals"]["reps"] == before["reps"]
    # mistakes: one line, what to give instead
    rc, _, err = _run(capsys, "correct", str(sid), "9", "12", "--db", str(path))
    assert rc == 2 and "give a set number from 1 to" in err and err.count("\n") == 1
    rc, _, err = _run(capsys, "correct", str(sid), "1", "-4", "--db", str(path))
    assert rc == 2 and "from 0 to 500" in err


def test_health_data_files_are_written_0600_whatever_the_umask(month_db, capsys, tmp_path):
    """Issue 11: report --out, --png and export --out were written with the umask's mode
    (0644, and 0666 under umask 0)."""
    import stat as _stat

    old = os.umask(0)
    try:
        loose = tmp_path / "old.csv"
        loose.write_text("x")
        os.chmod(loose, 0o666)  # a file of ours from before: tightened when rewritten
        assert _run(capsys, "report", "--db", month_db, "--out", str(tmp_path / "r.html"),
                    "--png", str(tmp_path / "png"))[0] == 0
        assert _run(capsys, "export", "--format", "csv", "--db", month_db, "--out", str(loose))[0] == 0
        assert _run(capsys, "export", "--format", "fhir", "--db", month_db, "--out", str(tmp_path / "f.json"))[0] == 0
    finally:
        os.umask(old)
    written = [tmp_path / "r.html", loose, tmp_path / "f.json", *(tmp_path / "png").iterdir()]
    assert len(written) > 4
    for p in written:
        assert _stat.S_IMODE(p.stat().st_mode) == 0o600, p
    assert _stat.S_IMODE((tmp_path / "png").stat().st_mode) == 0o700  # the folder it made


def test_every_way_the_band_calibrates_reads_as_words():
    """Each calibration method the band can send (repcore.events CAL_*) is named by the
    database and told in words by `repband show`, and the record format accepts it."""
    from repcore import events as E
    from repcore import records as R
    from repband.db import CAL_METHODS

    codes = sorted(v for k, v in vars(E).items() if k.startswith("CAL_"))
    assert codes == sorted(CAL_METHODS)
    lo, hi = R.RANGES[R.K_CALIBRATED]
    assert (lo, hi) == (codes[0], codes[-1])
    for code in codes:
        text = H.event_text("calibrated", code)
        assert text.startswith("calibrated ") and "method" not in text, text
