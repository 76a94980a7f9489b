"""The sync engine (repband.sync) against a fake device and a fault-injecting link:
disconnects at every step, lost / duplicated / reordered records, the host killed
between receiving and committing, a device reboot mid-sync, a device whose seqs
restarted, garbage and truncated records, several devices, re-sync.

The fake device checks the one rule that matters at every delete: every record it is
told it may delete is already committed in the database (read through a separate
connection, so an uncommitted transaction does not count)."""
from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import subprocess
import sys
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repband.db import Database, DeviceInfo, decode_record
from repband.sync import QUARANTINE_KEEP, BandError, GapError, SeqRestartError, SyncInterrupted, sync
from repband.store_stress import StoreLink
from repband.sync_bench import ModelLink, bench_sync, build_history
from repcore import events as E
from repcore import protocol_host as P
from repcore import records as R
from repcore.store import SessionLog

EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z
ADDR = "AA:BB:CC:DD:EE:01"


class LinkLost(ConnectionError):
    """What a transport raises on a disconnect."""


class Killed(BaseException):
    """The host process dies (not an Exception: nothing catches it)."""


# ---------------------------------------------------------------------------- fakes


class FakeDevice:
    """A device's session log with repcore.store.SessionLog's rules: seqs contiguous and
    only growing, count_from counts held records >= seq, delete_through clamps to the
    last seq and deleted records never come back. The clock is unknown after a boot
    until the host sets it."""

    def __init__(self, boot=1, clock=EPOCH):
        self.log: dict[int, bytes] = {}
        self.next_seq = 0
        self.deleted = -1
        self.boot = boot
        self.epoch = clock  # wall s at t_ms = 0 of this boot, None when unknown
        self.t = 1000
        self.session = 0
        self.all: dict[int, bytes] = {}  # everything ever appended (truth)
        self.on_delete = None  # check(seq) called before a delete takes effect
        self.delete_calls = []

    def append(self, rec, session=None):
        sid = self.session if session is None else session
        seq = self.next_seq
        b = R.encode_event(rec, sid, self.boot, seq, self.epoch or 0)
        self.log[seq] = self.all[seq] = b
        self.next_seq += 1
        return seq

    def run_session(self, reps=6, ex=E.EX_BRIDGE, end=True, hold=True):
        t0 = self.t
        self.session = self.next_seq
        self.append((R.K_SESSION_START, t0, E.MODE_AUTO, E.PLACEMENT_THIGH, E.SIDE_RIGHT, 10, 30))
        self.append((E.EV_CALIBRATED, t0 + 500, E.CAL_STANDING))
        ts = t0 + 1000
        for i in range(reps):
            self.append((E.EV_REP, ts + 5000 * i, ex, E.SIDE_NONE, i % 5 == 4, 200 + i, 1500, 2000, 1500))
        self.append((E.EV_SET, ts, ts + 5000 * reps, ex, E.SIDE_NONE, reps, 0, 205, 5000))
        self.t = ts + 5000 * reps + 1000
        if hold:
            self.append((E.EV_HOLD, self.t, self.t + 30000, E.EX_STRETCH, E.SIDE_LEFT, 150))
            self.t += 31000
        if end:
            self.append((R.K_SESSION_END, t0, self.t, R.END_IDLE, 1, reps, 0, int(hold), 30000 * hold, 0))
            self.session = 0
        self.t += 60000

    def reboot(self):
        """Power cycle: an open session gets its end record (old boot, reason reboot),
        the boot counter grows, the clock is unknown, seqs continue."""
        if self.session:
            old = self.session
            start = decode_record(self.log[old]) if old in self.log else None
            if start is not None:
                b = R.encode_event((R.K_SESSION_END, start["t_ms"], self.t, R.END_REBOOT, 0, 0, 0, 0, 0, 0),
                                   old, start["boot"], self.next_seq, start["epoch_s"])
                self.log[self.next_seq] = self.all[self.next_seq] = b
                self.next_seq += 1
            self.session = 0
        self.boot += 1
        self.epoch = None
        self.t = 500

    def wipe(self):
        """Reset / reflash: the log and its meta are gone, seqs start again."""
        self.log.clear()
        self.all.clear()
        self.next_seq = 0
        self.deleted = -1
        self.boot = 1
        self.t = 777  # a new life: other times, so other bytes
        self.delete_calls = []

    def count_from(self, seq):
        return sum(1 for s in self.log if s >= seq)

    def seq_range(self):
        return (min(self.log) if self.log else None), self.next_seq, 1 << 20

    def read_from(self, seq):
        return [self.log[s] for s in sorted(self.log) if s >= seq]

    def delete_through(self, seq):
        self.delete_calls.append(seq)
        if self.on_delete is not None:
            self.on_delete(min(seq, self.next_seq - 1))
        for s in [s for s in self.log if s <= seq]:
            del self.log[s]
        self.deleted = max(self.deleted, min(seq, self.next_seq - 1))


class FaultLink:
    """RecordLink over a FakeDevice with injected faults.

    Steps (counted across the connection): every count_from, every records_from request,
    every record delivered, every stream end, delete_through before and after it took
    effect, every abort. `fail_at=k` raises LinkLost at step k. `drop`, `dup`, `swap`:
    per-record probabilities (lost notification, delivered twice, out of order).
    `mutate(index, bytes) -> bytes` alters the index-th record delivered."""

    def __init__(self, dev, fail_at=None, drop=0.0, dup=0.0, swap=0.0, seed=0, mutate=None,
                 always_drop=()):
        self.dev = dev
        self.fail_at = fail_at
        self.steps = 0
        self.rnd = random.Random(seed)
        self.drop, self.dup, self.swap = drop, dup, swap
        self.mutate = mutate
        self.delivered = 0
        self.always_drop = set(always_drop)
        self.dead = False

    def _step(self):
        if self.dead:
            raise LinkLost("not connected")
        if self.fail_at is not None and self.steps == self.fail_at:
            self.dead = True
            self.steps += 1
            raise LinkLost("disconnected")
        self.steps += 1

    async def count_from(self, seq):
        self._step()
        return self.dev.count_from(seq)

    async def records_from(self, seq):
        self._step()
        out = list(self.dev.read_from(seq))
        i = 0
        while i < len(out):
            r = out[i]
            if self.swap and i + 1 < len(out) and self.rnd.random() < self.swap:
                out[i], out[i + 1] = out[i + 1], out[i]
                r = out[i]
            i += 1
            if R.seq_of(r) in self.always_drop or (self.drop and self.rnd.random() < self.drop):
                continue
            self._step()
            if self.mutate is not None:
                r = self.mutate(self.delivered, r)
            self.delivered += 1
            yield r
            if self.dup and self.rnd.random() < self.dup:
                self._step()
                yield r
        self._step()  # the closing response

    async def delete_through(self, seq):
        self._step()
        self.dev.delete_through(seq)
        self._step()  # the response (lost if the link drops here)

    async def abort(self):
        self._step()

    async def seq_range(self):
        return self.dev.seq_range()


def run(coro):
    return asyncio.run(coro)


def committed_checker(path, dev):
    """on_delete check: every record up to `seq` the device holds is committed."""

    def check(seq):
        con = sqlite3.connect(path)
        try:
            for s in sorted(dev.log):
                if s > seq:
                    break
                row = con.execute("SELECT r.raw FROM raw_records r JOIN devices d ON d.id = r.device_id"
                                  " WHERE d.address = ? AND d.retired_ms IS NULL AND r.seq = ?",
                                  (ADDR, s)).fetchone()
                if row is None:  # or committed as lost: quarantined, damaged on the band
                    row = con.execute("SELECT q.raw FROM quarantine q JOIN devices d ON d.id = q.device_id"
                                      " WHERE d.address = ? AND d.retired_ms IS NULL AND ? BETWEEN"
                                      " q.first_seq AND q.last_seq", (ADDR, s)).fetchone()
                    assert row is not None, f"device told to delete seq {s}, not committed"
                    continue
                assert bytes(row[0]) == dev.log[s]
        finally:
            con.close()

    return check


def assert_complete(db, dev, address=ADDR):
    """The database holds every record the device ever made, once, byte for byte."""
    did = db.device_id(address)
    rows = dict((s, bytes(b)) for s, b in db.conn.execute(
        "SELECT seq, raw FROM raw_records WHERE device_id = ?", (did,)))
    assert rows == dev.all
    assert db.last_seq(did) == max(dev.all)
    n_reps = sum(1 for b in dev.all.values() if b[2] == R.K_REP)
    assert db.conn.execute("SELECT count(*) FROM reps WHERE device_id = ?", (did,)).fetchone()[0] == n_reps
    assert not dev.log, "the device still holds records"


def make_device(sessions=2, **kw):
    dev = FakeDevice(**kw)
    for _ in range(sessions):
        dev.run_session()
    return dev


def sync_until_done(db, dev, link_factory, tries=50, **kw):
    for _ in range(tries):
        try:
            return run(sync(link_factory(), db, DeviceInfo(ADDR), **kw))
        except (SyncInterrupted, GapError):
            continue
    raise AssertionError("sync never completed")


# ---------------------------------------------------------------------------- basics


def test_sync_then_resync_no_duplicates(tmp_path):
    path = tmp_path / "r.db"
    dev = make_device(3)
    dev.on_delete = committed_checker(path, dev)
    with Database(path) as db:
        prog = []
        res = run(sync(FaultLink(dev), db, DeviceInfo(ADDR, "band"), progress=lambda d, t: prog.append((d, t)),
                       batch=7))
        assert res.complete and res.stored == len(dev.all) and res.acked_seq == max(dev.all)
        assert prog[0] == (0, len(dev.all)) and prog[-1] == (len(dev.all), len(dev.all))
        assert all(a[0] <= b[0] for a, b in zip(prog, prog[1:]))
        assert_complete(db, dev)
        # nothing new: nothing stored, nothing requested past the end
        calls = list(dev.delete_calls)
        res2 = run(sync(FaultLink(dev), db, DeviceInfo(ADDR)))
        assert res2.complete and res2.stored == 0 and res2.received == 0
        assert dev.delete_calls == calls  # nothing to delete: not asked again
        # more sessions later: only they come
        dev.run_session()
        res3 = run(sync(FaultLink(dev), db, DeviceInfo(ADDR)))
        assert res3.stored == 11 and res3.first_seq == res.last_seq + 1
        assert_complete(db, dev)
        assert db.conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 4
        st_ = db.sync_state(db.device_id(ADDR))
        assert st_["last_sync_ms"] and st_["last_error"] is None


def test_lost_ack_is_verified_then_repeated(tmp_path):
    """The delete of an earlier sync never reached the device: the records it still
    holds are read again, compared byte for byte, not stored twice, then deleted."""
    path = tmp_path / "r.db"
    dev = make_device(2)
    with Database(path) as db:
        link = FaultLink(dev)
        n = len(dev.all)
        # fail at the delete (before it took effect)
        clean = FaultLink(make_device(2))
        run(sync(clean, Database(":memory:"), DeviceInfo(ADDR)))
        link = FaultLink(dev, fail_at=clean.steps - 2)
        with pytest.raises(SyncInterrupted):
            run(sync(link, db, DeviceInfo(ADDR)))
        assert db.record_count() == n and len(dev.log) == n
        dev.run_session()
        dev.on_delete = committed_checker(path, dev)
        res = run(sync(FaultLink(dev), db, DeviceInfo(ADDR)))
        assert res.duplicates == n and res.stored == 11
        assert_complete(db, dev)


# ---------------------------------------------------------------------------- disconnects


def _scenario(kind):
    dev = make_device(2)
    if kind == "resume":
        # an earlier sync stored the first 9 records but its delete was lost; 2 more
        # sessions came since, one still open
        dev.run_session()
        dev.run_session(end=False)
    return dev


def _steps(kind):
    dev = _scenario(kind)
    db = Database(":memory:")
    if kind == "resume":
        items = [(dev.log[s], decode_record(dev.log[s])) for s in range(9)]
        did = db.upsert_device(ADDR)
        db.set_base(did, 0)
        db.store(did, items)
    link = FaultLink(dev)
    run(sync(link, db, DeviceInfo(ADDR), batch=4))
    return link.steps


STEPS = {k: _steps(k) for k in ("fresh", "resume")}


@pytest.mark.parametrize("kind,step", [(k, i) for k in STEPS for i in range(STEPS[k])])
def test_disconnect_at_every_step(tmp_path, kind, step):
    path = tmp_path / "r.db"
    dev = _scenario(kind)
    with Database(path) as db:
        if kind == "resume":
            did = db.upsert_device(ADDR)
            db.set_base(did, 0)
            db.store(did, [(dev.log[s], decode_record(dev.log[s])) for s in range(9)])
        dev.on_delete = committed_checker(path, dev)
        link = FaultLink(dev, fail_at=step)
        with pytest.raises(SyncInterrupted) as ei:
            run(sync(link, db, DeviceInfo(ADDR), batch=4))
        assert "Run sync again" in str(ei.value)
        r = ei.value.result
        assert r is not None and not r.complete
        # the database is consistent: last_seq is a contiguous run of stored records
        did = db.device_id(ADDR)
        last = db.last_seq(did)
        if last is not None:
            assert db.conn.execute("SELECT count(*) FROM raw_records WHERE device_id = ? AND seq <= ?",
                                   (did, last)).fetchone()[0] == last + 1
        # the device deleted nothing the database does not hold
        assert dev.deleted <= (last if last is not None else -1)
    # the host restarts: a new process opens the database and syncs again
    with Database(path) as db:
        res = run(sync(FaultLink(dev), db, DeviceInfo(ADDR), batch=4))
        assert res.complete
        assert_complete(db, dev)


def test_repeated_disconnects_random(tmp_path):
    """Many syncs, each cut at a random step, while the device keeps recording."""
    path = tmp_path / "r.db"
    rnd = random.Random(5)
    dev = make_device(1)
    dev.on_delete = committed_checker(path, dev)
    with Database(path) as db:
        for i in range(60):
            if i % 7 == 0:
                dev.run_session()
            try:
                run(sync(FaultLink(dev, fail_at=rnd.randint(0, 30)), db, DeviceInfo(ADDR), batch=5))
            except SyncInterrupted:
                pass
        sync_until_done(db, dev, lambda: FaultLink(dev))
        assert_complete(db, dev)


# ---------------------------------------------------------------------------- lost / duplicated notifications


@pytest.mark.parametrize("seed", range(12))
def test_lost_duplicated_reordered(tmp_path, seed):
    path = tmp_path / "r.db"
    dev = make_device(4)
    dev.on_delete = committed_checker(path, dev)
    with Database(path) as db:
        rnd = random.Random(seed)
        res = sync_until_done(db, dev, lambda: FaultLink(dev, drop=0.15, dup=0.15, swap=0.15,
                                                         seed=rnd.randrange(10 ** 6)), batch=6)
        assert res.complete
        assert_complete(db, dev)


def test_missing_seq_is_rerequested_never_skipped(tmp_path):
    path = tmp_path / "r.db"
    dev = make_device(3)
    dev.on_delete = committed_checker(path, dev)
    with Database(path) as db:
        # seq 5 never arrives, though the device holds it
        with pytest.raises(GapError) as ei:
            run(sync(FaultLink(dev, always_drop={5}), db, DeviceInfo(ADDR), batch=4, max_retries=3))
        assert "seq 5" in str(ei.value)
        did = db.device_id(ADDR)
        assert db.last_seq(did) == 4
        assert dev.deleted == 4 and 5 in dev.log
        assert ei.value.result.rerequests >= 3
        # what came after the gap is kept (not lost if the device dies), not acknowledged
        assert db.record_count(did) == len(dev.all) - 1
        # a later sync over a good link fills the gap: nothing more is transferred twice
        res = run(sync(FaultLink(dev), db, DeviceInfo(ADDR)))
        assert res.complete and res.stored == 1
        assert_complete(db, dev)


def test_lost_tail_is_rerequested(tmp_path):
    dev = make_device(2)
    last = max(dev.all)
    with Database(tmp_path / "r.db") as db:
        link = FaultLink(dev, always_drop={last - 1, last})
        with pytest.raises(GapError):
            run(sync(link, db, DeviceInfo(ADDR), max_retries=2))
        assert dev.deleted == last - 2
        run(sync(FaultLink(dev), db, DeviceInfo(ADDR)))
        assert_complete(db, dev)


def test_gap_the_device_does_not_hold_is_reported(tmp_path):
    """Records deleted on the device before this database got them (another host
    synced them, or flash damage): not re-requested forever, recorded and reported."""
    dev = make_device(3)
    with Database(tmp_path / "r.db") as db:
        did = db.upsert_device(ADDR)
        db.set_base(did, 0)
        db.store(did, [(dev.log[s], decode_record(dev.log[s])) for s in range(5)])
        for s in range(5, 12):
            del dev.log[s]
            del dev.all[s]
        res = run(sync(FaultLink(dev), db, DeviceInfo(ADDR)))
        assert res.complete and res.missing == [(5, 11)]
        assert "5..11" in res.warnings[0]
        assert db.gaps(did) == [(5, 11, "not on the device")]
        assert db.last_seq(did) == max(dev.all)


def test_first_sync_of_a_log_that_starts_late(tmp_path):
    dev = make_device(3)
    for s in range(8):  # deleted before this host ever saw the device
        del dev.log[s]
        del dev.all[s]
    with Database(tmp_path / "r.db") as db:
        # seq 8 (the device's first) lost: the log's start must not be taken as 9
        with pytest.raises(GapError):
            run(sync(FaultLink(dev, always_drop={8}), db, DeviceInfo(ADDR), max_retries=1))
        assert db.last_seq(db.device_id(ADDR)) is None and dev.deleted == -1
        res = run(sync(FaultLink(dev), db, DeviceInfo(ADDR)))
        assert res.complete and res.missing == []
        assert db.sync_state(db.device_id(ADDR))["first_seq"] == 8
        assert_complete(db, dev)


def test_empty_device(tmp_path):
    dev = FakeDevice()
    with Database(tmp_path / "r.db") as db:
        res = run(sync(FaultLink(dev), db, DeviceInfo(ADDR)))
        assert res.complete and res.stored == 0 and res.acked_seq is None
        dev.run_session()
        res = run(sync(FaultLink(dev), db, DeviceInfo(ADDR)))
        assert_complete(db, dev)


# ---------------------------------------------------------------------------- host killed


@pytest.mark.parametrize("kill_at", range(5))
def test_host_killed_inside_commit(tmp_path, kill_at):
    """The process dies inside a batch's transaction (after its rows were written,
    before COMMIT): the batch is not in the database after reopening, the device
    deleted nothing past what was committed, the next sync gets it again."""
    path = tmp_path / "r.db"
    dev = make_device(3)
    dev.on_delete = committed_checker(path, dev)
    db = Database(path)
    calls = [0]

    def hook():
        calls[0] += 1
        if calls[0] == kill_at + 1:
            raise Killed()

    db.before_commit = hook
    with pytest.raises(Killed):
        run(sync(FaultLink(dev), db, DeviceInfo(ADDR), batch=6))
    db.conn.close()  # the process is gone: nothing else of it runs
    assert dev.deleted == -1
    with Database(path) as db2:
        did = db2.device_id(ADDR)
        stored = db2.record_count(did)
        assert stored == 6 * kill_at
        res = run(sync(FaultLink(dev), db2, DeviceInfo(ADDR), batch=6))
        assert res.complete and res.stored == len(dev.all) - stored
        assert_complete(db2, dev)


def test_host_process_killed_for_real(tmp_path):
    """A child process syncs and calls os._exit in the middle of its second batch's
    transaction; the parent reopens the file and finishes the sync."""
    path = tmp_path / "r.db"
    child = textwrap.dedent(f"""
        import asyncio, os, sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_sync import FakeDevice, FaultLink, make_device, ADDR
        from repband.db import Database, DeviceInfo, decode_record
        from repband.sync import sync
        dev = make_device(3)
        db = Database({str(path)!r})
        n = [0]
        def hook():
            n[0] += 1
            if n[0] == 2:
                os._exit(9)
        db.before_commit = hook
        asyncio.run(sync(FaultLink(dev), db, DeviceInfo(ADDR), batch=6))
    """)
    p = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60)
    assert p.returncode == 9, p.stderr
    dev = make_device(3)  # the same device, untouched: it was never told to delete
    with Database(path) as db:
        did = db.device_id(ADDR)
        assert db.record_count(did) == 6 and db.last_seq(did) == 5
        dev.on_delete = committed_checker(path, dev)
        res = run(sync(FaultLink(dev), db, DeviceInfo(ADDR)))
        # the 6 committed records the device still holds are read again and compared
        assert res.complete and res.duplicates == 6 and res.stored == len(dev.all) - 6
        assert_complete(db, dev)


# ---------------------------------------------------------------------------- device reboot


def test_device_reboot_mid_sync(tmp_path):
    path = tmp_path / "r.db"
    dev = make_device(2)
    dev.run_session(end=False)  # a session in progress
    open_sid = dev.session
    dev.on_delete = committed_checker(path, dev)
    with Database(path) as db:
        with pytest.raises(SyncInterrupted):
            run(sync(FaultLink(dev, fail_at=15), db, DeviceInfo(ADDR), batch=4))
        dev.reboot()  # power cut: the link dropped because the device restarted
        dev.run_session(reps=3)  # recorded before any phone set the clock
        # the host connects: it reads boot and uptime, sets the clock
        uptime = dev.t
        seen = 1_768_000_000_000
        res = run(sync(FaultLink(dev), db, DeviceInfo(ADDR, boot=dev.boot, uptime_ms=uptime, seen_ms=seen)))
        assert res.complete
        assert_complete(db, dev)
        did = db.device_id(ADDR)
        reason = db.conn.execute("SELECT end_reason FROM sessions WHERE device_id = ? AND session = ?",
                                 (did, open_sid)).fetchone()[0]
        assert reason == R.END_REBOOT
        # boot 2's records carry no clock: estimated from the uptime, flagged approximate
        rows = db.conn.execute("SELECT t_ms, wall_ms, time_approx, time_source FROM reps WHERE boot = 2").fetchall()
        assert rows and all(a == 1 and s == "uptime" and w == seen - uptime + t for t, w, a, s in rows)
        # boot 1's are exact
        assert db.conn.execute("SELECT count(*) FROM reps WHERE boot = 1 AND time_approx = 1").fetchone()[0] == 0
        # now the clock is set in boot 2 and a record carries it: boot 2 becomes exact
        dev.epoch = (seen - uptime) // 1000 + 3
        dev.run_session(reps=2)
        run(sync(FaultLink(dev), db, DeviceInfo(ADDR, boot=dev.boot)))
        rows = db.conn.execute("SELECT t_ms, wall_ms, time_approx, time_source FROM reps WHERE boot = 2").fetchall()
        assert all(a == 0 and w == dev.epoch * 1000 + t for t, w, a, s in rows)
        assert {s for *_, s in rows} == {"boot", "record"}
        assert db.conn.execute("SELECT count(*) FROM sessions WHERE time_approx = 1").fetchone()[0] == 0


def test_old_boot_without_clock_estimated_from_next_boot(tmp_path):
    dev = FakeDevice(clock=None)  # boot 1: the clock was never set
    dev.run_session()
    t_end1 = dev.t
    dev.reboot()
    dev.epoch = EPOCH + 86400
    dev.run_session()
    with Database(tmp_path / "r.db") as db:
        run(sync(FaultLink(dev), db, DeviceInfo(ADDR)))
        b1 = db.conn.execute("SELECT offset_ms, time_approx, time_source FROM boots WHERE boot = 1").fetchone()
        last_t1 = db.conn.execute("SELECT max_t_ms FROM boots WHERE boot = 1").fetchone()[0]
        assert b1 == ((EPOCH + 86400) * 1000 - last_t1, 1, "next_boot")
        assert last_t1 <= t_end1
        assert db.conn.execute("SELECT count(*) FROM reps WHERE boot = 1 AND time_approx = 1 AND wall_ms IS NOT NULL"
                               ).fetchone()[0] == 6


# ---------------------------------------------------------------------------- seq restart


def test_device_reset_is_refused_without_loss(tmp_path):
    path = tmp_path / "r.db"
    dev = make_device(2)
    with Database(path) as db:
        run(sync(FaultLink(dev), db, DeviceInfo(ADDR)))
        old = dict(dev.all)
        dev.wipe()  # reflashed: seqs start at 0 again
        dev.run_session(reps=3)
        link = FaultLink(dev)
        with pytest.raises(SeqRestartError) as ei:
            run(sync(link, db, DeviceInfo(ADDR)))
        msg = str(ei.value)
        assert "restarted" in msg and "--device-reset" in msg
        assert dev.delete_calls == []  # no silent acknowledgement
        did = db.device_id(ADDR)
        assert {s: bytes(b) for s, b in db.conn.execute("SELECT seq, raw FROM raw_records")} == old
        assert db.sync_state(did)["last_error"] == msg
        # the remedy: keep the old log under the retired device, sync the new one
        assert db.retire_device(ADDR) == did
        res = run(sync(FaultLink(dev), db, DeviceInfo(ADDR)))
        assert res.complete and res.device_id != did
        assert_complete(db, dev)
        assert db.record_count(did) == len(old)


def test_device_reset_with_more_records_than_before(tmp_path):
    dev = make_device(1)
    with Database(tmp_path / "r.db") as db:
        run(sync(FaultLink(dev), db, DeviceInfo(ADDR)))
        dev.wipe()
        for _ in range(3):
            dev.run_session()  # past the old last seq
        with pytest.raises(SeqRestartError):
            run(sync(FaultLink(dev), db, DeviceInfo(ADDR)))
        assert dev.delete_calls == [] and len(dev.log) == len(dev.all)
        assert db.last_seq(db.device_id(ADDR)) == 10


def test_same_seq_different_bytes_within_a_sync(tmp_path):
    dev = make_device(1)
    other = FakeDevice(boot=7)
    other.run_session()

    class Twice(FaultLink):  # the link mixes in another log's record with the same seq
        async def records_from(self, seq):
            async for r in super().records_from(seq):
                yield r
                if R.seq_of(r) == 3:
                    yield other.log[3]

    with Database(tmp_path / "r.db") as db:
        with pytest.raises(SeqRestartError):
            run(sync(Twice(dev), db, DeviceInfo(ADDR)))
        assert dev.delete_calls == []


# ---------------------------------------------------------------------------- garbage


def _mutations():
    return st.one_of(
        st.tuples(st.just("flip"), st.integers(0, 46), st.integers(1, 255)),
        st.tuples(st.just("truncate"), st.integers(0, 46), st.just(0)),
        st.tuples(st.just("extend"), st.integers(1, 20), st.integers(0, 255)),
        st.tuples(st.just("garbage"), st.integers(0, 80), st.integers(0, 2 ** 31)),
    )


def _apply(m, b):
    what, a, c = m
    if what == "flip":
        a %= len(b)
        return b[:a] + bytes([b[a] ^ c]) + b[a + 1:]
    if what == "truncate":
        return b[:a % len(b)]
    if what == "extend":
        return b + bytes([c]) * a
    return random.Random(c).randbytes(a)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(index=st.integers(0, 30), m=_mutations())
def test_record_garbled_once_on_the_way_is_asked_for_again(tmp_path_factory, index, m):
    """Bytes garbled once (the link) are asked for again: nothing is lost or quarantined."""
    path = tmp_path_factory.mktemp("g") / "r.db"
    dev = make_device(3)
    dev.on_delete = committed_checker(path, dev)
    with Database(path) as db:
        link = FaultLink(dev, mutate=lambda i, b: _apply(m, b) if i == index else b)
        res = run(sync(link, db, DeviceInfo(ADDR), batch=4))
        assert res.complete and res.rerequests >= 1 and not res.quarantined
        assert_complete(db, dev)
        assert db.quarantined() == []


def _crc_flipped(b):
    return b[:-1] + bytes([b[-1] ^ 0x40])


def _forged(seq, payload=(255, 2, 0, 400, 900, 300, 1000), kind=R.K_REP, fmt="<BBBhHHH"):
    """A record with a valid CRC over whatever the band wants to say."""
    import struct
    import zlib
    body = struct.pack("<BBBBHHIIII", R.MAGIC, R.VERSION, kind, R.FLAG_WALL, struct.calcsize(fmt), 1, seq,
                       1000, EPOCH, 0) + struct.pack(fmt, *payload)
    return body + struct.pack("<I", zlib.crc32(body))


class Poison(FaultLink):
    """The band sends `poison(seq, bytes)` instead of its record, every time."""

    def __init__(self, dev, poison, **kw):
        super().__init__(dev, **kw)
        self.poison = poison

    async def records_from(self, seq):
        async for r in super().records_from(seq):
            yield self.poison(R.seq_of(r), r)


@pytest.mark.parametrize("first_sync", [True, False])
def test_bad_crc_from_the_band_is_quarantined_and_acknowledged(tmp_path, first_sync):
    """Issue 11: a record with a bad CRC made every sync fail as 'link lost', and a
    first sync never acknowledged anything, so the band deleted nothing, ever."""
    dev = make_device(2)
    path = tmp_path / "r.db"
    dev.on_delete = committed_checker(path, dev)
    with Database(path) as db:
        if not first_sync:
            run(sync(FaultLink(dev), db, DeviceInfo(ADDR)))
            dev.run_session()
        victim = dev.next_seq - 5
        good = dev.log[victim]
        link = Poison(dev, lambda s, b: _crc_flipped(b) if s == victim else b)
        res = run(sync(link, db, DeviceInfo(ADDR)))
        assert res.complete and res.quarantined and res.quarantined[0][:2] == (victim, victim)
        assert res.rerequests >= 1  # asked once more: the same bytes came, so they are the band's
        did = db.device_id(ADDR)
        assert db.last_seq(did) == dev.next_seq - 1 and not dev.log  # acknowledged: the band freed it
        q = db.quarantined(did)
        assert [(x["first_seq"], x["last_seq"], x["raw"]) for x in q] == [(victim, victim, _crc_flipped(good))]
        assert "bad CRC" in q[0]["reason"]
        assert db.raw(did, victim) is None
        assert (victim, victim, "quarantined") in db.gaps(did)
        assert any("quarantined" in w for w in res.warnings)


def test_a_long_stretch_of_bad_bytes_is_kept_bounded(tmp_path):
    """Issue 11: a band sending garbage in place of a record had all of it kept in one
    quarantine row (in memory first): 5 MB here, up to gigabytes from a hostile band."""
    dev = make_device(2)
    victim = dev.next_seq - 5

    class Flood(FaultLink):
        async def records_from(self, seq):
            async for r in super().records_from(seq):
                if R.seq_of(r) != victim:
                    yield r
                    continue
                for _ in range(5000):  # the Reassembler's pieces of a stretch out of step
                    yield bytes([0x5A]) * 1024

    with Database(tmp_path / "r.db") as db:
        res = run(sync(Flood(dev), db, DeviceInfo(ADDR)))
        assert res.complete and [q[:2] for q in res.quarantined] == [(victim, victim)]
        q = db.quarantined(db.device_id(ADDR))
        assert len(q) == 1 and 1024 <= len(q[0]["raw"]) <= QUARANTINE_KEEP
        assert "5120000 bytes" in q[0]["reason"] and not dev.log


def test_absurd_contents_are_quarantined_never_shown(tmp_path):
    """Issue 11: valid CRCs over exercise 255, a rom of -3276.8 deg, a hold of 49 days
    were stored and shown as data."""
    dev = make_device(1, reps=0) if False else make_device(1)
    victims = {3: _forged(3), 4: _forged(4, (255, 2, 0, -32768, 900, 300, 1000)),
               5: _forged(5, (0xFFFFFFFF, 3, 1, 0), R.K_HOLD, "<IBBh")}
    with Database(tmp_path / "r.db") as db:
        res = run(sync(Poison(dev, lambda s, b: victims.get(s, b)), db, DeviceInfo(ADDR)))
        assert res.complete and [q[:2] for q in res.quarantined] == [(3, 3), (4, 4), (5, 5)]
        assert res.rerequests == 0  # a valid CRC: the band's own, no need to ask again
        did = db.device_id(ADDR)
        assert db.conn.execute("SELECT count(*) FROM reps WHERE exercise NOT IN (0, 1, 2, 3)"
                               " OR abs(rom_x10) > 1800").fetchone()[0] == 0
        assert db.conn.execute("SELECT count(*) FROM holds").fetchone()[0] == 1  # the real one only
        assert not dev.log and db.last_seq(did) == dev.next_seq - 1


@pytest.mark.parametrize("bogus", [0xFFFFFFFF, 100_000])
def test_seq_outside_the_band_range_is_refused(tmp_path, bogus):
    """Issue 11: seq 0xFFFFFFFF recorded a gap 3..0xFFFFFFFE and broke every later sync
    ("'I' format requires ..."); seq 100000 recorded a bogus gap and then refused the
    band's real records."""
    dev = make_device(2)
    with Database(tmp_path / "r.db") as db:
        class Bogus(FaultLink):
            async def records_from(self, seq):
                async for r in super().records_from(seq):
                    yield r
                    if R.seq_of(r) == 2:
                        yield R.encode_event((E.EV_FAULT, 5, 1), 0, 1, bogus, EPOCH)

        with pytest.raises(BandError, match=f"record seq {bogus}, outside the seqs it reports holding"):
            run(sync(Bogus(dev), db, DeviceInfo(ADDR)))
        did = db.device_id(ADDR)
        assert db.last_seq(did) == 2 and db.gaps(did) == [] and dev.deleted == 2
        res = run(sync(FaultLink(dev), db, DeviceInfo(ADDR)))  # the band behaves: all is well
        assert res.complete
        assert_complete(db, dev)


def test_one_sync_accepts_at_most_what_the_band_log_holds(tmp_path):
    """Issue 11: a band could stream without limit (600 k records in one run)."""
    dev = make_device(1)
    cap = 40 * R.MIN_RECORD  # a log that holds 40 records at most

    class Endless(FaultLink):
        async def seq_range(self):
            return 0, self.dev.next_seq, cap

        async def records_from(self, seq):
            while True:  # "appends" as fast as it sends
                dev.append((E.EV_FAULT, 5, 1))
                yield dev.log[dev.next_seq - 1]

    with Database(tmp_path / "r.db") as db:
        with pytest.raises(BandError, match="more new records than its log can hold"):
            run(sync(Endless(dev), db, DeviceInfo(ADDR)))
        assert db.record_count() <= 40

    class Huge(FaultLink):
        async def seq_range(self):
            return 0, 10**6, cap

    with Database(tmp_path / "h.db") as db:
        with pytest.raises(BandError, match="more records than its log of 1160 bytes can hold"):
            run(sync(Huge(dev), db, DeviceInfo(ADDR)))
        assert db.record_count() == 0


def test_a_band_claiming_a_log_larger_than_any_band_is_refused(tmp_path):
    """Issue 11: the per-sync bound came from the capacity the band reports, so a band
    claiming a 4 GB log (u32 bytes) could stream about 148 million records in one sync."""
    dev = make_device(1)

    class Boastful(FaultLink):
        async def seq_range(self):
            return 0, self.dev.next_seq, 0xFFFFFFFF

    with Database(tmp_path / "r.db") as db:
        with pytest.raises(BandError, match="larger than any band's"):
            run(sync(Boastful(dev), db, DeviceInfo(ADDR)))
        assert db.record_count() == 0 and dev.log


# ---------------------------------------------------------------------------- several devices, real log


def test_several_devices_one_database(tmp_path):
    a = make_device(2)
    b = make_device(3, boot=4)  # same seqs as a
    with Database(tmp_path / "r.db") as db:
        ra = run(sync(FaultLink(a), db, DeviceInfo("AA:00:00:00:00:01")))
        rb = run(sync(FaultLink(b), db, DeviceInfo("AA:00:00:00:00:02")))
        assert ra.device_id != rb.device_id
        assert_complete(db, a, "AA:00:00:00:00:01")
        assert_complete(db, b, "AA:00:00:00:00:02")
        a.run_session()
        run(sync(FaultLink(a), db, DeviceInfo("AA:00:00:00:00:01")))
        assert_complete(db, a, "AA:00:00:00:00:01")
        assert db.record_count() == len(a.all) + len(b.all)
        assert len(db.devices()) == 2


def test_against_the_firmware_session_log(tmp_path):
    """The real flash log (repcore.store) behind the link, with a reboot in between."""
    hist = build_history(9)
    log = SessionLog(str(tmp_path / "log"), capacity=16 * 1024, segment_size=1024)
    for rec in hist[:100]:
        log.append(rec)
    with Database(tmp_path / "r.db") as db:
        res = run(sync(StoreLink(log), db, DeviceInfo(ADDR)))
        assert res.complete and res.stored == 100 and log.count_from(0) == 0
        for rec in hist[100:]:
            log.append(rec)
        log.close()
        log = SessionLog(str(tmp_path / "log"), capacity=16 * 1024, segment_size=1024)  # a reboot
        log.append(hist[5])  # a record of the new boot
        res = run(sync(StoreLink(log), db, DeviceInfo(ADDR)))
        assert res.complete and res.duplicates == 0 and db.record_count() == len(hist) + 1
        assert log.count_from(0) == 0
        assert db.last_seq(db.device_id(ADDR)) == log.next_seq - 1


# ---------------------------------------------------------------------------- benchmark


def test_bench_sync_meets_the_model_targets():
    r = bench_sync(90)
    assert r["sessions"] == 90 and r["db_records"] == r["records"]
    assert r["model_link_s"] <= 5.0 and r["capacity_use"] >= 0.70 and r["ok"]


def test_model_link_packs_whole_records():
    recs = build_history(3)
    link = ModelLink(recs)
    with Database(":memory:") as db:
        run(sync(link, db, DeviceInfo(ADDR)))
    assert link.notifications >= sum(len(r) for r in recs) / 182


# ---------------------------------------------------------------------------- bit rot on the band


def _flip_file(path, byte, bit=0):
    with open(path, "r+b") as f:
        f.seek(byte)
        b = f.read(1)[0]
        f.seek(byte)
        f.write(bytes([b ^ (1 << bit)]))


def test_bit_rot_in_an_older_segment_sync_completes(tmp_path):
    """Issue 11: one flipped bit in an older segment stopped every sync ("records from
    seq 111 did not arrive in 6 requests in a row") and filled the band."""
    root = str(tmp_path / "log")
    hist = build_history(12)
    log = SessionLog(root, capacity=16 * 1024, segment_size=1024)
    for rec in hist[:200]:
        log.append(rec)
    sixth = sorted(n for n in os.listdir(root) if n.endswith(".seg"))[5]
    _flip_file(os.path.join(root, sixth), 100, 2)
    log.close()
    log = SessionLog(root, capacity=16 * 1024, segment_size=1024)
    lost = [(d["seq"], d["last_seq"]) for d in map(decode_record, log.read_from(0)) if d["kind"] == R.K_DAMAGED]
    assert len(lost) == 1
    with Database(tmp_path / "r.db") as db:
        res = run(sync(StoreLink(log), db, DeviceInfo(ADDR)))
        did = db.device_id(ADDR)
        assert res.complete and res.damaged == lost and res.stored == 200 - 1
        assert db.last_seq(did) == 200 and log.count_from(0) == 0  # the band freed everything
        assert (lost[0][0], lost[0][1], "damaged on the band") in db.gaps(did)
        # the session the damaged record belonged to says so
        sess = decode_record(hist[lost[0][0] - 1])["session"] or decode_record(hist[lost[0][0] + 1])["session"]
        assert db.session_lost(did, sess) == [(lost[0][0], lost[0][1], "damaged on the band")]
        for rec in hist[200:260]:  # the band goes on: nothing refused, nothing full
            log.append(rec)
        assert run(sync(StoreLink(log), db, DeviceInfo(ADDR))).complete and db.last_seq(did) == 260


def test_bit_rot_in_records_the_host_holds_is_not_a_device_reset(tmp_path):
    """Issue 11: when the host already held 53-60 and the band's newest segment lost
    them to a flipped bit, every sync said "device reset ... --device-reset"."""
    root = str(tmp_path / "log")
    hist = build_history(3)
    log = SessionLog(root, capacity=16 * 1024, segment_size=4096)
    for rec in hist[:60]:
        log.append(rec)

    class NoDelete(StoreLink):  # the delete never reaches the band
        async def delete_through(self, seq):
            raise ConnectionError("disconnected")

    with Database(tmp_path / "r.db") as db:
        with pytest.raises(SyncInterrupted):
            run(sync(NoDelete(log), db, DeviceInfo(ADDR)))
        log.close()
        newest = sorted(n for n in os.listdir(root) if n.endswith(".seg"))[-1]
        _flip_file(os.path.join(root, newest), os.path.getsize(os.path.join(root, newest)) - 200, 5)
        log = SessionLog(root, capacity=16 * 1024, segment_size=4096)
        for rec in hist[60:70]:
            log.append(rec)
        res = run(sync(StoreLink(log), db, DeviceInfo(ADDR)))
        did = db.device_id(ADDR)
        assert res.complete and res.stored == 10 and db.last_seq(did) == log.next_seq - 1
        assert db.record_count(did) == 70 and log.count_from(0) == 0
        assert res.damaged == []  # the host had those records: nothing is lost


def test_damaged_records_show_in_their_session(tmp_path, capsys):
    """Issue 11: the damaged range is visible in `repband db` and in the session it
    belongs to (`repband show`)."""
    from repband import cli

    root = str(tmp_path / "log")
    hist = build_history(6)
    log = SessionLog(root, capacity=16 * 1024, segment_size=1024)
    for rec in hist[:150]:
        log.append(rec)
    log.close()
    third = sorted(n for n in os.listdir(root) if n.endswith(".seg"))[2]
    _flip_file(os.path.join(root, third), 300, 1)
    log = SessionLog(root, capacity=16 * 1024, segment_size=1024)
    path = tmp_path / "r.db"
    with Database(path) as db:
        res = run(sync(StoreLink(log), db, DeviceInfo(ADDR)))
        (a, b), = res.damaged
        sess = decode_record(hist[a - 2])["session"]  # (seqs start at 1 in the log, hist at 0)
        sid = db.conn.execute("SELECT id FROM sessions WHERE session = ?", (sess,)).fetchone()[0]
    assert cli.main(["db", "--db", str(path)]) == 0
    assert f"lost on the band (damaged on its flash): seqs {a}" in capsys.readouterr().out
    assert cli.main(["show", str(sid), "--db", str(path)]) == 0
    assert f"1 record of the band lost (damaged on the band: seq {a})" in capsys.readouterr().out


# ---------------------------------------------------------------------------- a hostile band on the real RecordLink


class Chatter:
    """A GATT client whose band answers a records request (or a count) with the same
    notification, again and again, and never with a response."""

    is_connected = True

    def __init__(self, frame_uuid):
        self.cbs = {}
        self.frame_uuid = frame_uuid
        self.task = None
        self.sent = 0

    async def start_notify(self, uuid, cb):
        self.cbs[uuid] = cb

    async def stop_notify(self, uuid):
        self.cbs.pop(uuid, None)

    async def write(self, uuid, data, response=True):
        async def flood():
            rec = R.encode_event((E.EV_FAULT, 5, 1), 0, 1, 1, EPOCH)
            while self.sent < 5000:
                self.sent += 1
                if self.frame_uuid == P.RECORDS_UUID:
                    self.cbs[P.RECORDS_UUID](None, bytes([P.FRAME_START]) + rec)  # then duplicates of it
                else:  # a stale answer: the response to an abort nobody sent
                    self.cbs[P.RACP_UUID](None, P.encode_racp_response(P.RACP_ABORT, P.RC_SUCCESS))
                await asyncio.sleep(0.001)

        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(flood())


@pytest.mark.parametrize("what", ["records", "count"])
@pytest.mark.parametrize("chatter", ["frames", "stale answers"])
def test_a_band_that_chatters_without_answering_is_given_up(what, chatter):
    """Issue 11: the link's wait for an answer started again at every notification, so a
    band repeating a frame (dropped as a duplicate) or a stale answer kept a sync waiting
    for ever."""
    from repband.link import LinkLost, RecordLink

    client = Chatter(P.RECORDS_UUID if chatter == "frames" else P.RACP_UUID)

    async def go():
        link = await RecordLink(client, timeout=0.3, check=False).open()
        try:
            if what == "count":
                await link.count_from(0)
            else:
                async for _r in link.records_from(0):
                    pass
        finally:
            client.task.cancel()

    with pytest.raises(LinkLost, match="no answer from the band"):
        run(go())
    assert client.sent < 5000  # given up while it still chattered (0.3 s: a few hundred at most)
