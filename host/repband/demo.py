"""`repband demo`: the virtual band runs a simulated routine, a host stays connected
for the live counts, then syncs the band over the virtual BLE link into a fresh
database and prints the session summary from that database (docs/demo.md).

`repband demo --days N --chaos SEED --json`: N simulated days of use with faults on
the link and in the band (disconnects, reboots, lost and duplicated notifications, the
host killed mid-sync), then `{"device_records", "db_records", "lost", "duplicates"}`
computed from the band's own log (every record it ever wrote) and the database.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import tempfile
import time

from repcore import protocol_host as P

DEMO_EPOCH = 1_767_603_600  # 2026-01-05 09:00 UTC: the virtual wall clock at band power-on
DAY_GAP_S = 600.0  # still time after each day's routine (the band ends the session, sleeps)


def _wall(band) -> float:
    return DEMO_EPOCH + band.clock.us / 1e6


# ----------------------------------------------------------------------------- summary


def summary_from_db(db, dev: int, rec=None) -> dict:
    """The replay-style result dict (repband.summary.human_summary) of everything the
    database holds for device `dev`; times in seconds of the recording."""
    import numpy as np

    from repband.db import CAL_METHODS, EXERCISES, MODES, PLACEMENTS, SIDES

    if rec is not None:
        rows_hz = float(rec.meta.get("rate_hz", 104.0))
        idx = np.arange(len(rec.t))
        tt = np.asarray(rec.t, float)

        def sec(ms):  # band uptime -> the recording's time (the chip takes row k at k / rate)
            return round(float(np.interp(ms / 1000.0 * rows_hz, idx, tt)), 3)
    else:
        def sec(ms):
            return round(ms / 1000.0, 3)

    c = db.conn
    side = lambda v: None if not v else SIDES.get(v)  # noqa: E731
    reps = [{"t": sec(t), "exercise": EXERCISES.get(ex, str(ex)), "side": side(sd), "partial": bool(pa),
             "rom_deg": rom / 10.0, "up_s": up / 1000.0, "top_s": top / 1000.0, "down_s": dn / 1000.0}
            for t, ex, sd, pa, rom, up, top, dn in c.execute(
                "SELECT t_ms, exercise, side, partial, rom_x10, up_ms, top_ms, down_ms FROM reps"
                " WHERE device_id = ? ORDER BY seq", (dev,))]
    holds = [{"t_start": sec(t), "t_end": sec(t + d), "duration_s": d / 1000.0, "side": side(sd),
              "exercise": "hip_flexor_stretch"}
             for t, d, sd in c.execute("SELECT t_ms, duration_ms, side FROM holds WHERE device_id = ?"
                                       " ORDER BY seq", (dev,))]
    sets = [{"t_start": sec(t), "t_end": sec(t + d), "exercise": EXERCISES.get(ex, str(ex)), "side": side(sd),
             "count": n, "n_partial": npart, "mean_rom_deg": rom / 10.0, "period_s": per / 1000.0}
            for t, d, ex, sd, n, npart, rom, per in c.execute(
                "SELECT t_ms, duration_ms, exercise, side, count, n_partial, mean_rom_x10, period_ms"
                " FROM sets WHERE device_id = ? ORDER BY seq", (dev,))]
    cal = [{"t": sec(t), "method": CAL_METHODS.get(m, str(m))} for t, m in c.execute(
        "SELECT t_ms, code FROM events WHERE device_id = ? AND kind = 'calibrated' ORDER BY seq", (dev,))]
    counts: dict = {}
    for r in reps:
        if not r["partial"]:
            key = r["exercise"] if r["side"] is None else f"{r['exercise']}_{r['side']}"
            counts[key] = counts.get(key, 0) + 1
    counts["total"] = sum(1 for r in reps if not r["partial"])
    counts["partial"] = sum(1 for r in reps if r["partial"])
    counts["holds"] = len(holds)
    s = c.execute("SELECT mode, placement, side FROM sessions WHERE device_id = ? AND mode IS NOT NULL"
                  " ORDER BY session LIMIT 1", (dev,)).fetchone()
    mode, placement, leg = s if s else (0, 0, 2)
    return {"reps": reps, "holds": holds, "sets": sets, "calibration": cal, "counts": counts,
            "exercise_mode": MODES.get(mode), "placement": PLACEMENTS.get(placement), "leg": SIDES.get(leg),
            "gyro": True, "engine": "virtual band, synced over BLE"}


# ----------------------------------------------------------------------------- the demo


async def _live_session(band, client, live, wait_end_s: float):
    """Stay connected while the band records, until its session has ended."""
    from repband.link import LiveTracker, set_time

    tracker = LiveTracker()
    await set_time(client, _wall(band))
    await client.start_notify(P.LIVE_UUID, lambda _s, d: live.append(tracker.feed(d)))
    while band.clock.s < wait_end_s:
        st = tracker.state
        if st is not None and st["session"] and not st["flags"] & P.LIVE_SESSION and band.clock.s > band.rec_end_s:
            break
        await asyncio.sleep(1.0)
    await client.stop_notify(P.LIVE_UUID)
    return tracker


async def _sync_once(band, client, db, progress=None):
    from repband.db import DeviceInfo
    from repband.link import RecordLink, check_version, set_time
    from repband.sync import sync

    major, minor = await check_version(client)
    await set_time(client, _wall(band))
    async with RecordLink(client) as link:
        info = DeviceInfo(band.address, name="repband (virtual)", protocol_version=f"{major}.{minor}",
                          seen_ms=int(_wall(band) * 1000))
        return await sync(link, db, info, progress=progress)


def run_demo(seed: int = 1, leg: str = "right", rate: float = 104.0, db_path=None, out=None) -> dict:
    """The demo; prints the summary to `out` and returns the figures."""
    from repband import scoring, sim
    from repband.summary import human_summary
    from repband.db import Database
    from repband.virtual.device import VirtualBand

    out = out or sys.stdout
    w0 = time.perf_counter()
    rec, truth = sim.simulate("routine", seed=seed, leg=leg, placement="thigh", mount="nominal",
                              rate_hz=rate, gyro=True)
    tmp = tempfile.TemporaryDirectory(prefix="repband-demo-")
    try:
        path = db_path or os.path.join(tmp.name, "repband.db")
        db = Database(path)
        band = VirtualBand(rec, config={"leg": leg, "placement": "thigh"})
        band.rec_end_s = len(rec.t) / band.rows_hz
        live: list = []
        res_box: dict = {}

        async def host(client):
            tracker = await _live_session(band, client, live, band.default_until_s() + 120)
            res_box["live"] = tracker
            res_box["sync"] = await _sync_once(band, client, db)

        try:
            band.run_host(band.with_client(host))
            virtual_s = band.clock.s
            dev = db.device_id(band.address)
            device_records = len(band.ledger)
            db_records = db.record_count(dev)
            res = summary_from_db(db, dev, rec)
        finally:
            band.close()
        res["n_samples"] = len(rec.t)
        wall_s = time.perf_counter() - w0
        sres = res_box["sync"]
        tracker = res_box["live"]
        minutes = (float(rec.t[-1]) - float(rec.t[0])) / 60.0
        print(f"repband demo: a simulated {minutes:.1f}-minute session (hip flexor stretch, bridges, "
              f"clams; seed {seed}) on the virtual band, live over the virtual BLE link, then synced "
              f"into a fresh database", file=out)
        human_summary(res, "session", out=out)
        sc = scoring.score_sim(res["reps"], res["holds"], truth, t_span=(float(rec.t[0]), float(rec.t[-1])))
        f1 = "-" if sc["f1"] is None else f"{sc['f1']:.3f}"
        print(f"  against the simulator's truth: {sc['tp']} reps right, {sc['fp']} false, "
              f"{sc['fn']} missed (F1 {f1}); sets exact {sc['sets_exact']}/"
              f"{sc['sets_total']}; scored holds found {sc['holds_found']}/{sc['holds_scored']}", file=out)
        st = tracker.state or {}
        cells = ", ".join(f"{n.replace('_', ' ')} {v}" for n, v in zip(P.CELL_NAMES, st.get("counts", ()))
                          if v)
        print(f"  live on the host: {cells or 'nothing'} ({tracker.updates} updates, "
              f"{tracker.skipped} not seen)", file=out)
        print(f"  sync: {sres.stored} records stored ({device_records} written by the band, "
              f"{db_records} in the database), band told to delete through seq {sres.acked_seq}; "
              f"{virtual_s / 60:.1f} min simulated in {wall_s:.1f} s", file=out)
        return {"device_records": device_records, "db_records": db_records, "wall_s": wall_s,
                "virtual_s": virtual_s, "score": sc, "summary": res}
    finally:
        try:
            db.close()  # type: ignore[possibly-undefined]
        except Exception:
            pass
        tmp.cleanup()


# ----------------------------------------------------------------------------- chaos


class _Chaos:
    """N days of use with faults, one host, one band, one database."""

    def __init__(self, days: int, seed: int, db_path: str, reboot_p: float = 0.5,
                 fault_p: float = 0.7, kill_p: float = 0.15):
        from repband import sim
        from repband.virtual.device import VirtualBand, concat_recordings

        self.rng = random.Random(seed)
        parts = [sim.simulate("routine", seed=seed * 1000 + d)[0] for d in range(days)]
        rec, self.spans = concat_recordings(parts, gap_s=DAY_GAP_S)
        self.band = VirtualBand(rec)
        self.band.rec_end_s = 0.0
        self.db_path = db_path
        self.reboot_p = reboot_p
        self.fault_p = fault_p
        self.kill_p = kill_p
        self.stats = {"days": days, "sync_attempts": 0, "syncs_complete": 0, "interrupted": 0,
                      "host_kills": 0, "reboots": 0, "link_faults": 0, "dropped_notifications": 0,
                      "duplicated_notifications": 0, "errors": {}}
        self._faults = []

    def _db(self):
        from repband.db import Database

        return Database(self.db_path)

    async def _connect(self, client, faulty: bool) -> None:
        if not client.is_connected:
            await client.connect(timeout=20.0)
        if faulty and self.rng.random() < self.fault_p:
            r = self.rng
            f = client.faults(drop_p=r.choice((0.0, 0.05, 0.1, 0.2)), dup_p=r.choice((0.0, 0.05, 0.1)),
                              seed=r.randrange(1 << 30),
                              disconnect_after=r.choice((None, r.randrange(0, 8), r.randrange(1, 40))))
            self._faults.append(f)
            self.stats["link_faults"] += 1
        elif not faulty:
            client.clear_faults()

    def _count_faults(self):
        for f in self._faults:
            self.stats["dropped_notifications"] += f["dropped"]
            self.stats["duplicated_notifications"] += f["duplicated"]
        self._faults = []

    async def attempt(self, client, faulty: bool) -> bool:
        """One sync attempt; True when complete."""
        from repband.sync import SyncError

        band = self.band
        self.stats["sync_attempts"] += 1
        db = self._db()
        try:
            await self._connect(client, faulty)
            if faulty and self.rng.random() < self.reboot_p / 4:
                band.at(band.clock.s + self.rng.uniform(0.01, 1.5), self._reboot)  # mid-sync
            if faulty and self.rng.random() < self.kill_p:
                try:
                    await asyncio.wait_for(_sync_once(band, client, db), self.rng.uniform(0.02, 1.0))
                except asyncio.TimeoutError:
                    self.stats["host_kills"] += 1  # the host died: uncommitted records are gone
                    return False
            else:
                await _sync_once(band, client, db)
            self.stats["syncs_complete"] += 1
            return True
        except (SyncError, ConnectionError, Exception) as e:  # noqa: B014  every failure is counted
            if isinstance(e, asyncio.CancelledError):
                raise
            self.stats["interrupted"] += 1
            name = type(e).__name__
            self.stats["errors"][name] = self.stats["errors"].get(name, 0) + 1
            return False
        finally:
            db.close()

    def _reboot(self):
        self.stats["reboots"] += 1
        self.band.reboot()

    async def _session_running(self, client) -> bool | None:
        try:
            await self._connect(client, False)
            return bool(P.decode_live(await client.read(P.LIVE_UUID))["flags"] & P.LIVE_SESSION)
        except Exception:
            return None

    async def host(self, client):
        band = self.band
        rng = self.rng
        for d, (t0, t1) in enumerate(self.spans):
            if band.clock.s < t0 + 2:
                await asyncio.sleep(t0 + 2 - band.clock.s)
            if rng.random() < self.reboot_p:  # a reset some time during the day's routine
                band.at(rng.uniform(t0, t1 + 60), self._reboot)
            next_sync = band.clock.s + rng.uniform(30, 200)
            deadline = t1 + DAY_GAP_S - 60
            while band.clock.s < deadline:
                if band.clock.s >= next_sync:
                    await self.attempt(client, True)
                    next_sync = band.clock.s + rng.uniform(20, 120)
                if band.clock.s > t1 + 5:
                    running = await self._session_running(client)
                    if running is False:
                        break
                else:
                    await self._session_running(client)  # keep the link up (the band stays awake)
                await asyncio.sleep(3.0)
            # the day's session ended: sync it all (faults go on; a clean try after five)
            for i in range(12):
                if await self.attempt(client, i < 5):
                    break
            self._count_faults()
            await client.disconnect()
        client.clear_faults()
        for _ in range(5):
            if await self.attempt(client, False):
                break
        await client.disconnect()

    def run(self) -> dict:
        band = self.band
        try:
            band.run_host(band.with_client(self.host, connect=False),
                          until_s=self.spans[-1][1] + DAY_GAP_S + 3600)
            virtual_s = band.clock.s
            on_band = band.log_on_flash()
            ledger = dict(band.ledger)
            resets = len(band.resets)
        finally:
            band.close()
        db = self._db()
        try:
            dev = db.device_id(band.address)
            rows = {} if dev is None else {s: bytes(r) for s, r in db.conn.execute(
                "SELECT seq, raw FROM raw_records WHERE device_id = ?", (dev,))}
        finally:
            db.close()
        return account(ledger, rows, on_band) | {"virtual_days_s": round(virtual_s, 1), "resets": resets,
                                                 "stats": self.stats}


def account(ledger: dict, rows: dict, on_band: dict) -> dict:
    """Compare what the band wrote (`ledger`, seq -> bytes) with the database's rows
    (seq -> bytes) and what is still on the band. lost: written, not in the database
    and no longer on the band (or stored with other bytes); duplicates: database rows
    the band never wrote, plus the same record content stored under two seqs."""
    from repcore import records as R

    lost = sum(1 for s, b in ledger.items() if rows.get(s) != b and (s not in on_band or s in rows))
    pending = sum(1 for s in ledger if s not in rows and s in on_band)
    extra = sum(1 for s in rows if s not in ledger)
    seen: dict = {}
    same = 0
    for s in sorted(rows):
        b = bytearray(rows[s])
        R.set_seq(b, 0, 0)  # the content without its seq (and so without a valid CRC)
        key = bytes(b[:-4])
        if key in seen:
            same += 1
        seen[key] = s
    return {"device_records": len(ledger), "db_records": len(rows), "lost": lost,
            "duplicates": extra + same, "pending_on_band": pending}


def run_chaos(days: int = 3, seed: int = 1, db_path=None, faults: bool = True) -> dict:
    """`days` simulated days of use (a routine a day, synced by a host that stays
    connected while the band records), with faults when `faults`; the accounting."""
    tmp = None
    if db_path is None:
        tmp = tempfile.TemporaryDirectory(prefix="repband-chaos-")
        db_path = os.path.join(tmp.name, "repband.db")
    try:
        w0 = time.perf_counter()
        kw = {} if faults else {"reboot_p": 0.0, "fault_p": 0.0, "kill_p": 0.0}
        res = _Chaos(days, seed, db_path, **kw).run()
        res["wall_s"] = round(time.perf_counter() - w0, 1)
        return res
    finally:
        if tmp is not None:
            tmp.cleanup()


# ----------------------------------------------------------------------------- command


def cmd_demo(args) -> int:
    days = getattr(args, "days", None)
    chaos = getattr(args, "chaos", None)
    as_json = getattr(args, "json", False)
    if days or chaos is not None:
        res = run_chaos(days or 1, seed=args.seed if chaos is None else chaos, db_path=getattr(args, "db", None),
                        faults=chaos is not None)
        out = {k: res[k] for k in ("device_records", "db_records", "lost", "duplicates")}
        if as_json:
            sys.stdout.write(json.dumps(out | {"pending_on_band": res["pending_on_band"], "days": days or 1,
                                               "chaos_seed": chaos, "resets": res["resets"],
                                               "faults": res["stats"], "wall_s": res["wall_s"]}) + "\n")
        else:
            st = res["stats"]
            print(f"repband demo: {days or 1} simulated days with faults (seed {chaos}): "
                  f"{st['sync_attempts']} sync attempts, {st['interrupted']} interrupted, "
                  f"{res['resets']} band resets, {st['host_kills']} host kills, "
                  f"{st['dropped_notifications']} notifications dropped, "
                  f"{st['duplicated_notifications']} duplicated")
            print(f"  band wrote {out['device_records']} records, the database holds {out['db_records']}: "
                  f"lost {out['lost']}, duplicates {out['duplicates']}")
        return 0 if out["lost"] == 0 and out["duplicates"] == 0 else 1
    res = run_demo(seed=args.seed, leg=args.leg, rate=args.rate, db_path=getattr(args, "db", None))
    if as_json:
        sys.stdout.write(json.dumps({k: res[k] for k in ("device_records", "db_records")}
                                    | {"score": res["score"]}) + "\n")
    return 0
