"""`repband demo`: the virtual band (the firmware app on emulated hardware and radio)
worn by a simulated person, synced by a host over the virtual BLE link into a database
of the demo's own, kept at a path the command prints (docs/demo.md).

- `repband demo`: one session, today: a host watches the live counts while the band
  records the routine, then syncs it; the summary is read back from the database and
  scored against the simulator's truth.
- `repband demo --days N`: the person's first N days (repband.demo_month), real
  calendar days ending today (`--end DAY`): rest days, a missed day, both sides' clams
  (the band moved to the other thigh half-way), range of motion growing, stretch holds
  getting longer. Each day the band is switched on and worn through that day's routine
  while the host keeps its clock (the day's local time, daylight saving included) and
  syncs it after the session; made and run one day at a time (the next day's motion is
  simulated in a second process meanwhile), so memory does not grow with N.
- `--chaos SEED`: the same days with faults on the link, in the band and in the host
  (docs/demo.md lists them); either way the band's own log is checked against the
  database: `lost` and `duplicates` must be 0 (else exit status 1).

The demo never touches the person's own database: its default is `demo.db` beside it,
replaced by the next demo; `--db PATH` must name a file that does not exist yet.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import json
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

from repcore import protocol_host as P

from repband import demo_month as M
from repband import exits, progress
from repband.db import DatabasePathError, default_path, locate

DEMO_DB = "demo.db"  # beside the person's own repband.db
NEXT_COMMANDS = ("repband stats --db {db}", "repband report --db {db} --out demo-report.html",
                 "repband sessions --db {db}")


class DemoInterrupted(Exception):
    """Ctrl-C during the days: what was synced so far stays in the database."""

    def __init__(self, days_done: int, days: int, db: Path):
        super().__init__(f"interrupted after {days_done} of {days} days; {db} holds the days synced so far "
                         f"(`repband stats --db {db}`)")


def demo_path() -> Path:
    return default_path().with_name(DEMO_DB)


def demo_database(path=None) -> Path:
    """The file the demo writes: `--db PATH` (repband.db.locate; it must not exist yet:
    the demo makes a new database and never writes into an existing file), else the
    demo's own, replaced (never the person's database)."""
    if path is None:
        p = demo_path()
        p.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(str(p) + suffix)
        return p
    p = locate(path, create=True)
    if p.exists():
        raise DatabasePathError(f"{p} exists: the demo makes a new database and writes into no existing file; "
                                f"give a path that does not exist yet, or leave out --db ({demo_path()})")
    if p == default_path():
        raise DatabasePathError(f"{p} is where your own sessions go: give the demo another path")
    return p


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


# ----------------------------------------------------------------------------- one session


async def _live_session(band, client, live, wait_end_s: float, wall):
    """Stay connected while the band records, until its session has ended."""
    from repband.link import LiveTracker, set_time

    tracker = LiveTracker()
    await set_time(client, wall())
    await client.start_notify(P.LIVE_UUID, lambda _s, d: live.append(tracker.feed(d)))
    while band.clock.s < wait_end_s:
        st = tracker.state
        if st is not None and st["session"] and not st["flags"] & P.LIVE_SESSION and band.clock.s > band.rec_end_s:
            break
        await asyncio.sleep(1.0)
    await client.stop_notify(P.LIVE_UUID)
    return tracker


async def _sync_once(band, client, db, wall):
    from repband.db import DeviceInfo
    from repband.link import RecordLink, check_version, set_time
    from repband.sync import sync

    major, minor = await check_version(client)
    await set_time(client, wall())
    async with RecordLink(client) as link:
        info = DeviceInfo(band.address, name="repband (virtual)", protocol_version=f"{major}.{minor}",
                          seen_ms=int(wall() * 1000))
        return await sync(link, db, info)


def _quiet_interrupts(loop) -> None:
    """Ctrl-C lands in whichever task of the band's loop runs: that task ends with it,
    and asyncio would later report it as 'never retrieved'. The interrupt itself is
    reported once, by the command."""
    def handler(lp, context):
        if not isinstance(context.get("exception"), KeyboardInterrupt):
            lp.default_exception_handler(context)
    loop.set_exception_handler(handler)


def run_demo(seed: int = 1, leg: str = "right", rate: float = 104.0, db_path=None, out=None,
             quiet: bool = False) -> dict:
    """One session today; prints the summary to `out` and returns the figures."""
    from repband import scoring, sim
    from repband.summary import human_summary
    from repband.db import Database
    from repband.virtual.device import VirtualBand

    out = out or sys.stdout
    w0 = time.perf_counter()
    path = demo_database(db_path)
    with progress.bar(3, "demo", unit="step", quiet=quiet) as bar:
        rec, truth = sim.simulate("routine", seed=seed, leg=leg, placement="thigh", mount="nominal",
                                  rate_hz=rate, gyro=True)
        bar.update(1)
        band = VirtualBand(rec, config={"leg": leg, "placement": "thigh"})
        band.rec_end_s = len(rec.t) / band.rows_hz
        _quiet_interrupts(band.loop)
        start = time.time() - band.default_until_s() - 60  # the session ended a minute ago
        live: list = []
        res_box: dict = {}
        db = Database(path)

        def wall():
            return start + band.clock.s

        async def host(client):
            tracker = await _live_session(band, client, live, band.default_until_s() + 120, wall)
            bar.update(1)
            res_box["live"] = tracker
            res_box["sync"] = await _sync_once(band, client, db, wall)

        try:
            band.run_host(band.with_client(host))
            virtual_s = band.clock.s
            dev = db.device_id(band.address)
            device_records = len(band.ledger)
            db_records = db.record_count(dev)
            res = summary_from_db(db, dev, rec)
        finally:
            band.close()
            db.close()
        bar.update(1)
    res["n_samples"] = len(rec.t)
    wall_s = time.perf_counter() - w0
    sres = res_box["sync"]
    tracker = res_box["live"]
    minutes = (float(rec.t[-1]) - float(rec.t[0])) / 60.0
    sc = scoring.score_sim(res["reps"], res["holds"], truth, t_span=(float(rec.t[0]), float(rec.t[-1])))
    if not quiet:
        print(f"repband demo: a simulated {minutes:.1f}-minute session (hip flexor stretch, bridges, "
              f"clams; seed {seed}) on the virtual band, live over the virtual BLE link, then synced "
              f"into {path}", file=out)
        human_summary(res, "session", out=out)
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
        _next(path, out)
    return {"device_records": device_records, "db_records": db_records, "wall_s": round(wall_s, 1),
            "virtual_s": virtual_s, "score": sc, "summary": res, "db": str(path)}


def _next(path, out) -> None:
    lines = [c.format(db=path) for c in NEXT_COMMANDS]
    print("Explore it: " + lines[0], file=out)
    for line in lines[1:]:
        print("            " + line, file=out)


# ----------------------------------------------------------------------------- days


def _worker_init():
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the command's to report


class _Stop(Exception):
    """Ctrl-C was pressed: the day in progress stops where it is."""


class _Days:
    """The person's days on one virtual band (its flash kept between days), synced by
    one host into one database, a day at a time. With `chaos` (a seed): faults."""

    def __init__(self, days: list, seed: int, db_path: Path, chaos: int | None = None,
                 reboot_p: float = 0.5, fault_p: float = 0.7, kill_p: float = 0.15):
        self.days = days
        self.seed = seed
        self.db_path = db_path
        self.chaos = chaos is not None
        self.rng = random.Random(chaos if chaos is not None else seed)
        self.reboot_p, self.fault_p, self.kill_p = reboot_p, fault_p, kill_p
        self.keys: dict = {}  # this host's half of the bond
        self.ledger: dict = {}  # every record the band ever wrote, seq -> bytes
        self.on_band: dict = {}  # what is still on its flash after the last day
        self.resets = 0
        self.truth = {"bridge": 0, "clam_left": 0, "clam_right": 0, "holds_left": 0, "holds_right": 0}
        self.virtual_s = 0.0
        self.days_done = 0
        self.stats = {"days": len(days), "sync_attempts": 0, "syncs_complete": 0, "interrupted": 0,
                      "host_kills": 0, "reboots": 0, "link_faults": 0, "dropped_notifications": 0,
                      "duplicated_notifications": 0, "errors": {}}
        self._faults: list = []
        self.address = None
        self.stop = False  # Ctrl-C: checked between steps (an interrupt raised anywhere
        self._band = None  # could land in a finaliser, which would swallow it)
        self._wall = None

    # -- the run ---------------------------------------------------------------------

    def run(self, bar=None) -> dict:
        from concurrent.futures import ProcessPoolExecutor

        from concurrent.futures import TimeoutError as Pending

        flash = tempfile.TemporaryDirectory(prefix="repband-demo-band-")
        active = [d for d in self.days if d.active]
        pool = ProcessPoolExecutor(max_workers=1, initializer=_worker_init)
        done = False
        old = signal.signal(signal.SIGINT, self._on_sigint)
        try:
            nxt = pool.submit(M.day_motion, active[0], self.seed) if active else None
            i = 0
            for day in self.days:
                if day.active:
                    while True:
                        self._check()
                        try:
                            rec, truth = nxt.result(timeout=0.2)
                            break
                        except Pending:
                            continue
                    i += 1
                    nxt = pool.submit(M.day_motion, active[i], self.seed) if i < len(active) else None
                    self._one_day(day, rec, truth, flash.name, first=i == 1)
                    del rec
                self.days_done += 1
                if bar is not None:
                    bar.update(1)
            done = True
        except (_Stop, KeyboardInterrupt):
            raise DemoInterrupted(self.days_done, len(self.days), self.db_path) from None
        finally:
            signal.signal(signal.SIGINT, old)
            pool.shutdown(wait=done, cancel_futures=True)  # waited for: its CPU time counts
            flash.cleanup()
        return self._accounting()

    def _on_sigint(self, _sig, _frame):
        self.stop = True

    def _check(self):
        if self.stop:
            raise _Stop()

    def _one_day(self, day, rec, truth, flash_dir: str, first: bool) -> None:
        from repband.virtual.device import VirtualBand

        for k in self.truth:
            self.truth[k] += truth[k]
        band = VirtualBand(rec, flash_dir=flash_dir, config={"leg": day.first_leg} if first else None)
        self._band = band
        self._wall = lambda: M.local_epoch(day, band.clock.s)
        rec_end = len(rec.t) / band.rows_hz
        if truth["switch_s"] is not None:  # strapped on the other thigh: a double press
            t = truth["switch_s"] - M.STRAP_S / 2
            band.press(0, at_s=t, ms=150)
            band.press(0, at_s=t + 0.3, ms=150)
        band.press(0, at_s=rec_end + 3.0)  # done: the person ends the session with the button
        if self.chaos and self.rng.random() < self.reboot_p:  # a reset some time during the routine
            band.at(self.rng.uniform(5.0, rec_end), self._reboot)
        try:
            band.run_host(band.with_client(lambda c: self._host(c, day, rec_end), connect=False, keys=self.keys),
                          until_s=rec_end + 3600.0)
            self.virtual_s += band.clock.s
            self.on_band = band.log_on_flash()
            self.ledger.update(band.ledger)
            self.resets += len(band.resets)
            self.address = band.address
        finally:
            self._band = None
            band.close()

    def _reboot(self):
        self.stats["reboots"] += 1
        self._band.reboot()

    # -- the host --------------------------------------------------------------------

    async def _host(self, client, day, rec_end: float):
        """The person's computer that day: it sets the band's clock when the band comes on
        and syncs after the session (with chaos: also now and then while the band
        records). The band is moved to the other leg without it (a double press)."""
        from repband.link import set_time

        band = self._band
        await client.connect(timeout=60.0)
        await set_time(client, self._wall())
        for _ in range(40):  # the band takes the write at its next poll: wait until it shows
            if P.decode_live(await client.read(P.LIVE_UUID))["flags"] & P.LIVE_TIME_SET:
                break
            await asyncio.sleep(0.05)
        if not self.chaos:
            await client.disconnect()
        next_sync = band.clock.s + self.rng.uniform(30, 200)
        while band.clock.s < rec_end + 8.0:
            self._check()
            if self.chaos and band.clock.s >= next_sync:
                await self.attempt(client, True)
                next_sync = band.clock.s + self.rng.uniform(20, 120)
            await asyncio.sleep(1.0 if self.chaos else 0.5)
        for i in range(12):  # the session ended: sync it (faults go on; a clean try after five)
            self._check()
            if await self.attempt(client, self.chaos and i < 5):
                break
        self._count_faults()
        if client.is_connected:
            await client.disconnect()

    async def _connect(self, client, faulty: bool) -> None:
        if not client.is_connected:
            await client.connect(timeout=30.0)
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
        """One sync attempt, with a database opened for it (as a host process would);
        True when complete."""
        from repband.db import Database

        band = self._band
        self.stats["sync_attempts"] += 1
        db = Database(self.db_path)
        try:
            await self._connect(client, faulty)
            if faulty and self.rng.random() < self.reboot_p / 4:
                band.at(band.clock.s + self.rng.uniform(0.01, 1.5), self._reboot)  # mid-sync
            if faulty and self.rng.random() < self.kill_p:
                try:
                    await asyncio.wait_for(_sync_once(band, client, db, self._wall), self.rng.uniform(0.02, 1.0))
                except asyncio.TimeoutError:
                    self.stats["host_kills"] += 1  # the host died: uncommitted records are gone
                    return False
            else:
                await _sync_once(band, client, db, self._wall)
            self.stats["syncs_complete"] += 1
            return True
        except Exception as e:  # every failure is counted; the next attempt resumes
            self.stats["interrupted"] += 1
            name = type(e).__name__
            self.stats["errors"][name] = self.stats["errors"].get(name, 0) + 1
            return False
        finally:
            db.close()

    # -- the check -------------------------------------------------------------------

    def _accounting(self) -> dict:
        from repband.db import Database

        with Database(self.db_path) as db:
            dev = None if self.address is None else db.device_id(self.address)
            rows = {} if dev is None else {s: bytes(r) for s, r in db.conn.execute(
                "SELECT seq, raw FROM raw_records WHERE device_id = ?", (dev,))}
        return account(self.ledger, rows, self.on_band) | {"virtual_days_s": round(self.virtual_s, 1),
                                                           "resets": self.resets, "stats": self.stats}


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


def run_days(days: int = 30, seed: int = 1, leg: str = "right", end: _dt.date | None = None, db_path=None,
             chaos: int | None = None, quiet: bool = True) -> dict:
    """`days` days of use ending on `end` (default: today), synced into a new database
    (`demo_database(db_path)`); the figures, the accounting and what the database shows."""
    from repband import history as H
    from repband.db import Database

    w0 = time.perf_counter()
    cpu0 = _cpu_s()
    end = end or _dt.date.today()
    plan = M.plan(days, end, seed, leg)
    path = demo_database(db_path)
    Database(path).close()  # made before the first day: an interrupted run still leaves it
    run = _Days(plan, seed, path, chaos)
    with progress.bar(days, "demo", unit="day", quiet=quiet) as bar:
        res = run.run(bar)
    with Database(path) as db:
        st = H.stats(db, {"targets": H.DEFAULT_TARGETS}, plan[0].date.isoformat(), end.isoformat(),
                     today_day=end.isoformat())
    kinds = {k: sum(1 for d in plan if d.kind == k) for k in ("routine", "short", "rest", "missed")}
    res.update({"days": days, "since": plan[0].date.isoformat(), "until": end.isoformat(), "db": str(path),
                "chaos_seed": chaos, "plan": kinds, "truth": run.truth, "totals": st["totals"],
                "trends": _trends(st), "wall_s": round(time.perf_counter() - w0, 1),
                "cpu_s": [round(a - b, 1) for a, b in zip(_cpu_s(), cpu0)], "peak_rss_mb": _peak_rss_mb()})
    return res


def _cpu_s() -> tuple[float, float]:
    """CPU seconds of this process and of its finished children (the simulator's)."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def _trends(st: dict) -> dict:
    """First-week and last-week means of range of motion and stretch holds."""
    out = {}
    for x in st["exercises"]:
        tr = x["rom_trend_deg"]
        key = x["exercise"] if x["side"] in (None, "none") else f"{x['exercise']}_{x['side']}"
        out[f"{key}_rom_deg"] = [tr["first_week"], tr["last_week"]]
    for side in ("left", "right"):
        tr = st["holds"][side]["trend_s"]
        out[f"stretch_{side}_hold_s"] = [tr["first_week"], tr["last_week"]]
    return out


def _peak_rss_mb() -> float:
    import resource

    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kb / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def _print_days(res: dict, out=None) -> None:
    from repband.history import plural

    out = out or sys.stdout
    k, tt, tr = res["plan"], res["totals"], res["truth"]
    chaos = "" if res["chaos_seed"] is None else f", with faults (seed {res['chaos_seed']})"
    print(f"repband demo: {plural(res['days'], 'day')} of use, {res['since']} to {res['until']}, on the virtual "
          f"band{chaos}, synced into {res['db']}", file=out)
    kinds = [plural(k["routine"], "routine day")] + [plural(k[x], label) for x, label in (
        ("short", "short day"), ("rest", "rest day"), ("missed", "missed day")) if k[x]]
    print(f"  {', '.join(kinds)}; on a routine day the band moves to the other thigh half-way (a double press"
          f" of its button), a short day is bridges and one side", file=out)
    done = tr["bridge"] + tr["clam_left"] + tr["clam_right"]
    share = f" ({100 * tt['reps'] / done:.1f} % of the {done} the simulated person did)" if done else ""
    holds = tr["holds_left"] + tr["holds_right"]
    print(f"  the band counted {tt['reps']} full reps{share}: bridges {tt['bridge_reps']}, clams left "
          f"{tt['clam_left']}, right {tt['clam_right']}; {plural(tt['holds'], 'stretch hold')} "
          f"(of {holds})", file=out)
    parts = []
    names = {"bridge_none_rom_deg": "bridges", "bridge_rom_deg": "bridges", "clam_left_rom_deg": "clams left",
             "clam_right_rom_deg": "clams right"}
    for key, label in names.items():
        v = res["trends"].get(key)
        if v and v[0] is not None:
            parts.append(f"{label} {v[0]:.0f} -> {v[1]:.0f} deg")
    for side in ("left", "right"):
        v = res["trends"].get(f"stretch_{side}_hold_s")
        if v and v[0] is not None:
            parts.append(f"stretch {side} {v[0]:.0f} -> {v[1]:.0f} s")
    if parts and res["days"] >= 14:  # a first and a last week that do not overlap
        print("  first week -> last week: " + ", ".join(parts), file=out)
    st = res["stats"]
    if res["chaos_seed"] is not None:
        print(f"  faults: {st['sync_attempts']} sync attempts, {st['interrupted']} interrupted, "
              f"{res['resets']} band resets, {st['host_kills']} host kills, "
              f"{st['dropped_notifications']} notifications dropped, {st['duplicated_notifications']} duplicated",
              file=out)
    print(f"  band wrote {res['device_records']} records, the database holds {res['db_records']}: "
          f"lost {res['lost']}, duplicates {res['duplicates']}", file=out)
    print(f"  {plural(res['days'], 'day')} ({res['virtual_days_s'] / 60:.0f} min of the band's time) in "
          f"{res['wall_s']:.1f} s "
          f"({res['wall_s'] / res['days']:.2f} s a day; CPU: {res['cpu_s'][0]:.1f} s the band and the host, "
          f"{res['cpu_s'][1]:.1f} s the simulated person in a second process); peak memory "
          f"{res['peak_rss_mb']:.0f} MB", file=out)
    _next(res["db"], out)


# ----------------------------------------------------------------------------- command


def cmd_demo(args) -> int:
    days, chaos, end = args.days, args.chaos, args.end
    if days is None and chaos is None and end is None:
        res = run_demo(seed=args.seed, leg=args.leg, rate=args.rate, db_path=args.db, quiet=args.json)
        if args.json:
            sys.stdout.write(json.dumps({k: res[k] for k in ("device_records", "db_records", "wall_s", "db")}
                                        | {"score": res["score"]}) + "\n")
        return exits.OK
    try:
        res = run_days(days or 1, seed=args.seed, leg=args.leg, end=end, db_path=args.db, chaos=chaos,
                       quiet=args.json)
    except DemoInterrupted as exc:
        print(f"repband: {exc}", file=sys.stderr)
        return exits.INTERRUPTED
    if args.json:
        sys.stdout.write(json.dumps({k: v for k, v in res.items()}) + "\n")
    else:
        _print_days(res)
    return exits.OK if res["lost"] == 0 and res["duplicates"] == 0 else exits.FAILED
