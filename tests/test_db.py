"""The session database (repband.db): file mode, location, migrations (from empty and
from version 1 with data), idempotent stores, conflicts, contiguous last_seq, wall
clock times (exact, estimated, corrected) and local days, the `repband db` command."""
from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
import time
from pathlib import Path

import pytest

from repband import cli
from repband import db as dbm
from repband.db import ConflictError, Database, DatabaseError, DeviceInfo, decode_record
from repband.sync_bench import build_history
from repcore import events as E
from repcore import records as R

EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z


def items(recs):
    return [(r, decode_record(r)) for r in recs]


def rec(tup, seq, boot=1, epoch=EPOCH, session=0):
    return R.encode_event(tup, session, boot, seq, epoch)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


# ---------------------------------------------------------------------------- the file


def test_a_new_database_opened_by_two_processes_at_once_gets_one_schema(tmp_path, monkeypatch):
    """Two repband processes open a new database at once (the demo writing it, `repband
    show` reading it): the second read the schema version before the first committed its
    migrations, then waited for the write lock, and created the tables again ("table
    devices already exists"). A migration applied meanwhile is skipped."""
    path = tmp_path / "new.db"
    real = dbm.schema_version
    reads = []

    def version_then_the_other_process_migrates(conn):
        v = real(conn)
        reads.append(v)
        if len(reads) == 2:  # migrate's first read, before it takes the write lock
            monkeypatch.setattr(dbm, "schema_version", real)
            with Database(path):  # the other process: opens, migrates, commits
                pass
        return v

    monkeypatch.setattr(dbm, "schema_version", version_then_the_other_process_migrates)
    with Database(path) as d:
        assert reads == [0, 0] and d.version == dbm.SCHEMA_VERSION
        assert real(d.conn) == dbm.SCHEMA_VERSION
        assert [r[0] for r in d.conn.execute("SELECT version FROM schema_migrations ORDER BY version")] == \
            [v for v, _, _ in dbm.MIGRATIONS]


def test_file_created_0600_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        path = tmp_path / "sub" / "dir" / "r.db"
        with Database(path) as db:
            did = db.upsert_device("A")
            db.set_base(did, 0)
            db.store(did, items(build_history(3)))
            for suffix in ("", "-wal", "-shm"):
                p = str(path) + suffix
                if os.path.exists(p):
                    assert mode(p) == 0o600, p
        assert mode(path) == 0o600
        assert mode(path.parent) == 0o700
    finally:
        os.umask(old)


def test_db_summary_counts_in_words(tmp_path, capsys):
    """'1 session, 1 hold', never '1 sessions ... 1 holds' (issue 10's texts)."""
    path = tmp_path / "one.db"
    with Database(path) as db:
        did = db.upsert_device("A")
        db.set_base(did, 0)
        db.store(did, items(build_history(1)))
    assert cli.main(["db", "--db", str(path)]) == 0
    out = capsys.readouterr().out
    assert "1 session," in out, out
    assert not re.search(r"\b1 (records|sessions|sets|reps|holds)\b", out), out


def test_existing_loose_file_is_tightened(tmp_path):
    path = tmp_path / "r.db"
    Database(path).close()
    os.chmod(path, 0o644)
    Database(path).close()
    assert mode(path) == 0o600


def test_an_existing_empty_file_gets_0600_before_any_data(tmp_path, capsys):
    """Issue 11 (files 0600): an empty file made beforehand (`touch`, a file manager)
    was taken as new but kept its 0644, and the database or a backup wrote health data
    into it readable by everyone."""
    src = tmp_path / "r.db"
    with Database(src) as db:
        did = db.upsert_device("A")
        db.set_base(did, 0)
        db.store(did, items(build_history(3)))
    for path in (tmp_path / "new.db", tmp_path / "backup.db"):
        path.touch()
        os.chmod(path, 0o644)
    Database(tmp_path / "new.db").close()
    assert cli.main(["db", "--db", str(src), "--backup", str(tmp_path / "backup.db")]) == 0
    assert mode(tmp_path / "new.db") == 0o600 and mode(tmp_path / "backup.db") == 0o600
    with Database(tmp_path / "backup.db") as b:
        assert b.record_count() == len(build_history(3))


def test_default_location_is_the_user_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path))
    p = dbm.default_path()
    assert p.name == "repband.db" and "repband" in p.parent.name
    with Database() as db:
        assert db.path == p and p.exists() and mode(p) == 0o600


def test_not_a_repband_database(tmp_path):
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE x (a)")
    con.commit()
    con.close()
    with pytest.raises(DatabaseError, match="not a repband database"):
        Database(path)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(DatabaseError, match="not a usable database .not an SQLite file"):
        Database(garbage)


@pytest.mark.parametrize("user_version", [0, 2])
def test_another_applications_file_is_left_untouched(tmp_path, user_version):
    """Issue 11: pointed at another application's SQLite file, repband switched it to
    WAL mode and chmodded it to 0600 before refusing it."""
    path = tmp_path / "photos.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE albums (id INTEGER PRIMARY KEY, name TEXT)")
    con.execute("INSERT INTO albums (name) VALUES ('summer')")
    con.execute(f"PRAGMA user_version = {user_version}")
    con.commit()
    con.close()
    os.chmod(path, 0o644)
    before = path.read_bytes()
    with pytest.raises(DatabaseError, match="not a repband database .another application"):
        Database(path)
    assert path.read_bytes() == before and mode(path) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos.sqlite"]  # no -wal, no -shm


def test_another_users_file_is_one_clear_line(tmp_path, capsys):
    """Issue 11: a database owned by another user gave a traceback on `db` and `sessions`."""
    path = tmp_path / "r.db"
    Database(path).close()
    os.chown(path, 65534, 65534)
    with pytest.raises(DatabaseError, match="belongs to another user"):
        Database(path)
    for argv in (["db", "--db", str(path)], ["sessions", "--db", str(path)]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("repband: ") and "belongs to another user" in err and len(err.splitlines()) == 1


def _synced(path):
    """A database holding 30 sessions, all in the file itself (WAL checkpointed)."""
    with Database(path) as db:
        did = db.upsert_device(DeviceInfo("AA:BB", "band"))
        db.set_base(did, 0)
        db.store(did, items(build_history(30)))
        db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def _damage(path):
    """Overwrite one page in the middle of a database (bit rot, a bad sector)."""
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.seek((size // 4096 // 2) * 4096)
        f.write(bytes(range(256)) * 16)


def test_damaged_database_is_not_written(tmp_path, capsys):
    """Issue 11: a database failing integrity_check was used without a word, and sync
    wrote into it."""
    path = _synced(tmp_path / "r.db")
    _damage(path)
    with Database(path) as db:
        assert db.damaged
        with pytest.raises(DatabaseError, match="is damaged .* nothing was written.*repband db --restore"):
            db.upsert_device(DeviceInfo("AA:BB", "band"))
    assert cli.main(["db", "--db", str(path)]) in (0, 1)  # 1 when not even the summary can be read
    out = capsys.readouterr().out
    assert "DAMAGED" in out and "repband db --check" in out
    assert cli.main(["db", "--db", str(path), "--check"]) == 1
    assert "integrity_check" in capsys.readouterr().out


def test_damaged_database_is_read_with_a_warning(tmp_path, capsys):
    """Issue 11: a database failing its check was used with no warning: `sessions`,
    `stats` and `export` showed what they could still read as if it were all."""
    path = _synced(tmp_path / "r.db")
    _damage(path)
    for argv in (["sessions"], ["stats"], ["export", "--format", "csv", "--out", str(tmp_path / "x.csv")]):
        cli.main([*argv, "--db", str(path)])
        err = capsys.readouterr().err
        assert "is damaged" in err and "may be incomplete" in err and "repband db --restore" in err, (argv, err)


def test_damaged_schema_says_how_to_recover_and_can_be_restored(tmp_path, capsys):
    """Issue 11: a page of the schema overwritten (nothing can be read) gave "not a
    usable database (database disk image is malformed)" with no word on how to recover,
    and `repband db --check` / `--restore` refused the file as well."""
    path = _synced(tmp_path / "r.db")
    with Database(path) as db:
        db.backup(tmp_path / "backup.db")
    with open(path, "r+b") as f:  # page 1 past the file header: the schema's root
        f.seek(100)
        f.write(bytes(range(256)) * 15)
    with pytest.raises(DatabaseError, match="is damaged .*sync again.*repband db --restore"):
        Database(path)
    for argv in (["sessions", "--db", str(path)], ["sync", "--device", "virtual", "--db", str(path)]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert "is damaged" in err and "repband db --restore" in err and len(err.splitlines()) == 1, err
    assert cli.main(["db", "--db", str(path), "--check"]) == 1
    assert "integrity_check" in capsys.readouterr().out
    assert cli.main(["db", "--db", str(path)]) == 1
    assert "DAMAGED" in capsys.readouterr().out
    assert cli.main(["db", "--db", str(path), "--restore", str(tmp_path / "backup.db")]) == 0
    with Database(path) as db:
        assert not db.damaged and db.record_count() > 0


@pytest.fixture
def shared_dir():
    """A folder user nobody can reach (pytest's own is root's alone)."""
    import shutil
    import tempfile
    d = tempfile.mkdtemp(prefix="repband-nobody-", dir="/tmp")
    os.chmod(d, 0o755)
    yield Path(d)
    shutil.rmtree(d)


def _as_nobody(base, code, *args):
    """Run python `code` as user nobody (the tests run as root, who may write anything),
    on a copy of repband's sources under `base`, with the system's Python 3."""
    import shutil
    import subprocess
    from repband import firmware
    python = "/usr/bin/python3"
    assert os.path.exists(python), "the system Python 3 is missing: apt-get install python3"
    src = base / "src"
    shutil.copytree(os.path.dirname(dbm.__file__), src / "repband", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(os.path.join(firmware.firmware_root(), "repcore"), src / "repcore",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for d, _dirs, files in os.walk(src):
        os.chmod(d, 0o755)
        for f in files:
            os.chmod(os.path.join(d, f), 0o644)
    return subprocess.run([python, "-c", code, *args], capture_output=True, text=True, user=65534,
                          group=65534, cwd="/", env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"})


def test_read_only_database_one_clear_line(shared_dir):
    """Issue 11: a read-only database made `sync` fail with a traceback from upsert_device."""
    path = shared_dir / "data" / "r.db"
    with Database(path) as db:
        did = db.upsert_device(DeviceInfo("AA:BB", "band"))
        db.set_base(did, 0)
        db.store(did, items(build_history(3)))
    for p in [path.parent, *path.parent.iterdir()]:
        os.chown(p, 65534, 65534)
    os.chmod(path.parent, 0o755)
    os.chmod(path, 0o400)
    code = ("import sys\n"
            "from repband.db import Database, DatabaseError, DeviceInfo\n"
            "db = Database(sys.argv[1])\n"
            "print(db.summary()['sessions'])\n"
            "try:\n"
            "    db.upsert_device(DeviceInfo('AA:BB'))\n"
            "except DatabaseError as e:\n"
            "    print('refused:', e)\n")
    r = _as_nobody(shared_dir, code, str(path))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "3" and "read-only for you: nothing was written" in lines[1] and "chmod u+w" in lines[1]


def test_backup_while_in_use_and_restore(tmp_path, capsys):
    """`repband db --backup FILE`: a consistent copy, 0600, also while a sync writes;
    `--restore FILE` puts it back through SQLite (never a copy over a WAL database)."""
    path = tmp_path / "r.db"
    old = os.umask(0)
    try:
        with Database(path) as db:
            did = db.upsert_device(DeviceInfo("AA:BB", "band"))
            db.set_base(did, 0)
            hist = build_history(30)
            db.store(did, items(hist[:300]))
            writer = Database(path)  # a sync in progress, holding uncommitted records
            writer.conn.execute("BEGIN IMMEDIATE")
            writer.conn.execute("INSERT INTO devices (address, first_seen_ms, last_seen_ms) VALUES ('X', 0, 0)")
            backup = tmp_path / "backup.db"
            assert cli.main(["db", "--db", str(path), "--backup", str(backup)]) == 0
            writer.conn.execute("ROLLBACK")
            writer.close()
    finally:
        os.umask(old)
    assert mode(backup) == 0o600 and "backup.db" in capsys.readouterr().out
    with Database(backup) as b:
        assert b.record_count() == 300 and not b.damaged and b.device_id("X") is None
    with Database(path) as db:
        db.store(did, items(hist[300:]))
        assert db.record_count() == len(hist)
    assert cli.main(["db", "--db", str(path), "--restore", str(backup)]) == 0
    with Database(path) as db:
        assert db.record_count() == 300 and db.conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with pytest.raises(DatabaseError):
        Database(tmp_path / "r.db").restore(tmp_path / "nothing.db")


def test_newer_schema_refused(tmp_path):
    path = tmp_path / "r.db"
    Database(path).close()
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version = {dbm.SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(DatabaseError, match="newer than this repband"):
        Database(path)


# ---------------------------------------------------------------------------- migrations


def _tables(con):
    return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_migrate_from_empty(tmp_path):
    with Database(tmp_path / "r.db") as db:
        assert dbm.schema_version(db.conn) == dbm.SCHEMA_VERSION == len(dbm.MIGRATIONS)
        assert {"devices", "raw_records", "sync_state", "boots", "sessions", "sets", "reps", "holds",
                "events", "gaps", "schema_migrations"} <= _tables(db.conn)
        assert [r[0] for r in db.conn.execute("SELECT version FROM schema_migrations ORDER BY version")] == \
            [v for v, _, _ in dbm.MIGRATIONS]
    # reopening runs nothing again
    with Database(tmp_path / "r.db") as db:
        assert db.conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(dbm.MIGRATIONS)


def test_migrate_from_v1_decodes_the_stored_records(tmp_path):
    """A version-1 database (raw records only) gets its sessions, sets, reps and holds
    from the bytes it kept, identical to a database that stored them at version 2."""
    recs = build_history(6)
    path = tmp_path / "v1.db"
    with Database(path, target_version=1) as db:
        assert dbm.schema_version(db.conn) == 1 and "reps" not in _tables(db.conn)
        con = db.conn
        con.execute("INSERT INTO devices (id, address, first_seen_ms, last_seen_ms) VALUES (1, 'A', 0, 0)")
        con.execute("INSERT INTO sync_state (device_id, first_seq, last_seq, last_sync_ms) VALUES (1, 0, ?, ?)",
                    (len(recs) - 1, EPOCH * 1000 + 40 * 86400_000))
        for r in recs:
            d = decode_record(r)
            con.execute("INSERT INTO raw_records (device_id, seq, boot, kind, t_ms, epoch_s, session, raw,"
                        " received_ms) VALUES (1,?,?,?,?,?,?,?,0)",
                        (d["seq"], d["boot"], d["kind"], d["t_ms"], d["epoch_s"] if d["wall"] else None,
                         d["session"], r))
    with Database(path) as db:
        assert dbm.schema_version(db.conn) == dbm.SCHEMA_VERSION
        assert db.last_seq(1) == len(recs) - 1
        with Database(":memory:") as fresh:
            did = fresh.upsert_device("A")
            fresh.set_base(did, 0)
            fresh.store(did, items(recs))
            for table, cols in (("reps", "seq, session, boot, t_ms, wall_ms, time_approx, day, rom_x10"),
                                ("holds", "seq, wall_ms, end_ms, duration_ms"),
                                ("sets", "seq, count, wall_ms, end_ms"),
                                ("sessions", "session, start_ms, end_ms, day, reps, end_reason, time_approx"),
                                ("events", "seq, kind, code, wall_ms")):
                q = f"SELECT {cols} FROM {table} ORDER BY 1"
                got = db.conn.execute(q).fetchall()
                assert got and got == fresh.conn.execute(q).fetchall(), table


def test_failed_migration_rolls_back(tmp_path, monkeypatch):
    path = tmp_path / "r.db"
    Database(path, target_version=1).close()

    def broken(con):
        con.execute("CREATE TABLE half_done (a)")
        raise RuntimeError("boom")

    monkeypatch.setattr(dbm, "MIGRATIONS", dbm.MIGRATIONS[:1] + [(2, "broken", broken)])
    with pytest.raises(RuntimeError):
        Database(path)
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 1
    assert "half_done" not in _tables(con)
    con.close()


# ---------------------------------------------------------------------------- storing


def test_store_is_idempotent_and_one_transaction(tmp_path):
    recs = build_history(3)
    with Database(tmp_path / "r.db") as db:
        did = db.upsert_device(DeviceInfo("A", "band", "1.0"))
        db.set_base(did, 0)
        assert db.store(did, items(recs[:40])) == 40
        assert db.store(did, items(recs[:50])) == 10  # re-sync: only the new ones
        assert db.record_count(did) == 50 and db.last_seq(did) == 49
        # a batch with one conflicting record stores nothing at all
        bad = rec((E.EV_FAULT, 5, E.FAULT_GAP), 45, boot=9)
        with pytest.raises(ConflictError, match="seq 45"):
            db.store(did, items(recs[50:60]) + [(bad, decode_record(bad))])
        assert db.record_count(did) == 50 and db.last_seq(did) == 49
        n_reps = db.conn.execute("SELECT count(*) FROM reps").fetchone()[0]
        db.store(did, items(recs[:50]))
        assert db.conn.execute("SELECT count(*) FROM reps").fetchone()[0] == n_reps


def test_before_commit_failure_rolls_the_batch_back(tmp_path):
    recs = build_history(3)
    with Database(tmp_path / "r.db") as db:
        did = db.upsert_device("A")
        db.set_base(did, 0)
        db.store(did, items(recs[:10]))

        def boom():
            raise RuntimeError("killed")

        db.before_commit = boom
        with pytest.raises(RuntimeError):
            db.store(did, items(recs[10:30]))
        db.before_commit = None
        assert db.record_count(did) == 10 and db.last_seq(did) == 9
        assert db.conn.execute("SELECT count(*) FROM reps").fetchone()[0] == \
            sum(1 for r in recs[:10] if r[2] == R.K_REP)


def test_last_seq_is_the_contiguous_run(tmp_path):
    recs = build_history(3)
    with Database(":memory:") as db:
        did = db.upsert_device("A")
        db.store(did, items(recs[3:8]))
        assert db.last_seq(did) is None  # the log's start is not known yet
        db.set_base(did, 3)
        assert db.last_seq(did) == 7
        db.store(did, items(recs[10:20]))
        assert db.last_seq(did) == 7  # 8, 9 missing
        db.store(did, items(recs[9:10]))
        assert db.last_seq(did) == 7
        db.record_gap(did, 8, 8, "not on the device")
        assert db.last_seq(did) == 19
        assert db.gaps(did) == [(8, 8, "not on the device")]


def test_several_devices_and_retired_devices(tmp_path):
    recs = build_history(2)
    with Database(tmp_path / "r.db") as db:
        a = db.upsert_device("A")
        b = db.upsert_device("B")
        assert a != b and db.upsert_device("A") == a
        for d in (a, b):
            db.set_base(d, 0)
            db.store(d, items(recs))
        assert db.record_count() == 2 * len(recs)
        assert db.retire_device("A") == a
        a2 = db.upsert_device("A")
        assert a2 not in (a, b) and db.last_seq(a2) is None and db.record_count(a) == len(recs)
        assert [d["address"] for d in db.devices()] == ["A", "B", "A"]


def test_rebuild_decoded_from_raw(tmp_path):
    recs = build_history(3)
    with Database(tmp_path / "r.db") as db:
        did = db.upsert_device("A")
        db.set_base(did, 0)
        db.store(did, items(recs))
        q = "SELECT seq, wall_ms, day, rom_x10 FROM reps ORDER BY seq"
        before = db.conn.execute(q).fetchall()
        db.conn.execute("UPDATE reps SET rom_x10 = -1")
        db.rebuild_decoded()
        assert db.conn.execute(q).fetchall() == before


# ---------------------------------------------------------------------------- time


def _session(boot, epoch, seq0, t0, sid=None):
    sid = seq0 if sid is None else sid
    out = [rec((R.K_SESSION_START, t0, 0, 0, 2, 10, 30), seq0, boot, epoch, sid)]
    out.append(rec((E.EV_REP, t0 + 5000, E.EX_BRIDGE, 0, 0, 250, 1000, 2000, 1000), seq0 + 1, boot, epoch, sid))
    out.append(rec((E.EV_HOLD, t0 + 9000, t0 + 39000, E.EX_STRETCH, 1, 150), seq0 + 2, boot, epoch, sid))
    out.append(rec((R.K_SESSION_END, t0, t0 + 40000, R.END_IDLE, 0, 1, 0, 1, 30000, 0), seq0 + 3, boot, epoch, sid))
    return out


def test_times_exact_from_a_later_record_of_the_same_boot():
    with Database(":memory:") as db:
        did = db.upsert_device("A")
        db.set_base(did, 0)
        early = _session(2, 0, 0, 10_000)  # before the clock was set in boot 2
        db.store(did, items(early), sync_ms=EPOCH * 1000 + 50_000)
        r = db.conn.execute("SELECT wall_ms, time_approx, time_source FROM reps").fetchone()
        # assumed to have run until the sync, which came just at the session's end
        assert r == (EPOCH * 1000 + 15_000, 1, "sync")
        # the clock gets set: later records of boot 2 carry the offset
        late = _session(2, EPOCH, 4, 100_000)
        db.store(did, items(late), sync_ms=EPOCH * 1000 + 999_000_000)
        rows = db.conn.execute("SELECT seq, wall_ms, time_approx, time_source FROM reps ORDER BY seq").fetchall()
        assert rows == [(1, EPOCH * 1000 + 15_000, 0, "boot"), (5, EPOCH * 1000 + 105_000, 0, "record")]
        s = db.conn.execute("SELECT start_ms, end_ms, time_approx FROM sessions ORDER BY session").fetchall()
        assert s == [(EPOCH * 1000 + 10_000, EPOCH * 1000 + 50_000, 0),
                     (EPOCH * 1000 + 100_000, EPOCH * 1000 + 140_000, 0)]
        h = db.conn.execute("SELECT wall_ms, end_ms FROM holds ORDER BY seq").fetchall()
        assert h[0] == (EPOCH * 1000 + 19_000, EPOCH * 1000 + 49_000)


def test_newest_boot_estimate_kept_until_better_news():
    with Database(":memory:") as db:
        did = db.upsert_device("A")
        db.set_base(did, 0)
        db.store(did, items(_session(3, 0, 0, 10_000)), sync_ms=EPOCH * 1000 + 60_000)
        w1 = db.conn.execute("SELECT wall_ms FROM reps").fetchone()[0]
        # a later sync with nothing new for boot 3 does not move its times
        db.store(did, items(_session(3, 0, 0, 10_000)), sync_ms=EPOCH * 1000 + 900_000)
        assert db.conn.execute("SELECT wall_ms FROM reps").fetchone()[0] == w1
        # with the device's uptime known, the current boot's offset comes from it
        db.store(did, items(_session(3, 0, 4, 70_000)), sync_ms=EPOCH * 1000 + 200_000,
                 current_boot=3, uptime_ms=150_000)
        rows = db.conn.execute("SELECT wall_ms, time_source FROM reps ORDER BY seq").fetchall()
        assert rows == [(EPOCH * 1000 + 50_000 + 15_000, "uptime"), (EPOCH * 1000 + 50_000 + 75_000, "uptime")]


def test_day_is_the_local_calendar_day(monkeypatch):
    """A rep at 03:30 UTC on 2 January is on 1 January for someone in New York."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        with Database(":memory:") as db:
            did = db.upsert_device("A")
            db.set_base(did, 0)
            t0 = (86400 + 3 * 3600 + 1800) * 1000 - 5000  # the rep 5 s after the start
            db.store(did, items(_session(1, EPOCH, 0, t0)))
            assert db.conn.execute("SELECT day FROM reps").fetchone()[0] == "2026-01-01"
            assert db.conn.execute("SELECT day FROM sessions").fetchone()[0] == "2026-01-01"
            # the approximate path (SQL's localtime) agrees with the exact one (Python's)
            db.store(did, items(_session(2, 0, 4, 1000)), sync_ms=EPOCH * 1000 + 86400_000 + 3 * 3600_000 + 41_000)
            assert db.conn.execute("SELECT day FROM reps WHERE boot = 2").fetchone()[0] == "2026-01-01"
            assert dbm.local_day(EPOCH * 1000 + 86400_000 + 3 * 3600_000) == "2026-01-01"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_session_without_its_start_keeps_a_row():
    with Database(":memory:") as db:
        did = db.upsert_device("A")
        db.set_base(did, 1)
        db.store(did, items(_session(1, EPOCH, 0, 1000)[1:]))  # the start was never received
        row = db.conn.execute("SELECT session, start_seq, end_seq, reps, start_ms FROM sessions").fetchone()
        assert row == (0, None, 3, 1, EPOCH * 1000 + 1000)


# ---------------------------------------------------------------------------- the command


def test_repband_db_command(tmp_path, capsys):
    path = tmp_path / "r.db"
    with Database(path) as db:
        did = db.upsert_device(DeviceInfo("AA:BB", "band"))
        db.set_base(did, 0)
        db.store(did, items(build_history(3)))
    assert cli.main(["db", "--db", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sessions"] == 3 and out["schema_version"] == dbm.SCHEMA_VERSION
    assert out["devices"][0]["address"] == "AA:BB"
    assert cli.main(["db", "--db", str(path)]) == 0
    text = capsys.readouterr().out
    assert "AA:BB band" in text and "3 sessions" in text
