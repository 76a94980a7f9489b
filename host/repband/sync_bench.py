"""Sync throughput against a modelled BLE link (no sleeping: link time is computed).

The model: ATT MTU 185, so a notification carries at most 182 bytes; records are
packed whole into notifications (a record never spans two, so a lost notification
loses whole records that the sync asks for again); 4 notifications per connection
event, one event every 15 ms, i.e. a capacity of 4 * 182 B / 15 ms = 48.5 kB/s. Every
control-point operation (report number, report records, delete, abort) costs a
write and an indication: 2 connection intervals.

    bench_sync(n_sessions=90) -> dict

builds a month of realistic use (3 sessions a day: hip flexor stretch holds, glute
bridges, clams on both sides; a reboot every few days with the clock set at the
next connection), syncs it into a fresh database and reports wall time, modelled
link time, records per second and the share of the link's capacity used.
"""
from __future__ import annotations

import asyncio
import math
import random
import tempfile
import time
from pathlib import Path

from repcore import events as E
from repcore import records as R

MTU = 185
INTERVAL_S = 0.015
PACKETS_PER_INTERVAL = 4


def build_history(n_sessions: int = 90, seed: int = 1, start_epoch: int = 1_767_225_600,
                  reboot_every_days: int = 5) -> list[bytes]:
    """Records of `n_sessions` realistic sessions, 3 a day, seqs from 0.

    Boots change every `reboot_every_days` days; after a reboot the clock is unknown
    (epoch 0) until the phone connects, which here happens at the second session of
    that day, so some records carry boot-relative time only.
    """
    rnd = random.Random(seed)
    out: list[bytes] = []
    boot = 1
    boot_start = start_epoch  # wall s at t_ms = 0 of this boot
    clock_known = True

    def add(rec, session):
        ep = boot_start if clock_known else 0
        out.append(R.encode_event(rec, session, boot, len(out), ep))

    day_plans = [("stretch", E.MODE_STRETCH), ("bridge", E.MODE_BRIDGE), ("clam", E.MODE_CLAM)]
    for i in range(n_sessions):
        day, slot = divmod(i, 3)
        if slot == 0 and day and day % reboot_every_days == 0:
            boot += 1
            boot_start = start_epoch + day * 86400 + 7 * 3600 - rnd.randint(60, 3600)
            clock_known = False
        if slot == 1:
            clock_known = True  # the phone synced and set the clock
        wall0 = start_epoch + day * 86400 + (8 + 5 * slot) * 3600 + rnd.randint(0, 1800)
        t = (wall0 - boot_start) * 1000
        name, mode = day_plans[slot]
        sid = len(out)
        side = E.SIDE_RIGHT
        add((R.K_SESSION_START, t, mode, E.PLACEMENT_THIGH, side, 15, 30), sid)
        t0 = t
        t += 2000
        add((E.EV_CALIBRATED, t, E.CAL_STANDING), sid)
        n_sets = reps_total = partial_total = holds = hold_ms = 0
        if name == "stretch":
            for s in (E.SIDE_LEFT, E.SIDE_RIGHT):
                for _ in range(rnd.randint(2, 4)):
                    d = rnd.randint(20000, 45000)
                    add((E.EV_HOLD, t, t + d, E.EX_STRETCH, s, rnd.randint(100, 250)), sid)
                    holds += 1
                    hold_ms += d
                    t += d + rnd.randint(5000, 15000)
        else:
            ex = E.EX_BRIDGE if name == "bridge" else E.EX_CLAM
            sides = [E.SIDE_NONE] * 2 if ex == E.EX_BRIDGE else [E.SIDE_LEFT, E.SIDE_RIGHT]
            for s in sides:
                ts = t
                n = rnd.randint(10, 20)
                np_ = 0
                roms = []
                for _ in range(n):
                    per = rnd.randint(3400, 8000)
                    partial = 1 if rnd.random() < 0.08 else 0
                    np_ += partial
                    rom = rnd.randint(150, 650)
                    roms.append(rom)
                    add((E.EV_REP, t, ex, s, partial, rom, per // 3, per // 3, per // 3), sid)
                    t += per
                add((E.EV_SET, ts, t, ex, s, n - np_, np_, sum(roms) // n, (t - ts) // n), sid)
                n_sets += 1
                reps_total += n - np_
                partial_total += np_
                t += rnd.randint(30000, 90000)
        if rnd.random() < 0.1:
            add((E.EV_FAULT, t, E.FAULT_GAP), sid)
        add((R.K_SESSION_END, t0, t, R.END_IDLE, n_sets, reps_total, partial_total, holds, hold_ms, 0), sid)
    return out


class ModelLink:
    """A device log behind the modelled link (RecordLink). Link time accumulates in
    `link_s`; nothing sleeps."""

    def __init__(self, recs: list[bytes], mtu: int = MTU, interval_s: float = INTERVAL_S,
                 packets_per_interval: int = PACKETS_PER_INTERVAL, capacity: int | None = None):
        self.log = {R.seq_of(r): r for r in recs}
        self.next_seq = max(self.log, default=-1) + 1
        # a log that holds them all (a longer history than a band holds, for the demo)
        self.capacity = capacity or max(262144, 2 * sum(len(r) for r in recs))
        self.payload = mtu - 3
        self.interval_s = interval_s
        self.ppi = packets_per_interval
        self.link_s = 0.0
        self.ops = 0
        self.notifications = 0
        self.bytes = 0
        self.deleted_through = -1

    def _op(self):
        self.ops += 1
        self.link_s += 2 * self.interval_s

    async def count_from(self, seq: int) -> int:
        self._op()
        return sum(1 for s in self.log if s >= seq)

    async def records_from(self, seq: int):
        self._op()  # the request and, at the end, its response
        fill = 0
        n = 0
        for s in sorted(self.log):
            if s < seq:
                continue
            r = self.log[s]
            if fill == 0 or fill + len(r) > self.payload:
                n += 1
                fill = 0
            fill += len(r)
            self.bytes += len(r)
            yield r
        self.notifications += n
        self.link_s += math.ceil(n / self.ppi) * self.interval_s

    async def delete_through(self, seq: int) -> None:
        self._op()
        for s in [s for s in self.log if s <= seq]:
            del self.log[s]
        self.deleted_through = max(self.deleted_through, seq)

    async def abort(self) -> None:
        self._op()

    async def seq_range(self):
        self._op()
        return (min(self.log) if self.log else None), self.next_seq, self.capacity


def bench_sync(n_sessions: int = 90, seed: int = 1, batch: int = 64) -> dict:
    """Sync a month of sessions over the modelled link into a fresh database."""
    from repband.db import Database, DeviceInfo
    from repband.sync import sync

    recs = build_history(n_sessions, seed)
    link = ModelLink(recs)
    with tempfile.TemporaryDirectory() as tmp:
        with Database(Path(tmp) / "bench.db") as db:
            t0 = time.perf_counter()
            res = asyncio.run(sync(link, db, DeviceInfo("AA:BB:CC:DD:EE:01", "bench"), batch=batch))
            wall = time.perf_counter() - t0
            n_db = db.record_count()
            sessions = db.conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
    nbytes = sum(len(r) for r in recs)
    capacity = PACKETS_PER_INTERVAL * (MTU - 3) / INTERVAL_S
    model_s = link.link_s
    return {
        "sessions": sessions,
        "records": len(recs),
        "db_records": n_db,
        "record_bytes": nbytes,
        "notifications": link.notifications,
        "control_ops": link.ops,
        "link_capacity_Bps": round(capacity),
        "model_link_s": round(model_s, 3),
        "wall_s": round(wall, 3),
        "host_records_per_s": round(len(recs) / wall) if wall > 0 else None,
        "model_records_per_s": round(len(recs) / model_s),
        "capacity_use": round(nbytes / (model_s * capacity), 3),
        "target_link_s": 5.0,
        "target_capacity_use": 0.70,
        "ok": model_s <= 5.0 and nbytes / (model_s * capacity) >= 0.70 and n_db == len(recs)
        and res.complete and link.deleted_through == len(recs) - 1,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(bench_sync(), indent=2))
