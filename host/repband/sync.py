"""The sync engine: records from a device's log into the session database, over any
transport that offers the `RecordLink` interface (BLE in repband.link, in-memory
fakes in the tests). Guarantees: docs/database.md.

    result = await sync(link, db, DeviceInfo(address), progress=cb, batch=64)

- Asks for records from the database's last committed seq + 1 (from the device's
  first record when the device still holds records this database already has: those
  are compared byte for byte, so a device whose seqs restarted is caught before any
  delete).
- Every record is checked (recdecode.decode: magic, version, kind, length, CRC). A bad
  one stops the sync with `CorruptRecordError`; what came before it is kept.
- Records are stored in batches, one transaction each. The database computes its
  contiguous `last_seq` itself; the device is told `delete_through(last_seq)` only
  after that commit, and never past a seq the database does not hold.
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

from repband.db import ConflictError, Database, DeviceInfo, decode_record


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


class SyncError(Exception):
    """A sync that could not finish. `result` holds what was done before it."""

    def __init__(self, message: str, result: "SyncResult | None" = None):
        super().__init__(message)
        self.result = result


class SyncInterrupted(SyncError):
    """The link failed (disconnect, timeout): run sync again to resume."""


class CorruptRecordError(SyncError):
    """A record failed its check (CRC, length, ...): the sync stopped there."""


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
        last = state["last"]
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
        while request is not None:
            rounds += 1
            before = (db.last_seq(dev), len(db.gaps(dev)))
            res.requests += 1
            if rounds > 1:
                res.rerequests += 1
            bad = None
            async for raw in link.records_from(request):
                res.received += 1
                raw = bytes(raw)
                try:
                    d = decode_record(raw)
                except R.RecordError as exc:
                    bad = exc
                    break
                s = d["seq"]
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
                if cur is None and s == 0:
                    db.set_base(dev, 0)  # nothing can come before seq 0
                staged[s] = (raw, d)
                if len(staged) >= batch:
                    commit()
            if bad is not None:
                await _safe_abort(link)
                commit()
                await ack()
                last = db.last_seq(dev)
                where = "the first record" if last is None else f"the record after seq {last}"
                raise CorruptRecordError(
                    f"{device.address}: {where} failed its check ({bad}); the sync stopped, "
                    f"the device may delete nothing past seq {res.acked_seq}. Run sync again.", res)
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
            db.record_gap(dev, lo, nxt - 1, "not on the device")
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
