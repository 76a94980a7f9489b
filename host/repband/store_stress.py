"""The session log (repcore.store) and the host's sync under random power cuts and
1 to 3 bits flipped anywhere in its files: lives of a band, each checked for records
lost without a word, sequence numbers given twice, invalid records read, syncs that
do not complete. `repband stress` runs thousands (figures in docs/storage.md); the
tests run a few hundred (tests/test_store.py), and use its fault-injecting file layer.

A life: a band boots a few times; each boot it records a session (about 50 records)
while a host syncs some of the time (the real sync engine, repband.sync, into an
in-memory database, over the log itself); the power may be cut at any mutating file
call (open for writing, write, flush, close, rename, remove, mkdir), keeping none,
part or all of the interrupted write, with an atomic rename or not (FAT); while it is
off, 1 to 3 bits in all flip anywhere in the log's files (segments, meta, meta.tmp). At the end the
host syncs until done, and the database is compared with every record whose append
returned: each is there byte for byte, or in a range the band reported damaged.
"""
from __future__ import annotations

import asyncio
import json
import random
import sys
import time

from repcore import events as E
from repcore import records as R
from repcore.store import SessionLog

LOG = "/flash/log"
SEG = 512  # small segments: a life crosses many segment boundaries


class PowerCut(Exception):
    """The power went: nothing after this happened (not an OSError: nobody catches it)."""


class _File:
    def __init__(self, fs, path, mode):
        self.fs, self.path, self.mode = fs, path, mode
        self.pending = bytearray()  # written, not flushed
        self.closed = False

    def write(self, data):
        data = bytes(data)
        self.fs._op(self, data)
        if self.fs.full_at is not None and self.fs.used() + len(self.pending) + len(data) > self.fs.full_at:
            room = max(0, self.fs.full_at - self.fs.used() - len(self.pending))
            self.pending += data[:room]
            raise OSError(28, "No space left on device")
        self.pending += data
        return len(data)

    def flush(self):
        self.fs._op(self)
        self.fs.files[self.path] += self.pending
        self.pending = bytearray()

    def close(self):
        if "r" in self.mode:
            self.closed = True
        elif not self.closed:
            self.flush()
            self.closed = True
            self.fs.handles.remove(self)

    def read(self):
        return bytes(self.fs.files[self.path])


class FaultFS:
    """An in-memory flash file layer that can cut the power at its N-th mutating call
    (open for writing, write, flush, close, rename, remove, mkdir).

    `keep` is what survives of data not yet flushed when the power goes, including the
    write call being cut: 0.0 nothing (littlefs: unsynced data is lost), 0.5 the first
    half (a torn write), 1.0 all of it (the data reached flash, the call never returned).
    `atomic_rename=False` makes a rename over an existing file a remove then a rename
    (FAT), each a separate cut point. `full_at` makes writes fail with ENOSPC past that
    many bytes in all files.
    """

    def __init__(self, keep=0.0, atomic_rename=True):
        self.files: dict[str, bytearray] = {}
        self.dirs: set[str] = set()
        self.handles: list[_File] = []
        self.keep = keep
        self.atomic_rename = atomic_rename
        self.budget: int | None = None
        self.ops = 0
        self.dead = False
        self.full_at: int | None = None

    def used(self):
        return sum(len(v) for v in self.files.values())

    def _op(self, handle=None, data=b""):
        if self.dead:
            raise PowerCut("dead")
        self.ops += 1
        if self.budget is not None and self.ops > self.budget:
            for h in self.handles:
                lost = bytes(h.pending) + (data if h is handle else b"")
                self.files[h.path] += lost[: int(len(lost) * self.keep)]
            self.handles = []
            self.dead = True
            raise PowerCut(f"power cut at call {self.ops}")

    def reboot(self):
        self.dead = False
        self.budget = None
        self.handles = []
        self.ops = 0

    def _dir(self, path):
        d = path.rsplit("/", 1)[0]
        if d not in self.dirs:
            raise OSError(2, "no such directory", d)

    def open(self, path, mode):
        if "r" in mode:
            if path not in self.files:
                raise OSError(2, "No such file", path)
            return _File(self, path, mode)
        self._dir(path)
        self._op()
        if "w" in mode or path not in self.files:
            self.files[path] = bytearray()
        f = _File(self, path, mode)
        self.handles.append(f)
        return f

    def rename(self, old, new):
        if old not in self.files:
            raise OSError(2, "No such file", old)
        if not self.atomic_rename and new in self.files:
            self._op()
            del self.files[new]
        self._op()
        self.files[new] = self.files.pop(old)

    def remove(self, path):
        if path not in self.files:
            raise OSError(2, "No such file", path)
        self._op()
        del self.files[path]

    def listdir(self, path):
        if path not in self.dirs:
            raise OSError(2, "No such directory", path)
        pre = path + "/"
        return [k[len(pre):] for k in self.files if k.startswith(pre) and "/" not in k[len(pre):]]

    def stat(self, path):
        if path not in self.files:
            raise OSError(2, "No such file", path)
        return (0o100000, 0, 0, 1, 0, 0, len(self.files[path]), 0, 0, 0)

    def mkdir(self, path):
        self._op()
        self.dirs.add(path)



def session_events(n_sets=3, reps=12, t0=0):
    """A realistic session: start, calibration, sets of reps with a hold, a fault, end
    (about 50 records)."""
    out = [(R.K_SESSION_START, t0, E.MODE_AUTO, E.PLACEMENT_THIGH, E.SIDE_RIGHT, 12, 30),
           (E.EV_CALIBRATED, t0 + 500, E.CAL_STANDING)]
    t = t0 + 2000
    for s in range(n_sets):
        start = t
        for k in range(reps):
            out.append((E.EV_REP, t, E.EX_BRIDGE, E.SIDE_RIGHT, k % 5 == 4, 400 + k, 900, 300, 1000))
            t += 2300
        out.append((E.EV_SET, start, t, E.EX_BRIDGE, E.SIDE_RIGHT, reps, 2, 405, 2300))
        out.append((E.EV_HOLD, t + 1000, t + 31_000, E.EX_STRETCH, E.SIDE_RIGHT, 600))
        t += 60_000
    out.append((E.EV_FAULT, t, E.FAULT_GAP))
    out.append((R.K_SESSION_END, t0, t + 1000, R.END_IDLE, n_sets, n_sets * reps, 0, n_sets, 90_000, 0))
    return out




class StoreLink:
    """The sync engine's RecordLink over the band's log itself (repcore.store)."""

    def __init__(self, log):
        self.log = log

    async def count_from(self, seq):
        return self.log.count_from(seq)

    async def records_from(self, seq):
        for r in list(self.log.read_from(seq)):
            yield bytes(r)

    async def delete_through(self, seq):
        self.log.delete_through(seq)

    async def abort(self):
        pass

    async def seq_range(self):
        return self.log.first_seq, self.log.next_seq, self.log.capacity


class Failure(AssertionError):
    """A guarantee broke: what and in which life."""


def _flip(fs: FaultFS, rng: random.Random) -> None:
    names = [k for k in fs.files if k.startswith(LOG + "/") and fs.files[k]]
    if not names:
        return
    name = rng.choice(names)
    data = fs.files[name]
    data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)


def life(seed: int, boots: int = 4, capacity: int = 32 * 1024) -> dict:
    """One life of a band (see the module doc); returns its figures, raises Failure."""
    from repband.db import GAP_DAMAGED, Database, DeviceInfo
    from repband.sync import SyncError, sync

    rng = random.Random(seed)
    fs = FaultFS()
    db = Database(":memory:")
    committed: dict[int, bytes] = {}  # every record whose append returned
    out = {"flips": 0, "cuts": 0, "records": 0, "lost": 0, "reused": 0, "syncs": 0}

    def host_sync(log):
        try:
            res = asyncio.run(sync(StoreLink(log), db, DeviceInfo("AA:BB:CC:DD:EE:01")))
        except SyncError as exc:
            if isinstance(exc.__cause__, PowerCut):
                raise exc.__cause__ from None  # the band lost power mid-sync
            raise Failure(f"life {seed}: sync failed: {exc}") from None
        out["syncs"] += 1
        if not res.complete or res.quarantined:
            raise Failure(f"life {seed}: sync incomplete or quarantined {res.quarantined}")
        return res

    # 1 to 3 flipped bits in the life (the guarantee's limit), each while the power is off
    flips_at = sorted(rng.randrange(boots) for _ in range(rng.randint(1, 3)))
    for n in range(boots):
        fs.keep = rng.choice([0.0, 0.0, 0.5, 0.9, 1.0])
        fs.atomic_rename = rng.random() < 0.8
        fs.budget = rng.randint(0, 250) if rng.random() < 0.6 else None
        try:
            log = SessionLog(LOG, capacity=capacity, fs=fs, segment_size=SEG)
            if rng.random() < 0.6:
                host_sync(log)
            sid = 0
            epoch = 1_700_000_000 + 86_400 * n if rng.random() < 0.5 else 0
            for e in session_events(n_sets=rng.randint(1, 3), t0=1000 * n):
                seq = log.next_seq
                if e[0] == R.K_SESSION_START:
                    sid = seq
                got = log.append_event(e, sid, epoch)
                if got in committed:
                    out["reused"] += 1
                    raise Failure(f"life {seed}: seq {got} given twice")
                committed[got] = R.encode_event(e, sid, log.boot, got, epoch)
            if rng.random() < 0.5:
                host_sync(log)
            log.close()
        except PowerCut:
            out["cuts"] += 1
        fs.reboot()
        for _ in range(flips_at.count(n)):
            _flip(fs, rng)
            out["flips"] += 1
    log = SessionLog(LOG, capacity=capacity, fs=fs, segment_size=SEG)
    for b in log.read_from(0):
        try:
            R.check(b)
        except R.RecordError as exc:
            raise Failure(f"life {seed}: the log returned an invalid record ({exc})") from None
    host_sync(log)
    dev = db.device_id("AA:BB:CC:DD:EE:01")
    damaged = [g for g in db.gaps(dev) if g[2] == GAP_DAMAGED]
    for seq, b in committed.items():
        got = db.raw(dev, seq)
        if got == b:
            continue
        if got is not None:
            raise Failure(f"life {seed}: seq {seq} holds another record than the one committed")
        if not any(a <= seq <= z for a, z, _r in damaged):
            raise Failure(f"life {seed}: committed record {seq} lost without a word")
        out["lost"] += 1
    out["records"] = len(committed)
    if log.count_from(0):
        raise Failure(f"life {seed}: the band still holds {log.count_from(0)} seqs after a complete sync")
    db.close()
    return out


def run(lives: int, seed: int = 1) -> dict:
    """`lives` lives from `seed` on: the summed figures."""
    t0 = time.perf_counter()
    tot = {"lives": 0, "flips": 0, "cuts": 0, "records": 0, "lost": 0, "reused": 0, "syncs": 0, "failures": []}
    for k in range(lives):
        try:
            f = life(seed * 1_000_003 + k)
        except Failure as exc:
            tot["failures"].append(str(exc))
            continue
        tot["lives"] += 1
        for key in f:
            tot[key] += f[key]
    tot["seconds"] = round(time.perf_counter() - t0, 1)
    return tot


def cmd_stress(args) -> int:
    tot = run(args.lives, args.seed)
    if args.json:
        print(json.dumps(tot))
    else:
        print(f"{args.lives} lives (seed {args.seed}), {tot['seconds']} s: {tot['cuts']} power cuts, "
              f"{tot['flips']} flipped bits, {tot['records']} records committed, {tot['syncs']} syncs; "
              f"{tot['lost']} records lost to flipped bits (all reported damaged), {tot['reused']} seqs "
              f"reused, {len(tot['failures'])} failures")
        for f in tot["failures"][:10]:
            print("  " + f, file=sys.stderr)
    return 1 if tot["failures"] else 0


def add_parser(sub) -> None:
    p = sub.add_parser("stress", help="power cuts and flipped bits on the band's session log, synced by the host")
    p.add_argument("--lives", type=int, default=2000, help="band lives to run (default 2000)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_stress)
