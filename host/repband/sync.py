"""The sync engine: records from a device's log into the session database, over any
transport that offers the `RecordLink` interface (BLE in repband.link, in-memory
fakes in the tests). Guarantees: docs/database.md.

    result = await sync(link, db, DeviceInfo(address), progress=cb, batch=64)

- Reads the band's range first (`seq_range`: first seq, next seq, log capacity): a
  capacity above protocol_host.MAX_LOG_CAPACITY, a record outside the range, a range
  the log could not hold, or more records than the log can hold in one sync stop the
  sync with `BandError` (a faulty or hostile band).
- Asks for records from the database's last committed seq + 1 (from the device's
  first record when the device still holds records this database already has: those
  are compared byte for byte, so a device whose seqs restarted is caught before any
  delete).
- Every record is checked (recdecode.decode: magic, version, kind, length, CRC, field
  ranges). A record whose CRC fails is asked for again (the link may have garbled it);
  the same bytes at the same place again, or a valid CRC over contents out of range,
  is the band's own: quarantined (kept raw, never decoded into data), its seqs
  recorded as lost, and the sync goes on with the next one.
- A damaged-range record (the band's flash lost seqs a..b) is recorded as lost too.
- Records are stored in batches, one transaction each. The database computes its
  contiguous `last_seq` itself (lost ranges count as settled); the device is told
  `delete_through(last_seq)` only after that commit, and never past a seq the
  database does not hold or know to be lost.
- Gaps (a seq missing in what arrived: lost notification) are requested again, never
  skipped. Only when the device itself reports holding nothing in the gap (its
  count_from is the same on both sides of it) is the gap recorded as missing on the
  device, with a warning in the result.
- Records arriving twice or out of order are absorbed (same bytes) or refused (other
  bytes for a stored seq: `SeqRestartError`, nothing deleted on the device).
- Any link error (disconnect, timeout) ends the sync with `SyncInterrupted`; what was
  received and valid is committed first. Running sync again resumes.
"""
from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from typing import AsyncIterator, Callable, Protocol

from repcore import records as R
from repcore.protocol_host import MAX_LOG_CAPACITY

from repband.db import (GAP_DAMAGED, GAP_MISSING, ConflictError, Database, DatabaseError, DeviceInfo,
                        decode_record)


QUARANTINE_KEEP = 65536  # bytes kept of one stretch that failed its checks (a band may send any amount)


class RecordLink(Protocol):
    """What the sync engine needs from a transport (async)."""

    async def count_from(self, seq: int) -> int:
        """Number of records the device holds with seq >= `seq`."""
        ...

    def records_from(self, seq: int) -> AsyncIterator[bytes]:
        """The device's records with seq >= `seq`, oldest first (one record per item)."""
        ...

    async def delete_through(self, seq: int) -> None:
        """The device may reclaim records up to `seq`."""
        ...

    async def abort(self) -> None:
        """Stop a records_from transfer in progress."""
        ...

    async def seq_range(self) -> tuple[int | None, int, int]:
        """(first seq held or None, next seq the device will give, log capacity bytes)."""
        ...


class SyncError(Exception):
    """A sync that could not finish. `result` holds what was done before it."""

    def __init__(self, message: str, result: "SyncResult | None" = None):
        super().__init__(message)
        self.result = result


class SyncInterrupted(SyncError):
    """The link failed (disconnect, timeout): run sync again to resume."""


class BandError(SyncError):
    """The band broke the protocol's rules (a record outside the range it reports, more
    records than its log can hold): the sync stopped, nothing more was stored."""


class SeqRestartError(SyncError):
    """The device's sequence numbers restarted (reset, reflashed or replaced)."""


class GapError(SyncError):
    """Records the device says it holds did not arrive however often they were asked for."""


@dataclass
class SyncResult:
    device_id: int = 0
    address: str = ""
    received: int = 0  # records that arrived (duplicates included)
    stored: int = 0  # records new to the database
    duplicates: int = 0  # arrived again (already stored or already received)
    first_seq: int | None = None  # lowest seq stored in this sync
    last_seq: int | None = None  # the database holds every record through this seq
    acked_seq: int | None = None  # the device was told it may delete through this seq
    requests: int = 0  # records_from requests made
    rerequests: int = 0  # of which to fill a gap or finish an interrupted stream
    missing: list = field(default_factory=list)  # (first, last): gaps the device does not hold
    damaged: list = field(default_factory=list)  # (first, last): lost on the band's flash
    quarantined: list = field(default_factory=list)  # (first, last, reason): failed their checks
    warnings: list = field(default_factory=list)
    elapsed_s: float = 0.0
    complete: bool = False

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


async def _safe_abort(link) -> None:
    try:
        await link.abort()
    except Exception:  # the link may be gone already
        pass


async def sync(link: RecordLink, db: Database, device: DeviceInfo | str,
               progress: Callable[[int, int], None] | None = None, batch: int = 64,
               max_retries: int = 5, max_rounds: int = 1000) -> SyncResult:
    """Copy the device's new records into `db`, then let the device delete them.

    `device`: DeviceInfo (or just the address). `progress(done, total)` is called
    after every committed batch (records stored in this sync, records to get).
    `max_retries`: requests in a row that bring no progress before GapError.
    """
    if isinstance(device, str):
        device = DeviceInfo(device)
    t0 = time.perf_counter()
    sync_ms = device.seen_ms or int(time.time() * 1000)
    dev = db.upsert_device(device)
    res = SyncResult(device_id=dev, address=device.address)
    staged: dict[int, tuple[bytes, dict]] = {}  # received, valid, not yet committed
    total = 0
    state = {"last": db.last_seq(dev), "held_old": True}

    def commit() -> None:
        if not staged:
            return
        items = [staged[s] for s in sorted(staged)]
        try:
            n = db.store(dev, items, sync_ms=sync_ms, current_boot=device.boot, uptime_ms=device.uptime_ms)
        except ConflictError as exc:
            staged.clear()
            raise SeqRestartError(_restart_message(device.address, str(exc)), res) from None
        except sqlite3.Error as exc:
            staged.clear()
            raise SyncError(f"could not store records in the database ({exc}); nothing past seq "
                            f"{db.last_seq(dev)} was deleted on the device", res) from exc
        staged.clear()
        res.stored += n
        s0 = items[0][1]["seq"]
        if res.first_seq is None or s0 < res.first_seq:
            res.first_seq = s0
        state["last"] = res.last_seq = db.last_seq(dev)
        if progress is not None:
            progress(res.stored, max(total, res.stored))

    async def ack() -> None:
        last = db.last_seq(dev)  # computed by the database from what it holds
        if last is None or (res.acked_seq is not None and last <= res.acked_seq):
            return
        acked_before = db.sync_state(dev)["acked_seq"]
        if not state["held_old"] and acked_before is not None and last <= acked_before:
            return  # the device confirmed this delete before and holds nothing older
        await link.delete_through(last)
        res.acked_seq = last
        db.note_sync(dev, acked=last)

    try:
        band = list(await link.seq_range())  # first held (or None), next seq, capacity
        if band[2] > MAX_LOG_CAPACITY:
            raise BandError(f"{device.address}: the band reports a log of {band[2]} bytes, larger than any band's "
                            f"({MAX_LOG_CAPACITY}); refusing to sync it", res)
        limit = max(1, band[2] // R.MIN_RECORD)  # records the band's log can hold at most
        if band[0] is not None and band[1] - band[0] > limit:
            raise BandError(f"{device.address}: the band reports seqs {band[0]}..{band[1] - 1}, more records "
                            f"than its log of {band[2]} bytes can hold ({limit}); refusing to sync it", res)
        last = state["last"]
        if last is None and db.sync_state(dev)["first_seq"] is None and band[0] is not None:
            db.set_base(dev, band[0])  # first sync: the band's log starts there
        start = 0 if last is None else last + 1
        n_all = await link.count_from(0)
        n_new = n_all if last is None else await link.count_from(start)
        total = n_new
        state["held_old"] = n_all > n_new
        if progress is not None:
            progress(0, total)
        # The device still holds records this database has (an earlier delete did not
        # reach it): read them again, compare, and only then let it delete them.
        request = 0 if n_all > n_new else start
        retries = 0
        rounds = 0
        suspects: dict[int, bytes] = {}  # seq -> bytes that failed their CRC there once
        new_records = 0
        while request is not None:
            rounds += 1
            before = (db.last_seq(dev), len(db.gaps(dev)))
            res.requests += 1
            if rounds > 1:
                res.rerequests += 1
            again = None  # re-request from this seq (bytes garbled on the way?)
            pos = max(request, band[0] or 0)  # the seq the next item stands for
            pending = None  # [first seq, raw kept, reason, bytes] quarantined, its end not known yet
            async for raw in link.records_from(request):
                res.received += 1
                if res.received > 4 * limit + 64:
                    raise BandError(f"{device.address}: the band sent {res.received} records in one sync, "
                                    f"more than its log can hold ({limit}) many times over; stopping", res)
                raw = bytes(raw)
                try:
                    d = decode_record(raw)
                except R.RecordError as exc:
                    try:  # whole, with a valid CRC: its contents are out of range
                        whole = R.check(raw) == len(raw) and R.seq_of(raw) >= pos
                    except (R.RecordError, IndexError):
                        whole = False
                    done = state["last"] if state["last"] is not None else -1
                    if whole:  # the band's own record, under its own seq
                        s = R.seq_of(raw)
                        band = await _in_range(link, band, s, s, device.address, res, commit, ack)
                        commit()
                        if pending is not None:
                            _quarantine(db, dev, res, pending, s - 1)
                            pending = None
                        if s > done:
                            _quarantine(db, dev, res, [s, raw, str(exc), len(raw)], s)
                        pos = s + 1
                        continue
                    if pending is not None:
                        pending[3] += len(raw)  # more of the same stretch: kept with it, up to a bound
                        pending[1] += raw[:QUARANTINE_KEEP - len(pending[1])]
                        continue
                    if pos <= done:
                        continue  # a bad copy of a seq stored already
                    if suspects.get(pos) != raw:
                        suspects[pos] = raw  # the link may have garbled it: ask once more
                        again = pos
                        break
                    pending = [pos, raw[:QUARANTINE_KEEP], str(exc), len(raw)]  # the same bytes again: the band's own
                    continue
                s = d["seq"]
                hi = d["last_seq"] if d["kind"] == R.K_DAMAGED else s
                band = await _in_range(link, band, s, hi, device.address, res, commit, ack)
                if pending is not None:
                    commit()
                    _quarantine(db, dev, res, pending, s - 1)
                    pending = None
                pos = max(pos, hi + 1)
                if d["kind"] == R.K_DAMAGED:
                    commit()
                    cur = state["last"]
                    lo = s if cur is None else max(s, cur + 1)
                    if lo <= hi:
                        for part in db.record_lost(dev, lo, hi, GAP_DAMAGED):
                            res.damaged.append(part)
                            res.warnings.append(f"records {part[0]}..{part[1]} were damaged on the band's "
                                                f"flash and are lost")
                        state["last"] = db.last_seq(dev)
                    continue
                if s in staged:
                    if staged[s][0] != raw:
                        raise SeqRestartError(_restart_message(
                            device.address, f"seq {s} arrived twice with different contents"), res)
                    res.duplicates += 1
                    continue
                stored = db.raw(dev, s)
                if stored is not None:
                    if stored != raw:
                        raise SeqRestartError(_restart_message(
                            device.address, f"the device's record seq {s} differs from the one "
                            f"stored for it"), res)
                    res.duplicates += 1
                    continue
                cur = state["last"]
                if cur is not None and s <= cur:
                    raise SeqRestartError(_restart_message(
                        device.address, f"the device holds a record seq {s} this database never "
                        f"had, below seq {cur} it already completed"), res)
                new_records += 1
                if new_records > limit:
                    commit()
                    await ack()
                    raise BandError(f"{device.address}: the band sent more new records than its log can "
                                    f"hold ({limit}); stopped after storing them. Run sync again.", res)
                staged[s] = (raw, d)
                if len(staged) >= batch:
                    commit()
            if again is not None:
                await _safe_abort(link)
                commit()
                request = again
            else:
                if pending is not None:  # the stream ended with it: one seq (the rest is asked for)
                    commit()
                    _quarantine(db, dev, res, pending, pending[0])
                commit()
                request = await _next_request(link, db, dev, res)
            after = (db.last_seq(dev), len(db.gaps(dev)))
            retries = 0 if after != before else retries + 1
            if request is not None and (retries > max_retries or rounds >= max_rounds):
                await ack()
                raise GapError(
                    f"{device.address}: records from seq {request} did not arrive in {retries} "
                    f"requests in a row; the device may delete nothing past seq {res.acked_seq}. "
                    f"Run sync again.", res)
        res.last_seq = db.last_seq(dev)
        await ack()
        res.complete = True
        db.note_sync(dev, done=True)
    except SyncError as exc:
        exc.result = res
        await _safe_abort(link)
        _note_error(db, dev, str(exc))
        raise
    except DatabaseError:
        raise
    except Exception as exc:  # the link failed: keep what arrived whole, then report
        try:
            commit()
        except Exception:
            pass
        res.last_seq = db.last_seq(dev)
        msg = (f"{device.address}: link lost during sync ({type(exc).__name__}: {exc}); "
               f"{res.stored} records stored, the database holds everything through seq "
               f"{res.last_seq}. Run sync again to resume.")
        _note_error(db, dev, msg)
        raise SyncInterrupted(msg, res) from exc
    finally:
        res.elapsed_s = time.perf_counter() - t0
    return res


async def _in_range(link, band: list, s: int, hi: int, address: str, res: SyncResult, commit, ack) -> list:
    """The band's range, read again if seqs s..hi are outside it (the band appended or
    deleted meanwhile); BandError if they still are."""
    if band[0] is not None and band[0] <= s and hi < band[1]:
        return band
    band = list(await link.seq_range())
    if band[0] is not None and band[0] <= s and hi < band[1]:
        return band
    commit()
    await ack()
    raise BandError(f"{address}: the band sent record seq {s}{'' if hi == s else f'..{hi}'}, outside the "
                    f"seqs it reports holding ({'none' if band[0] is None else f'{band[0]}..{band[1] - 1}'}); "
                    f"refused. The device may delete nothing past seq {res.acked_seq}. A band that does "
                    f"this again is faulty or not yours.", res)


def _quarantine(db: Database, dev: int, res: SyncResult, pending: list, last: int) -> None:
    """Keep bytes that failed their checks, raw (the first QUARANTINE_KEEP of them), for
    seqs pending[0]..last."""
    first, raw, why, size = pending
    if size > len(raw):
        why += f" ({size} bytes, the first {len(raw)} kept)"
    last = max(first, last)
    db.quarantine(dev, first, last, raw, why)
    res.quarantined.append((first, last, why))
    res.warnings.append(f"record{'s' if last > first else ''} {first}{'' if last == first else f'..{last}'} "
                        f"from the band failed {'its' if last == first else 'their'} checks ({why}): "
                        f"quarantined, not shown (repband db)")


async def _next_request(link, db: Database, dev: int, res: SyncResult) -> int | None:
    """After a stream: the seq to ask from next, or None when the database holds
    everything the device holds. Gaps the device does not hold are settled here."""
    while True:
        last = db.last_seq(dev)
        lo = 0 if last is None else last + 1
        nxt = db.next_stored_seq(dev, lo)
        if nxt is None:
            # nothing stored past the contiguous part: done unless the device has more
            # (appended meanwhile, or the end of the stream was lost)
            return lo if await link.count_from(lo) > 0 else None
        if nxt == lo:  # first sync, the device's log starts at lo
            db.set_base(dev, lo)
            continue
        # seqs lo .. nxt-1 did not arrive. Does the device hold any of them?
        a = await link.count_from(lo)
        b = await link.count_from(nxt)
        if a != b:
            return lo  # yes: ask again (lost notifications)
        if last is None and db.sync_state(dev)["first_seq"] is None:
            db.set_base(dev, nxt)  # the device's log starts at nxt
        else:
            db.record_gap(dev, lo, nxt - 1, GAP_MISSING)
            res.missing.append((lo, nxt - 1))
            res.warnings.append(
                f"records {lo}..{nxt - 1} are no longer on the device and were never stored here "
                f"(deleted after another host synced them, or damaged on the device)")


def _restart_message(address: str, detail: str) -> str:
    return (f"{address}: {detail}. The device's sequence numbers restarted (it was reset, "
            f"reflashed or replaced); nothing was deleted on it and nothing stored was changed. "
            f"To keep the old records and sync it as a new log: repband sync --device-reset")


def _note_error(db: Database, dev: int, msg: str) -> None:
    try:
        db.note_sync(dev, error=msg)
    except Exception:
        pass
