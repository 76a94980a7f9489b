"""The band commands: scan, pair, forget, live, sync, record, config, time (over bleak, or
`--device virtual` for the in-process virtual band). User guide: docs/user-guide-sync.md.

Every command connects through `repband.device.open_device` (retries with backoff),
checks the protocol version, and (except `scan` and `time`) sets the band's clock.
With `--device virtual` the whole command runs on the virtual band's own event loop
(`repband.device.run_virtual`): `live` and `record` with the band worn through a
simulated routine, `live` in real time; times and durations are the band's
(the loop's time()).
Failures print one line `repband: message` on stderr with what to do, no traceback:
exit status 2 (repband.exits.FIX) when this computer cannot do Bluetooth now (off, no
adapter, no permission, BlueZ not running) or the database is unusable, 1 (FAILED) for
the rest (band not found, link lost, the band refused, sync stopped).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time

from repcore import protocol_host as P

from repband import device as D
from repband import exits, progress
from repband.cli import whole_number
from repband.db import Database, DatabaseError, DeviceInfo, add_db_argument, locate
from repband.private import open_private
from repband.link import (LinkError, LinkLost, LiveTracker, RawGapDetector, RecordLink, check_version,
                          control, read_identity, read_settings, read_status, set_time)


LEGS = {"left": 1, "right": 2}
PLACEMENTS = {"thigh": 0, "hip": 1}
MODES = {"auto": 0, "bridge": 1, "clam": 2, "stretch": 3}
DEFAULT_TARGETS = (10, 30)
# What the band's config accepts (firmware/app/config.py; tests/test_commands_ble.py
# checks these against it): refused here, before connecting, with the range.
TARGET_REPS = (1, 100)
TARGET_HOLD_S = (5, 300)


def _fail(msg: str, code: int = exits.FAILED) -> int:
    print("repband: " + " ".join(str(msg).split()), file=sys.stderr)
    return code


def _run(coro_fn, args, worn: bool = False, realtime: bool = False, writes: bool = False) -> int:
    """Run an async command; every expected failure becomes one line and an exit code.
    With the virtual band: on its loop, `worn` through the routine, in `realtime`.
    `writes`: the command stores into the database, whose path is checked first
    (`args.database`), before any band is touched."""
    from repband.sync import SyncError

    try:
        if writes:
            args.database = _Database(args)
        if D.resolve_spec(args.device) == D.VIRTUAL:
            return D.run_virtual(lambda: coro_fn(args), play=worn, realtime=realtime)
        return asyncio.run(coro_fn(args))
    except D.DeviceError as exc:
        return _fail(str(exc), exc.exit_code)
    except P.VersionError as exc:
        return _fail(str(exc))
    except SyncError as exc:
        return _fail(str(exc))
    except LinkError as exc:
        return _fail(str(exc))
    except DatabaseError as exc:
        return _fail(str(exc), exits.FIX)
    except BrokenPipeError:  # the reader of our output left (`repband scan | head -1`): cli.main
        raise
    except (P.ProtocolError, OSError) as exc:
        if isinstance(exc, OSError) and exc.filename and "dbus" not in str(exc.filename):
            return _fail(f"{exc.filename}: {exc.strerror}", exits.FIX)  # --out, --db: a file problem
        err = D.explain(exc)
        if isinstance(err, D.BluetoothUnavailable):
            return _fail(str(err), err.exit_code)
        return _fail(f"{type(exc).__name__}: {exc}")
    except Exception as exc:
        if type(exc).__module__.startswith(("bleak", "dbus_fast")):  # whatever bleak raised
            err = D.explain(exc)
            return _fail(str(err), err.exit_code)
        raise


@contextlib.asynccontextmanager
async def _connected(args, **kw):
    """D.open_device, with a bar counting the seconds of the search (a band that is not
    there takes the whole --timeout to say so)."""
    spec = D.resolve_spec(args.device)
    what = f"looking for the band {spec}" if spec else "looking for a repband band"
    async with contextlib.AsyncExitStack() as stack:
        async with progress.waiting(what, args.timeout, quiet=getattr(args, "json", False)):
            c = await stack.enter_async_context(
                D.open_device(args.device, timeout=args.timeout, attempts=args.attempts, **kw))
        yield c


@contextlib.asynccontextmanager
async def _band(args, set_clock: bool = True):
    """Connected, version checked, clock set (the host sets it at every connection)."""
    async with _connected(args) as c:
        major, minor = await check_version(c)
        c.protocol_version = f"{major}.{minor}"
        c.protocol_minor = minor
        # Protocol 1.2: the band's identity, which needs the encrypted link (the check).
        c.identity = await read_identity(c) if minor >= 2 else None
        if set_clock:
            await set_time(c)
        yield c


class _Database:
    """The database `pair` and `sync` write to, checked before the band is touched
    (repband.db.locate: a folder or a missing folder is refused). A new one is made
    only once the band answered, and the command says so."""

    def __init__(self, args):
        self.path = locate(args.db, create=True)
        self.new = not self.path.exists()

    def open(self, quiet: bool = False) -> Database:
        db = Database(self.path)
        if self.new and not quiet:
            print(f"repband: made a new database at {self.path}", file=sys.stderr)
        self.new = False
        return db


def _not_this_band(db: Database, c, known: str) -> LinkError:
    """The band at a known address has another identity: say what that means."""
    dev = db.device_id(c.address)
    st = db.sync_state(dev) if dev is not None else {}
    when = (time.strftime("%Y-%m-%d %H:%M", time.localtime(st["last_sync_ms"] / 1000))
            if st.get("last_sync_ms") else "never")
    if not c.identity:  # it says it speaks a protocol older than 1.2: no identity to show
        return LinkError(
            f"{_label(c)} says it speaks protocol {c.protocol_version}, which has no identity, but the band "
            f"paired here has one ({known[:8]}…): it is another band at that address, or older firmware. "
            f"Nothing was synced or deleted. Update its firmware (repband flash), or to take it as a new "
            f"band, keeping the old one's history apart: repband pair --replace")
    return LinkError(
        f"{_label(c)} is not the band paired here (identity {c.identity[:8]}…, this computer knows "
        f"{known[:8]}…): it was wiped (its flash reformatted, or a factory reset: the records it "
        f"made after the last sync, {when}, are lost; this database holds everything through seq "
        f"{st.get('last_seq')}), or it is another band. Nothing was synced or deleted. To take it as a "
        f"new band, keeping the old one's history apart: repband pair --replace")


def _label(c) -> str:
    return f"{c.name} ({c.address})" if c.name else c.address


# ---------------------------------------------------------------------------- scan


async def _scan(args) -> int:
    spec = D.resolve_spec(args.device)
    async with progress.waiting("scanning for bands", args.scan_timeout, quiet=args.json):
        found = await D.scan(D.VIRTUAL if spec == D.VIRTUAL else None, timeout=args.scan_timeout,
                             all_devices=args.all)
    known = {}
    with contextlib.suppress(Exception), Database(locate(args.db)) as db:  # none yet: nothing known
        known = {d["address"]: d for d in db.devices() if not d["retired_ms"]}
    if args.json:
        print(json.dumps([{**f.as_dict(), "known": f.address in known} for f in found]))
        return 0 if found else exits.FAILED
    if not found:
        return _fail(D.NOT_FOUND.format(what=""))
    for f in found:
        extra = []
        if not f.repband:
            extra.append("not a repband")
        if f.address in known:
            k = known[f.address]
            extra.append(f"known: {k['records']} records synced" if k["last_sync_ms"] else "known")
        rssi = f"{f.rssi} dBm" if f.rssi is not None else "-"
        print(f"{f.address}  {f.name or '?':<16} {rssi:>8}" + (f"  ({', '.join(extra)})" if extra else ""))
    return 0


# ---------------------------------------------------------------------------- pair


PAIR_REFUSED = ("the band refused to pair: press its button (or switch it on) and run `repband pair` "
                "within 2 minutes")


async def _dropped(c, within: float = 1.0) -> bool:
    """The link is down, now or within `within` s (the stack reports a disconnect a
    moment after the request it broke)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while getattr(c, "is_connected", True):
        if loop.time() >= end:
            return False
        await asyncio.sleep(0.05)
    return True


async def _forget(c) -> None:
    """Drop this computer's half of a pairing the band refused to keep: else the next
    `repband pair` would find the computer 'already paired' (BlueZ) and skip pairing."""
    unpair = getattr(c, "unpair", None) or getattr(getattr(c, "client", None), "unpair", None)
    if unpair is not None:
        with contextlib.suppress(Exception):
            await unpair()


async def _pair(args) -> int:
    database = args.database
    async with _connected(args, encrypt=False) as c:
        major, minor = await check_version(c)  # readable before pairing
        c.protocol_version, c.protocol_minor = f"{major}.{minor}", minor
        try:
            await c.pair()
            # Outside its pairing window the band lets the pairing run, then drops the
            # link and ignores what was written (docs/protocol.md): only its own answer
            # to a request shows it took this computer. A record count is harmless.
            link = await RecordLink(c, timeout=5.0, check=False).open()
            await link.count_from(0)
            await link.close()
        except (LinkError, D.DeviceError, ConnectionError):
            if not await _dropped(c):
                raise
            await _forget(c)
            raise LinkError(PAIR_REFUSED) from None
        c.identity = await read_identity(c) if minor >= 2 else None
        if not database.new and not args.replace:  # not the band paired here: tell it nothing
            with database.open(quiet=True) as db:
                known = db.identity(c.address)
                if known and known != c.identity:
                    raise _not_this_band(db, c, known)
        await set_time(c)
        told = await _give_setup(c, args, pairing=True)
        st = await read_status(c)
        address, name = c.address, c.name
    new = database.new
    with database.open(quiet=True) as db:
        known = db.identity(address)
        if known and known != c.identity:  # pair --replace (else refused above)
            old = db.retire_device(address)
            print(f"{address}: the old band's history stays in the database as retired device {old}; "
                  f"this band starts a new one")
        dev = db.upsert_device(DeviceInfo(address, name, f"{major}.{minor}", seen_ms=int(time.time() * 1000)))
        if c.identity:
            db.set_identity(dev, c.identity)
    print(f"paired with {name or 'the band'} ({address}): protocol {major}.{minor}, "
          f"{st['unsynced']} records waiting, clock set")
    if told:
        print(told)
    else:
        print("the band keeps its own leg and placement: `repband setup` tells repband yours, and the band "
              "gets them at the next sync")
    if new:
        print(f"made the database {database.path}")
    print(f"Next: repband sync --device {D.VIRTUAL if getattr(c, 'virtual', False) else address}")
    return 0


# ---------------------------------------------------------------------------- forget


async def _forget_band(args) -> int:
    """Wipe the band (factory reset: records, pairings, settings, identity) and make
    this computer forget it; its history stays in the database, retired."""
    async with _band(args) as c:
        label, address = _label(c), c.address
        if c.protocol_minor < 2:
            raise LinkError(f"{label}: its firmware (protocol {c.protocol_version}) cannot be wiped from here: "
                            f"update it first (repband flash)")
        st = await read_status(c)
        if st["unsynced"] and not args.force:
            raise LinkError(f"{label} holds {st['unsynced']} records not synced yet: sync them first "
                            f"(repband sync), or add --force to wipe them with the band")
        await control(c, P.CTRL_FACTORY_RESET, P.FACTORY_RESET_MAGIC)
        await _forget(c)  # this computer's half of the pairing
    old = None
    if not args.database.new:  # no database yet: nothing to keep apart, none made
        with args.database.open() as db:
            old = db.retire_device(address)
    print(f"{label}: wiped (records, pairings, settings, identity); it restarts as a new band, ready to "
          f"pair with anyone. This computer forgot it" + (f"; its history stays in the database as retired "
                                                          f"device {old}" if old is not None else ""))
    return 0


# ---------------------------------------------------------------------------- sync


class _Progress:
    """The sync's records as a bar (repband.progress), across resumes."""

    def __init__(self, label, quiet=False):
        self.bar = progress.bar(0, label, unit="rec", quiet=quiet)
        self.base = 0  # stored by earlier rounds (after a resume)

    def __call__(self, done, total):
        if not self.bar.disable:
            self.bar.total = self.base + total
            self.bar.n = self.base + done
            self.bar.refresh()

    def close(self):
        self.bar.close()


async def _sync(args) -> int:
    from repband.sync import SyncInterrupted, sync

    total = {"stored": 0, "received": 0, "duplicates": 0, "resumes": 0}
    told = None
    warnings: list[str] = []
    res = None
    label = "the band"
    delay = 0.5
    database = args.database
    bar = _Progress("sync", quiet=args.json)
    db = None if database.new else database.open()
    try:
        for attempt in range(args.retries + 1):
            try:
                async with _band(args) as c:
                    db = db or database.open()
                    if args.device_reset and attempt == 0:
                        old = db.retire_device(c.address)
                        if old is not None:
                            print(f"{c.address}: the old log is kept as retired device {old}; "
                                  f"syncing the band as a new device", file=sys.stderr)
                    info = DeviceInfo(c.address, c.name, c.protocol_version, seen_ms=int(time.time() * 1000))
                    # Never merge another band (or a wiped one) into this history, nor tell
                    # it anything; a band that says it speaks 1.0 or 1.1 has no identity, so
                    # it cannot be one known.
                    known = db.identity(c.address)
                    if known is not None and known != c.identity:
                        raise _not_this_band(db, c, known)
                    if known is None and c.identity:  # paired before protocol 1.2: known from now on
                        db.set_identity(db.upsert_device(info), c.identity)
                    if attempt == 0:
                        told = await _give_setup(c, args, pairing=False)
                    link = await RecordLink(c).open()
                    res = await sync(link, db, info, progress=bar)
                    label = _label(c)
            except (SyncInterrupted, LinkLost) as exc:
                r = getattr(exc, "result", None)
                if r is not None:
                    bar.base += r.stored
                    for k in ("stored", "received", "duplicates"):
                        total[k] += getattr(r, k)
                if attempt >= args.retries:
                    raise
                total["resumes"] += 1
                print(f"repband: link lost, resuming in {delay:g} s ({attempt + 1}/{args.retries})",
                      file=sys.stderr)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 8.0)
                continue
            break
    finally:
        bar.close()
        if db is not None:
            db.close()
    assert res is not None
    for k in ("stored", "received", "duplicates"):
        total[k] += getattr(res, k)
    warnings = list(res.warnings)
    if args.json:
        out = {**res.as_dict(), **total, "warnings": warnings, "told_band": told}
        print(json.dumps(out))
        return 0
    for w in warnings:
        print(f"repband: warning: {w}", file=sys.stderr)
    if told:
        print(told)
    if total["stored"]:
        print(f"{label}: {total['stored']} new records stored, the database holds everything through "
              f"seq {res.last_seq}" + (f" ({total['resumes']} reconnects)" if total["resumes"] else ""))
    else:
        through = f" (everything through seq {res.last_seq} is stored)" if res.last_seq is not None else ""
        print(f"{label}: nothing new{through}")
    return 0


# ---------------------------------------------------------------------------- live

_EX = {1: "bridge", 2: "clam", 3: "stretch"}
_SIDE = {1: "left", 2: "right"}


def live_line(d: dict) -> str:
    parts = [("session running" if d["session_active"] else "no session")]
    parts.append(f"bridges {d['bridge']}")
    parts.append(f"clams L {d['clam_left']} R {d['clam_right']}")
    parts.append(f"stretch holds L {d['stretch_left']} R {d['stretch_right']}")
    if d["exercise"] in _EX and d["set_count"]:
        side = _SIDE.get(d["side"])
        parts.append(f"set: {_EX[d['exercise']]}{' ' + side if side else ''} x{d['set_count']}")
    if d["hold_active"]:
        parts.append(f"holding {d['hold_ds'] / 10:.1f} s")
    cal = "not calibrated: walk a few steps" if d["session_active"] else "not calibrated"
    flags = [n for n, k in ((cal, not d["calibrated"]), ("storage full", d["storage_full"]),
                            ("sensor fault", d["sensor_fault"]), ("low battery", d["low_battery"])) if k]
    return " | ".join(parts + flags)


async def _live(args) -> int:
    tty = sys.stdout.isatty() and not args.json
    async with _band(args) as c:
        q: asyncio.Queue = asyncio.Queue()
        await c.start_notify(P.LIVE_UUID, lambda _s, data: q.put_nowait(bytes(data)))
        if args.start:
            await control(c, P.CTRL_START)
        tracker = LiveTracker()
        last = [None]

        def show(d):
            line = live_line(d)
            if args.json:
                print(json.dumps({k: v for k, v in d.items() if k != "counts"}), flush=True)
            elif tty:
                sys.stdout.write("\r\033[K" + line)
                sys.stdout.flush()
            elif line != last[0]:
                print(line, flush=True)
            last[0] = line

        d = tracker.feed(await c.read(P.LIVE_UUID))
        show(d)
        if not d["session_active"] and not args.start and not args.once and not args.json:
            print("(no session running: start one with a press of the band's button, or `repband live --start`; "
                  "Ctrl-C leaves)", file=sys.stderr)
        if not args.json:
            from repband import history as H

            if H.load_settings(getattr(args, "config", None))["placement"] == "hip":
                print(f"(on the hip: {H.HIP_NOTE})", file=sys.stderr)
        seen_session = d["session_active"]
        clock = asyncio.get_running_loop()
        deadline = None if args.duration is None else clock.time() + args.duration
        try:
            while not args.once:
                if deadline is not None and clock.time() >= deadline:
                    break
                if not c.is_connected:
                    raise LinkLost("live: the band disconnected; run repband live again")
                try:
                    data = await asyncio.wait_for(q.get(), 0.1)
                except asyncio.TimeoutError:
                    continue
                d = tracker.feed(data)
                show(d)
                seen_session = seen_session or d["session_active"]
                if args.until_end and seen_session and not d["session_active"]:
                    break
        finally:
            if tty:
                print()
        if args.stop and c.is_connected:
            await control(c, P.CTRL_STOP)
    if tracker.skipped and not args.json:
        print(f"({tracker.skipped} updates collapsed or lost on the way: the counts are cumulative, "
              f"nothing is missing)", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------- record


async def _record(args) -> int:
    if args.samples is None and args.duration is None:
        args.duration = 60.0
    settings = {}
    n = 0
    gaps: list[tuple[float, int]] = []
    gd = RawGapDetector()
    async with _band(args) as c:
        settings = await _band_settings(c)
        leg = args.leg or settings.get("leg") or "right"
        placement = args.placement or settings.get("placement") or "thigh"
        q: asyncio.Queue = asyncio.Queue()
        await c.start_notify(P.RAW_UUID, lambda _s, data: q.put_nowait(bytes(data)))
        await control(c, P.CTRL_RAW, 1)
        last_t = None
        skipped = 0
        try:
            with open_private(args.out, "w", encoding="utf-8") as f:  # 0600, like the database
                f.write(f"# placement={placement}\n# leg={leg}\n# rate_hz=104\n# source=repband record\n"
                        f"# device={c.address}\n")
                f.write("t,ax,ay,az" + ("" if args.no_gyro else ",gx,gy,gz") + "\n")
                clock = asyncio.get_running_loop()
                deadline = None if args.duration is None else clock.time() + args.duration
                while args.samples is None or n < args.samples:
                    if deadline is not None and clock.time() >= deadline:
                        break
                    if not c.is_connected:
                        raise LinkLost(f"record: the band disconnected after {n} samples "
                                       f"({args.out} holds them); run repband record again")
                    try:
                        data = await asyncio.wait_for(q.get(), 0.1)
                    except asyncio.TimeoutError:
                        continue
                    pk = gd.feed(data)
                    if pk is None:
                        continue
                    t0 = pk["t_ms"] / 1000.0
                    per = pk["period_us"] / 1e6
                    if pk["lost_before"]:
                        gaps.append((t0, pk["lost_before"]))
                    for i, s in enumerate(pk["samples"]):
                        t = t0 + i * per
                        if last_t is not None and t <= last_t + 1e-5:
                            skipped += 1  # the band's clock stepped back: keep the file valid
                            continue
                        last_t = t
                        row = f"{t:.4f},{s[0] / 1000:.5f},{s[1] / 1000:.5f},{s[2] / 1000:.5f}"
                        if not args.no_gyro:
                            row += f",{s[3] / 10:.3f},{s[4] / 10:.3f},{s[5] / 10:.3f}"
                        f.write(row + "\n")
                        n += 1
                        if args.samples is not None and n >= args.samples:
                            break
        finally:
            if c.is_connected:
                with contextlib.suppress(LinkError):
                    await control(c, P.CTRL_RAW, 0)
    lost = sum(k for _t, k in gaps)
    msg = f"wrote {n} samples to {args.out}"
    if gaps:
        where = ", ".join(f"{t:.2f} s" for t, _k in gaps[:5]) + (", ..." if len(gaps) > 5 else "")
        print(msg + f"; {lost} packets lost in {len(gaps)} gaps (at {where}): the link fell behind, "
              f"move closer to the band")
    else:
        print(msg + "; no gaps")
    return 0


# ---------------------------------------------------------------------------- config


async def _band_settings(c) -> dict:
    """What the band is set to: read from it (protocol 1.1), else what this computer
    last wrote to it (a 1.0 band cannot report its settings); "source" says which."""
    band = await read_settings(c, c.protocol_minor)
    if band is not None:
        return {**band, "source": "band"}
    return {**D.remembered_settings(c.address), "source": "this computer"}


_SHOWN = ("leg", "placement", "mode", "target_reps", "target_hold_s", "session_idle_s")


async def _set(c, leg=None, placement=None, mode=None, target_reps=None, target_hold=None) -> dict:
    """Write settings through the control point (what is None stays); returns them."""
    changes = {}
    if mode:
        await control(c, P.CTRL_MODE, MODES[mode])
        changes["mode"] = mode
    if leg:
        await control(c, P.CTRL_LEG, LEGS[leg])
        changes["leg"] = leg
    if placement:
        await control(c, P.CTRL_PLACEMENT, PLACEMENTS[placement])
        changes["placement"] = placement
    if target_reps is not None or target_hold is not None:
        # The control point sets both targets: the one not given stays as it is.
        before = await _band_settings(c)
        reps = target_reps if target_reps is not None else before.get("target_reps", DEFAULT_TARGETS[0])
        hold = target_hold if target_hold is not None else before.get("target_hold_s", DEFAULT_TARGETS[1])
        await control(c, P.CTRL_TARGETS, int(reps), int(hold))
        changes["target_reps"], changes["target_hold_s"] = int(reps), int(hold)
    if changes:
        D.remember_settings(c.address, changes)
    return changes


async def _give_setup(c, args, pairing: bool) -> str | None:
    """Tell the band what `repband setup` chose (leg, placement, hold target): when it is
    paired, and at the first sync after each `repband setup` (not at every sync: the
    band's own leg switch, a double press, must stay). Returns the line saying so."""
    from repband import history as H

    settings = H.load_settings(getattr(args, "config", None))
    if not settings["configured"]:
        return None
    chosen = {"leg": settings["leg"], "placement": settings["placement"], "hold_s": settings["targets"]["hold_s"]}
    if not pairing and D.remembered_settings(c.address).get("setup") == chosen:
        return None  # given already: what the band has now is its own (or `repband config`'s)
    await _set(c, leg=chosen["leg"], placement=chosen["placement"], target_hold=chosen["hold_s"])
    D.remember_settings(c.address, {"setup": chosen})
    return (f"told the band what `repband setup` chose: the {chosen['leg']} {chosen['placement']}, "
            f"stretch holds of {chosen['hold_s']} s")


async def _config(args) -> int:
    async with _band(args) as c:
        changes = await _set(c, args.leg, args.placement, args.mode, args.target_reps, args.target_hold)
        settings = await _band_settings(c)
        st = await read_status(c)
        label = _label(c)
    if args.json:
        print(json.dumps({"address": c.address, "set": changes, "settings": settings, "status": st}))
        return 0
    if changes:
        print(f"{label}: set " + ", ".join(f"{k}={v}" for k, v in changes.items()))
    print(f"{label}: battery {st['battery'] if st['battery'] is not None else '?'} %, "
          f"{st['unsynced']} records not synced, storage {st['used']}/{st['capacity']} bytes")
    shown = {k: settings[k] for k in _SHOWN if k in settings}
    if settings["source"] == "band":
        feedback = [k for k in ("vibration", "buzzer", "led") if settings[k]]
        print("  settings on the band: " + ", ".join(f"{k}={v}" for k, v in shown.items())
              + ", feedback " + ("+".join(feedback) or "off"))
    elif shown:
        print("  settings written from this computer (the band's firmware speaks protocol "
              f"{c.protocol_version} and cannot report its own): "
              + ", ".join(f"{k}={v}" for k, v in shown.items()))
    else:
        print(f"  this band's firmware (protocol {c.protocol_version}) cannot report its settings; "
              "update it (repband flash), or set them with --leg, --placement, --mode, "
              "--target-reps, --target-hold")
    return 0


# ---------------------------------------------------------------------------- time


def _parse_when(text: str) -> int:
    from datetime import datetime, timezone

    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise D.DeviceError(f"--at {text!r}: not an ISO 8601 time (e.g. 2026-03-01T09:30:00Z)") from None
    if dt.tzinfo is None:
        dt = dt.astimezone()  # local time
    return int(dt.astimezone(timezone.utc).timestamp())


async def _time(args) -> int:
    unix = _parse_when(args.at) if args.at else int(time.time())
    async with _band(args, set_clock=False) as c:
        await set_time(c, unix)
        try:
            back = P.decode_cts(await c.read(P.sig_uuid(P.CTS_CURRENT_TIME)))
        except (P.ProtocolError, LinkError):
            back = None
        label = _label(c)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(unix))
    if back is not None and abs(back - unix) > 2:
        return _fail(f"{label}: the clock was written but reads back "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(back))}; try again")
    print(f"{label}: clock set to {stamp}")
    return 0


# ---------------------------------------------------------------------------- parser


def _device_args(p, connect=True):
    p.add_argument("--device", metavar="SPEC", default=None,
                   help="band address or name, or 'virtual' for the built-in virtual band "
                        f"(default: ${D.DEVICE_ENV}, else the first band found)")
    if connect:
        p.add_argument("--timeout", type=float, default=10.0, help="seconds to find the band (default 10)")
        p.add_argument("--attempts", type=int, default=3, help="connection attempts, with backoff (default 3)")
    add_db_argument(p)


def _config_arg(p):
    p.add_argument("--config", metavar="PATH", default=None,
                   help="settings written by `repband setup`, given to the band at pairing and at the first "
                        "sync after each set-up (default: in your user config folder)")


def add_parser(sub) -> None:
    """Register scan, pair, live, sync, record, config and time."""
    p = sub.add_parser("scan", help="list repband bands nearby")
    _device_args(p, connect=False)
    p.add_argument("--scan-timeout", "--seconds", type=float, default=5.0, dest="scan_timeout",
                   help="seconds to listen (default 5)")
    p.add_argument("--all", action="store_true", help="list every BLE device, not only bands")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=lambda a: _run(_scan, a))

    p = sub.add_parser("pair", help="pair (bond) with a band, set its clock and give it your set-up (a band "
                                    "paired already: press its button first, then pair within 2 minutes)")
    _device_args(p)
    _config_arg(p)
    p.add_argument("--replace", action="store_true",
                   help="the band at this address was wiped or replaced: keep the old band's history "
                        "apart (retired) and take this one as a new band")
    p.set_defaults(func=lambda a: _run(_pair, a, writes=True))

    p = sub.add_parser("forget", help="wipe the band (records, pairings, settings) and make this computer "
                                      "forget it, e.g. before giving it away")
    _device_args(p)
    p.add_argument("--force", action="store_true", help="also when it holds records not synced yet")
    p.set_defaults(func=lambda a: _run(_forget_band, a, writes=True))

    p = sub.add_parser("live", help="show the band's live counts, updated in place")
    _device_args(p)
    p.add_argument("--once", action="store_true", help="print the current state once and exit")
    p.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds")
    p.add_argument("--until-end", action="store_true", help="stop when the session ends")
    p.add_argument("--start", action="store_true", help="start a session on the band first")
    p.add_argument("--stop", action="store_true", help="stop the session when leaving")
    p.add_argument("--json", action="store_true", help="one JSON object per update")
    p.set_defaults(func=lambda a: _run(_live, a, worn=True, realtime=True))

    p = sub.add_parser("sync", help="copy the band's new records into the database")
    _device_args(p)
    _config_arg(p)
    p.add_argument("--retries", type=int, default=3,
                   help="reconnect and resume this often when the link drops (default 3)")
    p.add_argument("--device-reset", action="store_true",
                   help="the band was reset or replaced: keep the old records under a retired device "
                        "and sync it as a new one")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=lambda a: _run(_sync, a, writes=True))

    p = sub.add_parser("record", help="record the raw IMU stream to a CSV (docs/recording-format.md)")
    _device_args(p)
    p.add_argument("--out", "-o", required=True, metavar="FILE")
    p.add_argument("--duration", type=float, default=None, metavar="S", help="seconds (default 60)")
    p.add_argument("--samples", type=int, default=None, metavar="N", help="stop after N samples")
    p.add_argument("--leg", choices=sorted(LEGS), default=None,
                   help="metadata (default: as last set with repband config, else right)")
    p.add_argument("--placement", choices=sorted(PLACEMENTS), default=None,
                   help="metadata (default: as last set with repband config, else thigh)")
    p.add_argument("--no-gyro", action="store_true", help="accelerometer columns only")
    p.set_defaults(func=lambda a: _run(_record, a, worn=True))

    p = sub.add_parser("config", help="show the band's status; set leg, placement, mode, targets")
    _device_args(p)
    p.add_argument("--leg", choices=sorted(LEGS))
    p.add_argument("--placement", choices=sorted(PLACEMENTS))
    p.add_argument("--mode", choices=list(MODES))
    p.add_argument("--target-reps", type=whole_number(*TARGET_REPS), default=None, metavar="N",
                   help="reps per set: the band signals when a set reaches it (%d-%d)" % TARGET_REPS)
    p.add_argument("--target-hold", type=whole_number(*TARGET_HOLD_S, " s"), default=None, metavar="S",
                   help="stretch hold seconds: the band signals when a hold reaches it (%d-%d)" % TARGET_HOLD_S)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=lambda a: _run(_config, a))

    p = sub.add_parser("time", help="set the band's clock (UTC) from this computer's")
    _device_args(p)
    p.add_argument("--at", default=None, metavar="ISO", help="set this time instead (ISO 8601)")
    p.set_defaults(func=lambda a: _run(_time, a))

