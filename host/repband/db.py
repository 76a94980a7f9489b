"""The host's session database (SQLite): devices, every record as synced, and the
sessions, sets, reps and holds decoded from them. Schema and guarantees:
docs/database.md.

- One file, by default in the platform's user data folder (``platformdirs``), created
  with mode 0600 before SQLite opens it; ``--db PATH`` overrides.
- Schema migrations: an ordered list (``MIGRATIONS``), ``PRAGMA user_version`` says how
  many ran, ``schema_migrations`` logs when. Each migration runs in its own transaction.
- ``raw_records`` keeps the bytes of every record (UNIQUE(device_id, seq)): the decoded
  tables can always be rebuilt from them, and a re-sync never duplicates anything.
- ``sync_state.last_seq`` is the last seq up to which this database holds every record
  of the device (or knows, from the device, that it does not exist). It is computed from
  the stored rows inside the transaction that stores them, never taken on trust: the
  sync engine tells the device to delete only through this seq.
- Wall-clock time: exact when the record's boot has a known clock offset (the record's
  own ``epoch_s``, or another record of the same boot); otherwise estimated and flagged
  ``time_approx`` (see ``_estimate_offsets``), and corrected when the offset becomes
  known.
"""
from __future__ import annotations

import argparse
import json
import os
import sqlite3
import stat
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from repcore import records as R

from repcore.recdecode import decode as decode_record

from repband import exits

APP_NAME = "repband"
DB_FILENAME = "repband.db"
APPLICATION_ID = 0x52504244  # "RPBD": PRAGMA application_id of a repband database (schema 3 on)

# Why seqs of a device are missing (gaps.reason)
GAP_MISSING = "not on the device"  # deleted on the band before this database got them
GAP_DAMAGED = "damaged on the band"  # the band's flash lost them (its damaged-range record)
GAP_QUARANTINED = "quarantined"  # arrived, failed their checks: kept raw in `quarantine`

# Names of the codes stored as integers (repcore.events, repcore.records).
EXERCISES = {0: "none", 1: "bridge", 2: "clam", 3: "stretch"}
SIDES = {0: "none", 1: "left", 2: "right"}
MODES = {0: "auto", 1: "bridge", 2: "clam", 3: "stretch"}
PLACEMENTS = {0: "thigh", 1: "hip"}
END_REASONS = {1: "idle", 2: "button", 3: "host", 4: "low_battery", 5: "reboot"}
CAL_METHODS = {1: "standing", 2: "user", 3: "flexion", 4: "walking", 5: "set"}
FAULTS = {1: "bad_sample", 2: "gap", 3: "uncalibrated"}

# time_source values of decoded rows
TIME_RECORD = "record"  # the record's own epoch_s (exact)
TIME_BOOT = "boot"  # another record of the same boot carried the offset (exact)
TIME_UPTIME = "uptime"  # current boot, offset = sync time - device uptime (approximate)
TIME_SYNC = "sync"  # newest boot, assumed to have run until the sync (approximate)
TIME_NEXT_BOOT = "next_boot"  # assumed to end where the next boot began (approximate)


class DatabaseError(Exception):
    """The database cannot be used (newer schema, not a repband database, ...)."""


class ConflictError(DatabaseError):
    """The device sent a record whose seq this database holds with other bytes: its
    sequence numbers restarted (reset, reflashed or replaced device)."""


def default_path() -> Path:
    """``<user data dir>/repband/repband.db`` (platformdirs)."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / DB_FILENAME


# ---------------------------------------------------------------------------- which file

class DatabasePathError(DatabaseError):
    """--db names no file repband may use: a folder, or a file in a missing folder."""


class NoDatabase(DatabaseError):
    """A reading command found no database at `path`: it creates none."""

    def __init__(self, message: str, path: Path):
        super().__init__(message)
        self.path = path


def locate(path: str | os.PathLike | None = None, *, create: bool = False) -> Path:
    """The database file a command uses (``--db``, else ``default_path()``), checked
    before anything opens it, so that a mistyped path creates nothing:

    - a folder is refused, and so is a path in a folder that does not exist (only the
      default location's folder is made, by the first command that writes);
    - a missing file is ``NoDatabase`` unless `create` (the commands that write:
      ``pair``, ``sync``, ``demo``), which then make it and say so.
    """
    typed = path not in (None, "")
    p = Path(os.path.abspath(Path(path).expanduser())) if typed else default_path()
    if p.is_dir():
        raise DatabasePathError(f"{p} is a folder, not a database file: give a file path such as "
                                f"{p / DB_FILENAME}")
    if p.exists():
        return p
    if typed and not p.parent.is_dir():
        raise DatabasePathError(f"{p}: the folder {p.parent} does not exist; check the path "
                                f"(repband makes the database file, never its folder)")
    if not create:
        raise NoDatabase(f"no database yet at {p}" + ("" if typed else " (the default location)")
                         + ": `repband pair` and `repband sync` make it at the first sync, `repband demo` "
                           "makes one of its own to explore; --db PATH for a database elsewhere", p)
    return p


def _now_ms() -> int:
    return int(time.time() * 1000)


def local_day(wall_ms: int | None) -> str | None:
    """The host's local calendar date (YYYY-MM-DD) of a Unix ms time."""
    if wall_ms is None:
        return None
    return time.strftime("%Y-%m-%d", time.localtime(wall_ms / 1000.0))


def _create_private(path: Path) -> None:
    """Create the database file with mode 0600 (before SQLite opens it) and its folder
    with 0700; an empty file of ours already there (identify: "new") gets 0600 too."""
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask, or the mode of the empty file, was
    finally:
        os.close(fd)


_SQLITE_MAGIC = b"SQLite format 3\x00"
RECOVER = ("The band still holds every record not acknowledged: move the file aside "
           "(mv {p} {p}.damaged) and sync again, or restore a backup (repband db --restore FILE); "
           "`repband db --check` says what is wrong, and `sqlite3 {p}.damaged .recover` salvages the rest")


def identify(path: Path) -> str:
    """What the file at `path` is, read from its header before anything opens it:
    "new" (absent or empty), "repband" (a repband database) or raises DatabaseError
    (another user's file, not SQLite, another application's database). Changes nothing."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "new"
    if not stat.S_ISREG(st.st_mode):
        raise DatabaseError(f"{path}: not a database file")
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise DatabaseError(f"{path} belongs to another user (uid {st.st_uid}): repband keeps each person's "
                            f"health data in a file of their own; use yours (--db PATH), or ask its owner for a "
                            f"copy (repband db --backup FILE)")
    try:
        with open(path, "rb") as f:
            head = f.read(100)
    except OSError as exc:
        raise DatabaseError(f"{path}: cannot read it ({exc.strerror})") from None
    if not head:
        return "new"
    if len(head) < 100 or not head.startswith(_SQLITE_MAGIC):
        raise DatabaseError(f"{path}: not a usable database (not an SQLite file, so not repband's); "
                            f"nothing was changed")
    # The header's copies of these may lag behind the WAL: ask SQLite, read-only.
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        app_id = con.execute("PRAGMA application_id").fetchone()[0]
        user_version = con.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        if struct.unpack_from(">i", head, 68)[0] == APPLICATION_ID:
            return "repband"  # ours, damaged: the open path says so and refuses to write
        raise DatabaseError(f"{path}: not a usable database ({exc}); nothing was changed") from None
    finally:
        con.close()
    if app_id == APPLICATION_ID:
        return "repband"
    if app_id == 0 and (not tables or (1 <= user_version <= SCHEMA_VERSION
                                       and {"raw_records", "devices"} <= tables)):
        return "repband"  # empty, or written before schema 3 set the application id
    raise DatabaseError(f"{path}: not a repband database (another application's SQLite file); nothing "
                        f"was changed. Point --db at repband's database (repband db shows where it is)")


# ---------------------------------------------------------------------------- schema

_V1 = [
    """CREATE TABLE devices (
        id INTEGER PRIMARY KEY,
        address TEXT NOT NULL,
        name TEXT,
        first_seen_ms INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL,
        protocol_version TEXT,
        boot INTEGER,
        boot_epoch_ms INTEGER,
        retired_ms INTEGER
    )""",
    "CREATE UNIQUE INDEX devices_address ON devices(address) WHERE retired_ms IS NULL",
    """CREATE TABLE raw_records (
        id INTEGER PRIMARY KEY,
        device_id INTEGER NOT NULL REFERENCES devices(id),
        seq INTEGER NOT NULL,
        boot INTEGER NOT NULL,
        kind INTEGER NOT NULL,
        t_ms INTEGER NOT NULL,
        epoch_s INTEGER,
        session INTEGER NOT NULL,
        raw BLOB NOT NULL,
        received_ms INTEGER NOT NULL,
        UNIQUE(device_id, seq)
    )""",
    """CREATE TABLE sync_state (
        device_id INTEGER PRIMARY KEY REFERENCES devices(id),
        first_seq INTEGER,
        last_seq INTEGER,
        acked_seq INTEGER,
        last_sync_ms INTEGER,
        last_attempt_ms INTEGER,
        last_error TEXT
    )""",
]

_DECODED_COLS = """
        device_id INTEGER NOT NULL REFERENCES devices(id),
        seq INTEGER NOT NULL,
        session INTEGER NOT NULL,
        boot INTEGER NOT NULL,
        t_ms INTEGER NOT NULL,
        wall_ms INTEGER,
        time_approx INTEGER NOT NULL DEFAULT 0,
        time_source TEXT,
        day TEXT,"""

_V2 = [
    """CREATE TABLE boots (
        device_id INTEGER NOT NULL REFERENCES devices(id),
        boot INTEGER NOT NULL,
        first_seq INTEGER NOT NULL,
        last_seq INTEGER NOT NULL,
        max_t_ms INTEGER NOT NULL,
        epoch_s INTEGER,
        epoch_seq INTEGER,
        offset_ms INTEGER,
        time_approx INTEGER NOT NULL DEFAULT 1,
        time_source TEXT,
        PRIMARY KEY(device_id, boot)
    )""",
    """CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        device_id INTEGER NOT NULL REFERENCES devices(id),
        session INTEGER NOT NULL,
        boot INTEGER,
        start_seq INTEGER,
        end_seq INTEGER,
        t_start_ms INTEGER,
        t_end_ms INTEGER,
        start_ms INTEGER,
        end_ms INTEGER,
        time_approx INTEGER NOT NULL DEFAULT 1,
        time_source TEXT,
        day TEXT,
        mode INTEGER,
        placement INTEGER,
        side INTEGER,
        target_reps INTEGER,
        target_hold_s INTEGER,
        end_reason INTEGER,
        n_sets INTEGER,
        reps INTEGER,
        partial INTEGER,
        holds INTEGER,
        hold_ms INTEGER,
        dropped INTEGER,
        UNIQUE(device_id, session)
    )""",
    f"""CREATE TABLE sets ({_DECODED_COLS}
        duration_ms INTEGER NOT NULL,
        end_ms INTEGER,
        exercise INTEGER NOT NULL,
        side INTEGER NOT NULL,
        count INTEGER NOT NULL,
        n_partial INTEGER NOT NULL,
        mean_rom_x10 INTEGER NOT NULL,
        period_ms INTEGER NOT NULL,
        PRIMARY KEY(device_id, seq)
    )""",
    f"""CREATE TABLE reps ({_DECODED_COLS}
        exercise INTEGER NOT NULL,
        side INTEGER NOT NULL,
        partial INTEGER NOT NULL,
        rom_x10 INTEGER NOT NULL,
        up_ms INTEGER NOT NULL,
        top_ms INTEGER NOT NULL,
        down_ms INTEGER NOT NULL,
        PRIMARY KEY(device_id, seq)
    )""",
    f"""CREATE TABLE holds ({_DECODED_COLS}
        duration_ms INTEGER NOT NULL,
        end_ms INTEGER,
        exercise INTEGER NOT NULL,
        side INTEGER NOT NULL,
        angle_x10 INTEGER NOT NULL,
        PRIMARY KEY(device_id, seq)
    )""",
    f"""CREATE TABLE events ({_DECODED_COLS}
        kind TEXT NOT NULL,
        code INTEGER NOT NULL,
        PRIMARY KEY(device_id, seq)
    )""",
    """CREATE TABLE gaps (
        device_id INTEGER NOT NULL REFERENCES devices(id),
        first_seq INTEGER NOT NULL,
        last_seq INTEGER NOT NULL,
        found_ms INTEGER NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY(device_id, first_seq)
    )""",
    "CREATE INDEX sets_session ON sets(device_id, session)",
    "CREATE INDEX reps_session ON reps(device_id, session)",
    "CREATE INDEX holds_session ON holds(device_id, session)",
    "CREATE INDEX reps_day ON reps(day)",
    "CREATE INDEX sessions_day ON sessions(day)",
    "CREATE INDEX raw_boot ON raw_records(device_id, boot)",
]


def _migrate_v2(conn: sqlite3.Connection) -> None:
    for sql in _V2:
        conn.execute(sql)
    # Decode what version 1 stored (raw records only) into the new tables.
    devs = [r[0] for r in conn.execute("SELECT id FROM devices")]
    for dev in devs:
        items = []
        for (raw,) in conn.execute("SELECT raw FROM raw_records WHERE device_id = ? ORDER BY seq", (dev,)):
            items.append(decode_record(bytes(raw)))
        _decode_into(conn, dev, items)
        last_sync = conn.execute("SELECT last_sync_ms FROM sync_state WHERE device_id = ?",
                                 (dev,)).fetchone()
        _refresh_times(conn, dev, {d["boot"] for d in items},
                       sync_ms=(last_sync[0] if last_sync and last_sync[0] else _now_ms()))


_V3 = [
    """CREATE TABLE quarantine (
        id INTEGER PRIMARY KEY,
        device_id INTEGER NOT NULL REFERENCES devices(id),
        first_seq INTEGER NOT NULL,
        last_seq INTEGER NOT NULL,
        raw BLOB NOT NULL,
        reason TEXT NOT NULL,
        received_ms INTEGER NOT NULL
    )""",
    "CREATE INDEX quarantine_device ON quarantine(device_id, first_seq)",
    "ALTER TABLE devices ADD COLUMN identity TEXT",
]


def _migrate_v3(conn: sqlite3.Connection) -> None:
    """Quarantine, band identity; records stored before their fields had ranges and
    outside them move to the quarantine (never shown as data)."""
    for sql in _V3:
        conn.execute(sql)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    bad = []
    for rid, dev, seq, raw in conn.execute("SELECT id, device_id, seq, raw FROM raw_records"):
        try:
            decode_record(bytes(raw))
        except R.RecordError as exc:
            bad.append((rid, dev, seq, bytes(raw), str(exc)))
    for rid, dev, seq, raw, why in bad:
        conn.execute("INSERT INTO quarantine (device_id, first_seq, last_seq, raw, reason, received_ms)"
                     " VALUES (?,?,?,?,?,?)", (dev, seq, seq, raw, why, _now_ms()))
        conn.execute("INSERT OR IGNORE INTO gaps VALUES (?,?,?,?,?)", (dev, seq, seq, _now_ms(), GAP_QUARANTINED))
        conn.execute("DELETE FROM raw_records WHERE id = ?", (rid,))
        for t in ("reps", "holds", "sets", "events"):
            conn.execute(f"DELETE FROM {t} WHERE device_id = ? AND seq = ?", (dev, seq))


# A person's own count of a set, beside the band's (sets.count stays what the band
# said): not derived from the records, so rebuild_decoded leaves it alone.
_V4 = [
    """CREATE TABLE corrections (
        device_id INTEGER NOT NULL REFERENCES devices(id),
        seq INTEGER NOT NULL,
        count INTEGER NOT NULL CHECK (count >= 0),
        note TEXT,
        made_ms INTEGER NOT NULL,
        PRIMARY KEY(device_id, seq)
    )""",
]

# The ordered list of migrations: (version it brings the schema to, description, step).
MIGRATIONS: list[tuple[int, str, Callable[[sqlite3.Connection], None]]] = [
    (1, "devices, raw records, sync state", lambda c: [c.execute(s) for s in _V1] and None),
    (2, "boots, sessions, sets, reps, holds, events, gaps (decoded from raw records)", _migrate_v2),
    (3, "quarantine, band identity, application id; out-of-range records quarantined", _migrate_v3),
    (4, "corrections: a person's count of a set, beside the band's", lambda c: [c.execute(s) for s in _V4] and None),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Run the migrations from the database's version up to `target`; returns it."""
    v = schema_version(conn)
    if v > SCHEMA_VERSION:
        raise DatabaseError(f"database schema version {v} is newer than this repband knows "
                            f"({SCHEMA_VERSION}): upgrade repband")
    for version, desc, step in MIGRATIONS:
        if version <= v or version > target:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Read again under the write lock: a second repband opening the new database
            # at the same time may have migrated it while this one waited for the lock.
            v = schema_version(conn)
            if v == 0:
                tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
                if tables:
                    raise DatabaseError("not a repband database (it has tables but no repband schema version)")
            if version <= v:
                conn.execute("COMMIT")
                continue
            conn.execute("""CREATE TABLE IF NOT EXISTS schema_migrations (
                version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_ms INTEGER NOT NULL)""")
            step(conn)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", (version, desc, _now_ms()))
            conn.execute(f"PRAGMA user_version = {int(version)}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        v = version
    return v


# ---------------------------------------------------------------------------- decoding


def _decode_into(conn: sqlite3.Connection, dev: int, items: Sequence[dict]) -> None:
    """Insert decoded rows for records (dicts of recdecode.decode) and update `boots`.
    A record carrying its own epoch_s gets its wall time here; the others get theirs
    from _refresh_times."""
    ex = conn.execute
    boots: dict[int, list] = {}
    for d in items:
        seq, boot, t, sess, kind = d["seq"], d["boot"], d["t_ms"], d["session"], d["kind"]
        b = boots.get(boot)
        if b is None:
            b = boots[boot] = [seq, seq, t, None, None]
        b[0] = min(b[0], seq)
        b[1] = max(b[1], seq)
        b[2] = max(b[2], t + d.get("duration_ms", 0))
        if d["wall"]:
            if b[4] is None or seq < b[4]:
                b[3], b[4] = d["epoch_s"], seq
            wall = d["wall_ms"]
            timing = (wall, 0, TIME_RECORD, local_day(wall))
        else:
            wall = None
            timing = (None, 1, None, None)
        base = (dev, seq, sess, boot, t) + timing
        cols = "device_id, seq, session, boot, t_ms, wall_ms, time_approx, time_source, day"
        if kind == R.K_REP:
            ex(f"INSERT OR IGNORE INTO reps ({cols}, exercise, side, partial,"
               " rom_x10, up_ms, top_ms, down_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
               base + (d["exercise"], d["side"], d["partial"], d["rom_x10"], d["up_ms"], d["top_ms"],
                       d["down_ms"]))
        elif kind == R.K_HOLD:
            ex(f"INSERT OR IGNORE INTO holds ({cols}, duration_ms, end_ms, exercise,"
               " side, angle_x10) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
               base + (d["duration_ms"], None if wall is None else wall + d["duration_ms"],
                       d["exercise"], d["side"], d["angle_x10"]))
        elif kind == R.K_SET:
            ex(f"INSERT OR IGNORE INTO sets ({cols}, duration_ms, end_ms, exercise,"
               " side, count, n_partial, mean_rom_x10, period_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
               base + (d["duration_ms"], None if wall is None else wall + d["duration_ms"],
                       d["exercise"], d["side"], d["count"], d["n_partial"], d["mean_rom_x10"],
                       d["period_ms"]))
        elif kind in (R.K_CALIBRATED, R.K_FAULT):
            ex(f"INSERT OR IGNORE INTO events ({cols}, kind, code) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
               base + (d["kind_name"], d["method"] if kind == R.K_CALIBRATED else d["fault"]))
        elif kind == R.K_SESSION_START:
            ex("INSERT INTO sessions (device_id, session, boot, start_seq, t_start_ms, start_ms,"
               " time_approx, time_source, day, mode, placement, side, target_reps, target_hold_s)"
               " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
               " ON CONFLICT(device_id, session) DO UPDATE SET boot = excluded.boot,"
               " start_seq = excluded.start_seq, t_start_ms = excluded.t_start_ms,"
               " start_ms = excluded.start_ms, time_approx = excluded.time_approx,"
               " time_source = excluded.time_source, day = excluded.day,"
               " end_ms = CASE WHEN excluded.start_ms IS NULL OR sessions.t_end_ms IS NULL THEN NULL"
               "   ELSE excluded.start_ms - excluded.t_start_ms + sessions.t_end_ms END,"
               " mode = excluded.mode, placement = excluded.placement, side = excluded.side,"
               " target_reps = excluded.target_reps, target_hold_s = excluded.target_hold_s",
               (dev, sess, boot, seq, t) + timing + (d["mode"], d["placement"], d["side"],
                                                     d["target_reps"], d["target_hold_s"]))
        elif kind == R.K_SESSION_END:
            t_end = t + d["duration_ms"]
            ex("INSERT INTO sessions (device_id, session, boot, end_seq, t_start_ms, t_end_ms, start_ms,"
               " end_ms, time_approx, time_source, day, end_reason, n_sets, reps, partial, holds, hold_ms,"
               " dropped) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
               " ON CONFLICT(device_id, session) DO UPDATE SET end_seq = excluded.end_seq,"
               " boot = coalesce(sessions.boot, excluded.boot),"
               " t_start_ms = coalesce(sessions.t_start_ms, excluded.t_start_ms),"
               " t_end_ms = excluded.t_end_ms,"
               " end_ms = CASE WHEN sessions.start_ms IS NULL THEN NULL"
               "   ELSE sessions.start_ms - sessions.t_start_ms + excluded.t_end_ms END,"
               " end_reason = excluded.end_reason,"
               " n_sets = excluded.n_sets, reps = excluded.reps, partial = excluded.partial,"
               " holds = excluded.holds, hold_ms = excluded.hold_ms, dropped = excluded.dropped",
               (dev, sess, boot, seq, t, t_end) + (timing[0], None if wall is None else wall + d["duration_ms"])
               + timing[1:] + (d["reason"], d["n_sets"], d["reps"], d["partial"], d["holds"], d["hold_ms"],
                               d["dropped"]))
        if sess and kind != R.K_SESSION_START and kind != R.K_SESSION_END:
            # a record of a session whose start this database never got: keep a row for it
            ex("INSERT OR IGNORE INTO sessions (device_id, session, boot, t_start_ms, start_ms, time_approx,"
               " time_source, day) VALUES (?,?,?,?,?,?,?,?)", (dev, sess, boot, t) + timing)
    for boot, (lo, hi, tmax, epoch_s, epoch_seq) in boots.items():
        ex("INSERT INTO boots (device_id, boot, first_seq, last_seq, max_t_ms, epoch_s, epoch_seq)"
           " VALUES (?,?,?,?,?,?,?) ON CONFLICT(device_id, boot) DO UPDATE SET"
           " first_seq = min(boots.first_seq, excluded.first_seq),"
           " last_seq = max(boots.last_seq, excluded.last_seq),"
           " max_t_ms = max(boots.max_t_ms, excluded.max_t_ms),"
           " epoch_s = CASE WHEN excluded.epoch_seq IS NOT NULL AND (boots.epoch_seq IS NULL"
           "   OR excluded.epoch_seq < boots.epoch_seq) THEN excluded.epoch_s ELSE boots.epoch_s END,"
           " epoch_seq = CASE WHEN excluded.epoch_seq IS NOT NULL AND (boots.epoch_seq IS NULL"
           "   OR excluded.epoch_seq < boots.epoch_seq) THEN excluded.epoch_seq ELSE boots.epoch_seq END",
           (dev, boot, lo, hi, tmax, epoch_s, epoch_seq))


def _estimate_offsets(boots: list[dict], sync_ms: int, current_boot: int | None,
                      uptime_ms: int | None) -> dict[int, tuple[int, int, str]]:
    """Clock offset (wall ms at t_ms = 0) of every boot: {boot: (offset_ms, approx, source)}.

    `boots` are the device's boots (dicts with boot, first_seq, max_t_ms, epoch_s,
    offset_ms, time_source, grew), any order. Exact when a record of the boot carried
    epoch_s (the lowest such seq's). Otherwise approximate, newest boot first:
      - the device's current boot with its uptime known: sync time - uptime;
      - the newest boot: assumed to have run until the sync (sync time - its last
        record's time), estimated at the sync that brought its newest records and
        kept at later syncs;
      - an older boot: assumed to have ended, at its last record, when the next boot
        began (next boot's offset - its last record's time).
    """
    out: dict[int, tuple[int, int, str]] = {}
    ordered = sorted(boots, key=lambda b: b["first_seq"], reverse=True)
    next_offset = None
    for b in ordered:
        if b["epoch_s"] is not None:
            off, approx, src = b["epoch_s"] * 1000, 0, TIME_BOOT
        elif current_boot is not None and b["boot"] == current_boot and uptime_ms is not None:
            off, approx, src = sync_ms - uptime_ms, 1, TIME_UPTIME
        elif next_offset is None:
            if b["time_source"] in (TIME_SYNC, TIME_UPTIME) and b["offset_ms"] is not None \
                    and not b["grew"]:
                off, src = b["offset_ms"], b["time_source"]  # an earlier sync's estimate
            else:
                off, src = sync_ms - b["max_t_ms"], TIME_SYNC
            approx = 1
        else:
            off, approx, src = next_offset - b["max_t_ms"], 1, TIME_NEXT_BOOT
        out[b["boot"]] = (off, approx, src)
        next_offset = off
    return out


_TIMED = ("reps", "holds", "sets", "events")


def _refresh_times(conn: sqlite3.Connection, dev: int, touched: Iterable[int], sync_ms: int,
                   current_boot: int | None = None, uptime_ms: int | None = None) -> None:
    """Recompute the clock offset of the device's boots; set the wall times of rows
    that have none yet and of every row of a boot whose offset changed."""
    touched = set(touched)
    rows = conn.execute("SELECT boot, first_seq, max_t_ms, epoch_s, offset_ms, time_approx, time_source"
                        " FROM boots WHERE device_id = ?", (dev,)).fetchall()
    boots = [{"boot": r[0], "first_seq": r[1], "max_t_ms": r[2], "epoch_s": r[3], "offset_ms": r[4],
              "approx": r[5], "time_source": r[6], "grew": r[0] in touched} for r in rows]
    offsets = _estimate_offsets(boots, sync_ms, current_boot, uptime_ms)
    for b in boots:
        off, approx, src = offsets[b["boot"]]
        changed = not (off == b["offset_ms"] and approx == b["approx"] and src == b["time_source"])
        if changed:
            conn.execute("UPDATE boots SET offset_ms = ?, time_approx = ?, time_source = ?"
                         " WHERE device_id = ? AND boot = ?", (off, approx, src, dev, b["boot"]))
        if changed or b["grew"]:
            _apply_offset(conn, dev, b["boot"], off, approx, src, only_missing=not changed)


def _apply_offset(conn, dev, boot, off, approx, src, only_missing) -> None:
    """Wall times of one boot's decoded rows from its offset (rows whose record carried
    its own epoch_s keep that). `only_missing`: only rows without a time yet."""
    ex = conn.execute
    cond = "device_id = ? AND boot = ? AND (time_source IS NULL OR time_source != 'record')"
    if only_missing:
        cond += " AND wall_ms IS NULL"
    for t in _TIMED:
        end = ", end_ms = ? + t_ms + duration_ms" if t in ("sets", "holds") else ""
        args = (off, off, approx, src) + ((off,) if end else ()) + (dev, boot)
        ex(f"UPDATE {t} SET wall_ms = ? + t_ms, day = date((? + t_ms) / 1000, 'unixepoch', 'localtime'),"
           f" time_approx = ?, time_source = ?{end} WHERE {cond}", args)
    scond = "device_id = ? AND boot = ? AND (time_source IS NULL OR time_source != 'record')"
    if only_missing:
        scond += " AND (start_ms IS NULL OR (end_ms IS NULL AND t_end_ms IS NOT NULL))"
    ex("UPDATE sessions SET start_ms = ? + t_start_ms,"
       " day = date((? + t_start_ms) / 1000, 'unixepoch', 'localtime'),"
       " end_ms = CASE WHEN t_end_ms IS NULL THEN NULL ELSE ? + t_end_ms END,"
       f" time_approx = ?, time_source = ? WHERE {scond}", (off, off, off, approx, src, dev, boot))


# ---------------------------------------------------------------------------- API


@dataclass
class DeviceInfo:
    """What the host knows of a device when it connects (the sync's `device`)."""

    address: str
    name: str | None = None
    protocol_version: str | None = None
    boot: int | None = None  # the device's current boot counter, if the link reports it
    uptime_ms: int | None = None  # ms since that boot, read at `seen_ms`
    seen_ms: int | None = None  # host wall clock (Unix ms) when uptime was read


class Database:
    """The session database. ``Database(path)`` creates (mode 0600) and migrates it.

    ``path``: a file path, None for the default location, or ":memory:". ``salvage``:
    open a damaged file whose schema cannot be read (to check it or restore a backup
    into it) instead of refusing it.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, target_version: int = SCHEMA_VERSION,
                 salvage: bool = False):
        self.path = Path(path) if path not in (None, ":memory:") else (None if path == ":memory:"
                                                                          else default_path())
        self.readonly = None  # why this database cannot be written, or None
        self.damaged = None  # what PRAGMA quick_check found, or None
        target = ":memory:"
        if self.path is not None:
            # What the file is, before anything changes it (mode, journal, schema).
            if identify(self.path) == "new":
                _create_private(self.path)
            elif stat.S_IMODE(os.stat(self.path).st_mode) & 0o077:
                os.chmod(self.path, 0o600)
            if not os.access(self.path, os.W_OK) or not os.access(self.path.parent, os.W_OK):
                which = self.path if not os.access(self.path, os.W_OK) else self.path.parent
                self.readonly = f"{which} is read-only for you"
            target = str(self.path)
            if self.readonly:
                target = f"{self.path.resolve().as_uri()}?mode=ro"
        self.conn = sqlite3.connect(target, isolation_level=None, uri=bool(self.readonly))
        try:
            try:
                self.conn.execute("PRAGMA foreign_keys = ON")
                self.conn.execute("PRAGMA busy_timeout = 5000")
                if self.path is not None:
                    try:
                        check = [r[0] for r in self.conn.execute("PRAGMA quick_check").fetchall()]
                    except sqlite3.DatabaseError as exc:
                        check = [str(exc)]
                    if check != ["ok"]:
                        self.damaged = "; ".join(check[:3])
                    elif not self.readonly:
                        self.conn.execute("PRAGMA journal_mode = WAL")
                # A commit is on disk when COMMIT returns: the device is told to delete after it.
                self.conn.execute("PRAGMA synchronous = FULL")
                if schema_version(self.conn) < target_version:
                    self._writable("upgrading its schema")
                self.version = migrate(self.conn, target_version)
            except sqlite3.DatabaseError as exc:
                if not self.damaged:
                    raise DatabaseError(f"{self.path}: not a usable database ({exc})") from None
                if not salvage:  # its schema is unreadable: nothing can be read, let alone written
                    raise DatabaseError(f"{self.path} is damaged ({self.damaged}): repband cannot read it. "
                                        + RECOVER.format(p=self.path)) from None
                self.version = None  # open only to check it or restore a backup into it
        except BaseException:
            self.conn.close()
            raise
        # Test hook: called inside the batch transaction just before COMMIT.
        self.before_commit: Callable[[], None] | None = None

    def damage_note(self) -> str:
        """What a reader of a damaged database is told: one line."""
        return (f"{self.path} is damaged ({self.damaged}): what it shows may be incomplete. "
                + RECOVER.format(p=self.path))

    def _writable(self, what: str) -> None:
        """DatabaseError saying why `what` cannot be written, and what to do."""
        if self.damaged:
            raise DatabaseError(f"{self.path} is damaged ({self.damaged}); nothing was written ({what}). "
                                + RECOVER.format(p=self.path))
        if self.readonly:
            raise DatabaseError(f"{self.readonly}: nothing was written ({what}). Make it writable "
                                f"(chmod u+w), or use another database (--db PATH)")

    # -- lifetime ----------------------------------------------------------------

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _tx(self):
        if self.damaged or self.readonly:
            self._writable("a change to the database")
        return _Transaction(self.conn)

    # -- devices -----------------------------------------------------------------

    def device_id(self, address: str) -> int | None:
        row = self.conn.execute("SELECT id FROM devices WHERE address = ? AND retired_ms IS NULL",
                                (address,)).fetchone()
        return row[0] if row else None

    def upsert_device(self, info: DeviceInfo | str) -> int:
        """The id of the (non-retired) device with this address, created if new; its
        name, protocol version, boot and last-seen time are updated."""
        if isinstance(info, str):
            info = DeviceInfo(info)
        now = _now_ms()
        boot_epoch = None
        if info.uptime_ms is not None:
            boot_epoch = (info.seen_ms or now) - info.uptime_ms
        with self._tx():
            dev = self.device_id(info.address)
            if dev is None:
                cur = self.conn.execute(
                    "INSERT INTO devices (address, name, first_seen_ms, last_seen_ms, protocol_version,"
                    " boot, boot_epoch_ms) VALUES (?,?,?,?,?,?,?)",
                    (info.address, info.name, now, now, info.protocol_version, info.boot, boot_epoch))
                dev = int(cur.lastrowid)
                self.conn.execute("INSERT INTO sync_state (device_id) VALUES (?)", (dev,))
            else:
                self.conn.execute(
                    "UPDATE devices SET name = coalesce(?, name), last_seen_ms = ?,"
                    " protocol_version = coalesce(?, protocol_version), boot = coalesce(?, boot),"
                    " boot_epoch_ms = CASE WHEN ? IS NOT NULL THEN ? ELSE boot_epoch_ms END WHERE id = ?",
                    (info.name, now, info.protocol_version, info.boot, boot_epoch, boot_epoch, dev))
        return dev

    def identity(self, address: str) -> str | None:
        """The identity this database knows the (non-retired) band at `address` by."""
        row = self.conn.execute("SELECT identity FROM devices WHERE address = ? AND retired_ms IS NULL",
                                (address,)).fetchone()
        return row[0] if row else None

    def set_identity(self, dev: int, identity: str) -> None:
        with self._tx():
            self.conn.execute("UPDATE devices SET identity = ? WHERE id = ?", (identity, dev))

    def retire_device(self, address: str) -> int | None:
        """Keep the device's records under its current id but stop using it: the next
        sync of this address starts a new device row (after a device reset, whose
        sequence numbers start again). Returns the retired id."""
        dev = self.device_id(address)
        if dev is not None:
            with self._tx():
                self.conn.execute("UPDATE devices SET retired_ms = ? WHERE id = ?", (_now_ms(), dev))
        return dev

    def devices(self) -> list[dict]:
        cur = self.conn.execute(
            "SELECT d.id, d.address, d.name, d.first_seen_ms, d.last_seen_ms, d.protocol_version, d.boot,"
            " d.retired_ms, s.first_seq, s.last_seq, s.acked_seq, s.last_sync_ms, s.last_error,"
            " (SELECT count(*) FROM raw_records r WHERE r.device_id = d.id), d.identity,"
            " (SELECT count(*) FROM quarantine q WHERE q.device_id = d.id)"
            " FROM devices d LEFT JOIN sync_state s ON s.device_id = d.id ORDER BY d.id")
        keys = ("id", "address", "name", "first_seen_ms", "last_seen_ms", "protocol_version", "boot",
                "retired_ms", "first_seq", "last_seq", "acked_seq", "last_sync_ms", "last_error", "records",
                "identity", "quarantined")
        out = [dict(zip(keys, r)) for r in cur.fetchall()]
        for d in out:
            d["lost"] = self.lost_in(d["id"], 0, None)  # damaged on the band, quarantined
        return out

    # -- sync state --------------------------------------------------------------

    def sync_state(self, dev: int) -> dict:
        r = self.conn.execute("SELECT first_seq, last_seq, acked_seq, last_sync_ms, last_attempt_ms,"
                              " last_error FROM sync_state WHERE device_id = ?", (dev,)).fetchone()
        keys = ("first_seq", "last_seq", "acked_seq", "last_sync_ms", "last_attempt_ms", "last_error")
        return dict(zip(keys, r)) if r else dict.fromkeys(keys)

    def last_seq(self, dev: int) -> int | None:
        """Every record of the device up to this seq is stored (None: nothing yet)."""
        return self.sync_state(dev)["last_seq"]

    def raw(self, dev: int, seq: int) -> bytes | None:
        r = self.conn.execute("SELECT raw FROM raw_records WHERE device_id = ? AND seq = ?",
                              (dev, seq)).fetchone()
        return bytes(r[0]) if r else None

    def next_stored_seq(self, dev: int, seq: int) -> int | None:
        """The lowest stored seq >= `seq`."""
        r = self.conn.execute("SELECT min(seq) FROM raw_records WHERE device_id = ? AND seq >= ?",
                              (dev, seq)).fetchone()
        return r[0]

    def record_count(self, dev: int | None = None) -> int:
        if dev is None:
            return self.conn.execute("SELECT count(*) FROM raw_records").fetchone()[0]
        return self.conn.execute("SELECT count(*) FROM raw_records WHERE device_id = ?", (dev,)).fetchone()[0]

    def store(self, dev: int, items: Sequence[tuple[bytes, dict]], *, sync_ms: int | None = None,
              current_boot: int | None = None, uptime_ms: int | None = None) -> int:
        """Store records (bytes and their records.decode dict) in ONE transaction:
        raw bytes, decoded rows, boot time bases, wall times and the advanced
        `last_seq`. A record already stored with the same bytes is skipped; with other
        bytes it raises ConflictError and nothing of the batch is stored. Returns the
        number of records new to the database."""
        sync_ms = _now_ms() if sync_ms is None else sync_ms
        with self._tx():
            new = []
            ins = self.conn.execute
            for raw, d in items:
                cur = ins("INSERT INTO raw_records (device_id, seq, boot, kind, t_ms, epoch_s, session, raw,"
                          " received_ms) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(device_id, seq) DO NOTHING",
                          (dev, d["seq"], d["boot"], d["kind"], d["t_ms"],
                           d["epoch_s"] if d["wall"] else None, d["session"], bytes(raw), sync_ms))
                if cur.rowcount == 1:
                    new.append(d)
                elif self.raw(dev, d["seq"]) != bytes(raw):
                    raise ConflictError(
                        f"the device sent seq {d['seq']} with other contents than this database holds "
                        f"for it: its sequence numbers restarted (device reset or replaced)")
            if new:
                _decode_into(self.conn, dev, new)
                _refresh_times(self.conn, dev, {d["boot"] for d in new}, sync_ms, current_boot, uptime_ms)
            self._advance(dev)
            if self.before_commit is not None:
                self.before_commit()
        return len(new)

    def set_base(self, dev: int, first_seq: int) -> None:
        """The device holds no record below `first_seq` (first sync of this device)."""
        with self._tx():
            self.conn.execute("UPDATE sync_state SET first_seq = ? WHERE device_id = ? AND first_seq IS NULL",
                              (first_seq, dev))
            self._advance(dev)

    def record_gap(self, dev: int, first: int, last: int, reason: str) -> None:
        """Seqs first..last will never come (the device does not hold them): recorded,
        and `last_seq` may pass them."""
        with self._tx():
            self.conn.execute("INSERT OR IGNORE INTO gaps VALUES (?,?,?,?,?)", (dev, first, last, _now_ms(), reason))
            self._advance(dev)

    def record_lost(self, dev: int, first: int, last: int, reason: str) -> list[tuple[int, int]]:
        """Seqs first..last will never come (damaged on the band, or quarantined): the
        parts of it this database does not hold are recorded as gaps. Returns them."""
        held = [r[0] for r in self.conn.execute(
            "SELECT seq FROM raw_records WHERE device_id = ? AND seq BETWEEN ? AND ? ORDER BY seq",
            (dev, first, last))]
        parts = []
        lo = first
        for s in held + [last + 1]:
            if s > lo:
                parts.append((lo, s - 1))
            lo = s + 1
        with self._tx():
            for a, b in parts:
                self.conn.execute("INSERT OR IGNORE INTO gaps VALUES (?,?,?,?,?)", (dev, a, b, _now_ms(), reason))
            self._advance(dev)
        return parts

    def quarantine(self, dev: int, first: int, last: int, raw: bytes, reason: str) -> None:
        """Bytes that arrived for seqs first..last and failed their checks: kept raw (never
        decoded into data), and the seqs recorded as lost so that the band may free them."""
        with self._tx():
            self.conn.execute("INSERT INTO quarantine (device_id, first_seq, last_seq, raw, reason, received_ms)"
                              " VALUES (?,?,?,?,?,?)", (dev, first, last, bytes(raw), reason, _now_ms()))
            self.record_lost(dev, first, last, GAP_QUARANTINED)

    def quarantined(self, dev: int | None = None) -> list[dict]:
        cur = self.conn.execute(
            "SELECT device_id, first_seq, last_seq, raw, reason, received_ms FROM quarantine"
            + ("" if dev is None else " WHERE device_id = ?") + " ORDER BY id", () if dev is None else (dev,))
        keys = ("device_id", "first_seq", "last_seq", "raw", "reason", "received_ms")
        return [dict(zip(keys, r)) for r in cur]

    def lost_in(self, dev: int, first: int, last: int | None) -> list[tuple[int, int, str]]:
        """Seq ranges lost on the band (damaged, quarantined) that overlap first..last
        (None: open-ended)."""
        return [tuple(r) for r in self.conn.execute(
            "SELECT first_seq, last_seq, reason FROM gaps WHERE device_id = ? AND reason != ?"
            " AND last_seq >= ? AND (? IS NULL OR first_seq <= ?) ORDER BY first_seq",
            (dev, GAP_MISSING, first, last, last))]

    def session_lost(self, dev: int, session: int) -> list[tuple[int, int, str]]:
        """Ranges lost on the band that may belong to a session: they overlap its seqs,
        from its id (the seq of its start record) to its end record, or, with no end
        record, its last record and a lost range right after it (the end's)."""
        row = self.conn.execute("SELECT end_seq FROM sessions WHERE device_id = ? AND session = ?",
                                (dev, session)).fetchone()
        end = row[0] if row else None
        if end is None:
            m = self.conn.execute("SELECT max(seq) FROM raw_records WHERE device_id = ? AND session = ?",
                                  (dev, session)).fetchone()[0]
            end = (m if m is not None else session) + 1
        return self.lost_in(dev, session, end)

    def gaps(self, dev: int) -> list[tuple[int, int, str]]:
        return [tuple(r) for r in self.conn.execute(
            "SELECT first_seq, last_seq, reason FROM gaps WHERE device_id = ? ORDER BY first_seq", (dev,))]

    def _advance(self, dev: int) -> None:
        """last_seq := the end of the run of stored (or known-missing) seqs from it."""
        first, last = self.conn.execute("SELECT first_seq, last_seq FROM sync_state WHERE device_id = ?",
                                        (dev,)).fetchone()
        if first is None:
            return
        nxt = first if last is None else last + 1
        gaps = {g[0]: g[1] for g in self.conn.execute(
            "SELECT first_seq, last_seq FROM gaps WHERE device_id = ? AND last_seq >= ?", (dev, nxt))}
        for (s,) in self.conn.execute("SELECT seq FROM raw_records WHERE device_id = ? AND seq >= ? ORDER BY seq",
                                      (dev, nxt)).fetchall():
            while nxt in gaps:
                nxt = gaps[nxt] + 1
            if s != nxt:
                break
            nxt += 1
        while nxt in gaps:
            nxt = gaps[nxt] + 1
        new_last = nxt - 1
        if new_last != last and (last is not None or new_last >= first):
            self.conn.execute("UPDATE sync_state SET last_seq = ? WHERE device_id = ?", (new_last, dev))

    def note_sync(self, dev: int, *, acked: int | None = None, done: bool = False,
                  error: str | None = None) -> None:
        now = _now_ms()
        with self._tx():
            if acked is not None:
                self.conn.execute("UPDATE sync_state SET acked_seq = max(coalesce(acked_seq, -1), ?)"
                                  " WHERE device_id = ?", (acked, dev))
            self.conn.execute("UPDATE sync_state SET last_attempt_ms = ?, last_error = ? WHERE device_id = ?",
                              (now, error, dev))
            if done:
                self.conn.execute("UPDATE sync_state SET last_sync_ms = ? WHERE device_id = ?", (now, dev))

    def rebuild_decoded(self, dev: int | None = None) -> None:
        """Drop and rebuild the decoded tables from raw_records (all devices or one)."""
        devs = [dev] if dev is not None else [r[0] for r in self.conn.execute("SELECT id FROM devices")]
        with self._tx():
            for d in devs:
                for t in ("reps", "holds", "sets", "events", "sessions", "boots"):
                    self.conn.execute(f"DELETE FROM {t} WHERE device_id = ?", (d,))
                items = [decode_record(bytes(r[0])) for r in self.conn.execute(
                    "SELECT raw FROM raw_records WHERE device_id = ? ORDER BY seq", (d,))]
                _decode_into(self.conn, d, items)
                _refresh_times(self.conn, d, {x["boot"] for x in items}, _now_ms())

    def summary(self) -> dict:
        c = self.conn.execute
        return {
            "path": str(self.path) if self.path else ":memory:",
            "schema_version": schema_version(self.conn),
            "devices": self.devices(),
            "records": c("SELECT count(*) FROM raw_records").fetchone()[0],
            "sessions": c("SELECT count(*) FROM sessions").fetchone()[0],
            "sets": c("SELECT count(*) FROM sets").fetchone()[0],
            "reps": c("SELECT count(*) FROM reps").fetchone()[0],
            "holds": c("SELECT count(*) FROM holds").fetchone()[0],
            "approximate_times": c("SELECT count(*) FROM reps WHERE time_approx = 1").fetchone()[0],
            "damaged": self.damaged,
            "readonly": self.readonly,
        }

    # -- the file: check, backup, restore -------------------------------------------

    def check(self) -> list[str]:
        """PRAGMA integrity_check (every page): ["ok"] or what is wrong."""
        try:
            return [r[0] for r in self.conn.execute("PRAGMA integrity_check")]
        except sqlite3.DatabaseError as exc:
            return [str(exc)]

    def backup(self, dest: str | os.PathLike) -> Path:
        """A consistent copy (SQLite's online backup: a snapshot of what is committed,
        also while a sync writes) into a new file, mode 0600, journal in the file."""
        dest = Path(dest)
        if dest.exists() and dest.stat().st_size:
            raise DatabaseError(f"{dest} exists: give the backup a new file name")
        identify(dest)  # an empty file: not a folder, not another user's
        _create_private(dest)
        out = sqlite3.connect(str(dest), isolation_level=None)
        try:
            self.conn.backup(out)
            out.execute("PRAGMA journal_mode = DELETE")
        finally:
            out.close()
        return dest

    def restore(self, src: str | os.PathLike) -> int:
        """Replace this database's contents with a backup's (through SQLite, so the
        journal stays consistent); the backup must be a sound repband database.
        Returns the number of records it holds."""
        src = Path(src)
        if identify(src) != "repband" or not src.exists():
            raise DatabaseError(f"{src}: no repband database there to restore")
        if self.readonly:
            self._writable("restoring a backup")
        con = sqlite3.connect(f"{src.resolve().as_uri()}?mode=ro", uri=True)
        try:
            ok = [r[0] for r in con.execute("PRAGMA integrity_check")]
            if ok != ["ok"]:
                raise DatabaseError(f"{src} is damaged too ({ok[0]}): choose another backup")
            con.backup(self.conn)
        finally:
            con.close()
        self.damaged = None
        self.version = migrate(self.conn)
        return self.record_count()


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception (also nested: the
    outermost one owns the transaction)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.own = False

    def __enter__(self):
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN IMMEDIATE")
            self.own = True
        return self

    def __exit__(self, et, ev, tb):
        if not self.own:
            return False
        if et is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
        return False


# ---------------------------------------------------------------------------- CLI


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="PATH", default=None,
                        help=f"database file (default: {default_path()})")


def _one_line(msg: str) -> None:
    print("repband: " + " ".join(str(msg).split()), file=sys.stderr)


def _ranges(lost: list) -> str:
    return ", ".join(f"{a}" if a == b else f"{a}..{b}" for a, b, _r in lost)


def cmd_db(args) -> int:
    try:
        # reading (a missing database is not created); a restore may make a new one
        with Database(locate(args.db, create=bool(args.restore)), salvage=True) as db:
            if args.backup:
                dest = db.backup(args.backup)
                print(f"backed up {db.path} to {dest} ({db.record_count()} records); restore it with "
                      f"repband db --restore {dest}")
                return 0
            if args.restore:
                n = db.restore(args.restore)
                print(f"restored {args.restore} into {db.path}: it holds {n} records now (records synced "
                      f"after the backup are no longer on this computer)")
                return 0
            if args.check:
                found = db.check()
                print(f"{db.path}: integrity_check: " + "; ".join(found[:10]))
                return exits.OK if found == ["ok"] else exits.FAILED
            try:
                s = db.summary()
            except sqlite3.DatabaseError as exc:
                if not db.damaged:
                    raise DatabaseError(f"{db.path}: not a usable database ({exc})") from None
                print(f"{db.path}: DAMAGED ({db.damaged}): repband will not write to it. "
                      + RECOVER.format(p=db.path))
                return exits.FAILED
    except DatabaseError as exc:
        _one_line(exc)
        return exits.FIX
    if args.json:
        sys.stdout.write(json.dumps(s) + "\n")
        return 0
    print(f"{s['path']} (schema version {s['schema_version']})")
    if s["damaged"]:
        print(f"  DAMAGED ({s['damaged']}): repband will not write to it. "
              + RECOVER.format(p=s["path"]))
    if s["readonly"]:
        print(f"  read-only: {s['readonly']}")
    from repband.history import plural  # history imports this module

    print(f"  {plural(s['records'], 'record')}: {plural(s['sessions'], 'session')}, "
          f"{plural(s['sets'], 'set')}, {plural(s['reps'], 'rep')}, {plural(s['holds'], 'hold')}"
          + (f"; {plural(s['approximate_times'], 'rep')} with approximate times"
             if s["approximate_times"] else ""))
    for d in s["devices"]:
        when = (time.strftime("%Y-%m-%d %H:%M", time.localtime(d["last_sync_ms"] / 1000))
                if d["last_sync_ms"] else "never")
        state = " (retired)" if d["retired_ms"] else ""
        print(f"  device {d['address']}{' ' + d['name'] if d['name'] else ''}{state}: {plural(d['records'], 'record')},"
              f" through seq {d['last_seq']}, last sync {when}"
              + (f"; last error: {d['last_error']}" if d["last_error"] else ""))
        damaged = [g for g in d["lost"] if g[2] == GAP_DAMAGED]
        if damaged:
            print(f"    lost on the band (damaged on its flash): seqs {_ranges(damaged)}")
        if d["quarantined"]:
            q = [g for g in d["lost"] if g[2] == GAP_QUARANTINED]
            print(f"    quarantined (failed their checks, kept raw, not shown): {d['quarantined']} "
                  f"(seqs {_ranges(q)})")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("db", help="where the session database is and what it holds; check, back up, restore")
    add_db_argument(p)
    p.add_argument("--json", action="store_true")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--check", action="store_true", help="check every page (PRAGMA integrity_check)")
    g.add_argument("--backup", metavar="FILE", help="write a consistent copy to FILE (also while in use)")
    g.add_argument("--restore", metavar="FILE", help="replace the database's contents with a backup's")
    p.set_defaults(func=cmd_db)
