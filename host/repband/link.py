"""Host side of the band's BLE protocol, independent of bleak.

Everything here talks to a tiny async GATT client interface that bleak's
`BleakClient` and the emulation's `repband.virtual.bluetooth.Central` both satisfy:

    await client.read(uuid) -> bytes          (BleakClient: read_gatt_char; see GattAdapter)
    await client.write(uuid, data, response=True)
    await client.start_notify(uuid, callback)  callback(sender, data)
    await client.stop_notify(uuid)
    client.is_connected                        (optional; checked while waiting)

`GattAdapter(bleak_client)` maps the bleak names onto it.

- `RecordLink`: the records sync procedures over the RACP: `count_from(seq)`,
  `records_from(seq)` (async iterator of validated record bytes, oldest first, each
  once), `delete_through(seq)` (send only after the host committed), `abort()`.
  A lost or out-of-step frame makes it abort and re-request from the next seq it
  needs; duplicated frames are dropped; a lost tail is caught by the counts in the
  closing response.
- `check_version(client)`: the host refuses an unknown major protocol version.
- `LiveTracker`, `RawGapDetector`, `control`, `set_time`, `read_status`.

Errors are `LinkError` (or `LinkLost` when the band went away) with a message that
says what to do.
"""
from __future__ import annotations

import asyncio
import time

from repcore import protocol_host as P
from repcore import recdecode, records

ATT_INSUFFICIENT_ENCRYPTION = 0x0F
ATT_INSUFFICIENT_AUTHENTICATION = 0x05
NOT_PAIRED = ("this computer is not paired with the band: run `repband pair` (the link is not encrypted, so "
              "refusing to go on; a band paired with another computer or phone: press its button first, then "
              "pair within 2 minutes)")
U32 = 0xFFFFFFFF  # seqs are u32: the host never asks past one
MAX_REPEATS = 256  # records already given out, in one records_from, before the band is faulty


class LinkError(Exception):
    """The band did not do what was asked; the message says why and what to do."""


class LinkLost(LinkError):
    """The connection dropped (or the band stopped answering)."""


class NotEncrypted(LinkError):
    """The link is not encrypted: nothing that needs the bond may go on."""


class GattAdapter:
    """The small client interface on top of a bleak.BleakClient."""

    def __init__(self, client):
        self.client = client

    @property
    def is_connected(self):
        return self.client.is_connected

    async def read(self, uuid):
        return bytes(await self.client.read_gatt_char(uuid))

    async def write(self, uuid, data, response=True):
        await self.client.write_gatt_char(uuid, bytes(data), response=response)

    async def start_notify(self, uuid, callback):
        await self.client.start_notify(uuid, callback)

    async def stop_notify(self, uuid):
        await self.client.stop_notify(uuid)


def _explain(e: BaseException, what: str) -> LinkError:
    if isinstance(e, LinkError):
        return e
    code = getattr(e, "code", None)
    text = str(e)
    low = text.lower()
    # ATT says "insufficient encryption/authentication"; BlueZ (bleak's BleakDBusError)
    # says "[org.bluez.Error.NotPermitted] Not paired"
    if code in (ATT_INSUFFICIENT_ENCRYPTION, ATT_INSUFFICIENT_AUTHENTICATION) or "encrypt" in low \
            or "authenticat" in low or "not paired" in low:
        return NotEncrypted(NOT_PAIRED)
    if isinstance(e, (ConnectionError, EOFError)) or "disconnect" in low or "not connected" in low:
        return LinkLost(f"{what}: the band disconnected [{text}]")
    return LinkError(f"{what}: {text or type(e).__name__}")


async def _call(what, coro):
    try:
        return await coro
    except (asyncio.CancelledError, KeyboardInterrupt):
        raise
    except Exception as e:  # bleak raises BleakError, the emulation ATTError/Disconnected
        raise _explain(e, what) from e


async def check_version(client) -> tuple[int, int]:
    """Read the protocol version (Device Information, Software Revision: readable
    before pairing) and refuse an unknown major version (protocol.VersionError)."""
    raw = await _call("reading the protocol version", client.read(P.sig_uuid(P.DIS_SOFTWARE)))
    major, minor = P.parse_version_string(raw)
    P.check_version(major, minor)
    return major, minor


async def read_status(client) -> dict:
    return P.decode_status(await _call("reading the status", client.read(P.STATUS_UUID)))


async def read_identity(client) -> str:
    """The band's identity (protocol 1.2, hex). Its attribute needs an encrypted link:
    reading it is also the check that the link is encrypted (bleak cannot say)."""
    try:
        return P.decode_identity(await _call("reading the band's identity", client.read(P.IDENTITY_UUID)))
    except LinkLost:
        # BlueZ pairs by itself when a read needs encryption; a band that does not know
        # this computer refuses that pairing by dropping the link.
        raise NotEncrypted("the band dropped the link when asked for its identity, which needs an encrypted "
                           "link: it does not know this computer (or it was wiped), so nothing goes on. Press "
                           "its button, then repband pair (or move closer and try again)") from None


async def read_settings(client, minor: int) -> dict | None:
    """The band's settings (protocol 1.1: the names of its config.json), or None from a
    band speaking 1.0, which cannot report them."""
    if minor < 1:
        return None
    return P.decode_settings(await _call("reading the settings", client.read(P.SETTINGS_UUID)))


async def set_time(client, unix_s: float | None = None) -> None:
    """Write the Current Time (UTC) so new records carry wall-clock time."""
    if unix_s is None:
        unix_s = time.time()
    await _call("setting the time", client.write(P.sig_uuid(P.CTS_CURRENT_TIME), P.encode_cts(int(unix_s)),
                                                 response=True))


async def _wait(q: asyncio.Queue, client, timeout: float, what: str, deadline: float | None = None):
    """The next item of q; LinkLost when the link drops or nothing comes in time.
    `deadline` (time.monotonic()): the caller's, kept across items that bring no
    progress, so a band repeating what nobody asked for cannot keep it waiting."""
    if deadline is None:
        deadline = time.monotonic() + timeout
    while True:
        if not q.empty() and time.monotonic() < deadline:  # what arrived before a disconnect still counts
            return q.get_nowait()
        if getattr(client, "is_connected", True) is False:
            raise LinkLost(f"{what}: the band disconnected")
        left = deadline - time.monotonic()
        if left <= 0:
            raise LinkLost(f"{what}: no answer from the band in {timeout:g} s")
        try:
            return await asyncio.wait_for(q.get(), min(left, 0.05))
        except asyncio.TimeoutError:
            continue


async def control(client, op: int, a=None, b=None, timeout: float = 5.0) -> int:
    """Write a control point command and wait for its response; returns the result
    (LinkError unless success)."""
    q: asyncio.Queue = asyncio.Queue()

    def cb(_sender, data):
        q.put_nowait(bytes(data))

    await _call("subscribing to the control point", client.start_notify(P.CONTROL_UUID, cb))
    try:
        await _call("sending a command", client.write(P.CONTROL_UUID, P.encode_control(op, a, b), response=True))
        deadline = time.monotonic() + timeout
        while True:
            data = await _wait(q, client, timeout, "waiting for the command's answer", deadline)
            rop, result = P.decode_control_response(data)
            if rop == op:
                break
    finally:
        if getattr(client, "is_connected", True):
            try:
                await client.stop_notify(P.CONTROL_UUID)
            except Exception:
                pass
    if result != P.RESULT_SUCCESS:
        name = P.CTRL_NAMES[op] if 0 < op < len(P.CTRL_NAMES) else str(op)
        raise LinkError(f"the band refused '{name}': {P.RESULT_NAMES[result]}")
    return result


class RecordLink:
    """Records over the RACP. One procedure at a time; use one RecordLink per
    connection (after a reconnect make a new one, or call `open()` again)."""

    def __init__(self, client, timeout: float = 10.0, retries: int = 5, check: bool = True):
        self.client = client
        self.timeout = timeout
        self.retries = retries
        self.check = check
        self._q: asyncio.Queue | None = None
        self._open = False
        self._in_report = False
        self.version: tuple[int, int] | None = None
        self.stats = {"frames": 0, "duplicates": 0, "resyncs": 0, "records": 0}

    # -- set-up --------------------------------------------------------------------------

    def _on_frame(self, _sender, data):
        if self._q is not None:
            self._q.put_nowait(("f", bytes(data)))

    def _on_racp(self, _sender, data):
        if self._q is not None:
            self._q.put_nowait(("r", bytes(data)))

    async def open(self):
        self._q = asyncio.Queue()
        self._in_report = False
        if self.check:
            self.version = await check_version(self.client)
        await _call("subscribing to records", self.client.start_notify(P.RECORDS_UUID, self._on_frame))
        await _call("subscribing to the record access control point",
                    self.client.start_notify(P.RACP_UUID, self._on_racp))
        self._open = True
        return self

    async def close(self):
        if self._open and getattr(self.client, "is_connected", True):
            for u in (P.RECORDS_UUID, P.RACP_UUID):
                try:
                    await self.client.stop_notify(u)
                except Exception:
                    pass
        self._open = False

    async def __aenter__(self):
        return await self.open()

    async def __aexit__(self, *exc):
        await self.close()
        return False

    async def _ensure(self):
        if not self._open:
            await self.open()
        if self._in_report:
            await self._abort_and_wait()  # a report the caller left unfinished

    # -- requests ------------------------------------------------------------------------

    def _drain(self):
        assert self._q is not None
        while not self._q.empty():
            self._q.get_nowait()

    async def _send(self, data: bytes, what: str):
        await _call(what, self.client.write(P.RACP_UUID, data, response=True))

    async def _response(self, req_op: int, what: str) -> dict:
        """The next response to `req_op`, skipping frames and stale answers."""
        assert self._q is not None
        deadline = time.monotonic() + self.timeout  # frames and stale answers do not extend it
        while True:
            kind, data = await _wait(self._q, self.client, self.timeout, what, deadline)
            if kind != "r":
                continue
            r = P.decode_racp_response(data)
            if r["op"] == P.RACP_NUMBER_RESPONSE:
                if req_op == P.RACP_REPORT_NUMBER:
                    return r
                continue
            if r["request"] == req_op:
                return r

    async def _abort_and_wait(self):
        self._in_report = False
        await self._send(P.encode_racp(P.RACP_ABORT), "aborting")
        r = await self._response(P.RACP_ABORT, "waiting for the abort to finish")
        if r["code"] != P.RC_SUCCESS:
            raise LinkError(f"the band could not abort: {P.rc_name(r['code'])}")

    async def _simple(self, op, operator, lo, what):
        """Send a request; on 'server busy' abort what runs and try once more."""
        await self._ensure()
        for attempt in (0, 1):
            self._drain()
            await self._send(P.encode_racp(op, operator, lo), what)
            r = await self._response(op, what)
            if r["op"] == P.RACP_RESPONSE and r["code"] == P.RC_BUSY and attempt == 0:
                await self._abort_and_wait()
                continue
            return r
        return r

    async def count_from(self, seq: int) -> int:
        """Number of records (seqs) on the band with a seq >= `seq`."""
        if seq > U32:
            return 0  # no seq is that high: nothing to ask
        r = await self._simple(P.RACP_REPORT_NUMBER, P.OPR_GE, max(0, int(seq)), "counting records")
        if r["op"] == P.RACP_NUMBER_RESPONSE:
            return r["count"]
        if r["code"] == P.RC_NO_RECORDS:
            return 0
        raise LinkError(f"counting records: {P.rc_name(r['code'])}")

    async def seq_range(self) -> tuple[int | None, int, int]:
        """(first seq the band holds or None, the next seq it will give, its log's
        capacity in bytes), from its status."""
        st = await read_status(self.client)
        return (st["first_seq"] if st["unsynced"] else None), st["next_seq"], st["capacity"]

    async def delete_through(self, seq: int) -> bool:
        """Let the band delete its records with seq <= `seq` (only after committing
        them). True if it deleted some, False if there were none left to delete."""
        r = await self._simple(P.RACP_DELETE, P.OPR_LE, min(max(0, int(seq)), U32), "deleting synced records")
        if r["code"] == P.RC_SUCCESS:
            return True
        if r["code"] == P.RC_NO_RECORDS:
            return False
        raise LinkError(f"deleting records through {seq}: {P.rc_name(r['code'])}")

    async def abort(self):
        """Stop a report the band is sending."""
        if not self._open:
            await self.open()
        await self._abort_and_wait()

    def _account(self, ra):
        self.stats["frames"] += ra.frames
        self.stats["duplicates"] += ra.duplicates

    async def records_from(self, seq: int):
        """Async iterator of the band's records with seq >= `seq`, in seq order, each
        once (also across re-requests after a lost frame). Valid records are checked;
        bytes that arrived whole but are not a valid record (the band's own) come as
        they are, in their place, for the sync engine to quarantine."""
        if seq > U32:
            return
        await self._ensure()
        assert self._q is not None
        nxt = max(0, int(seq))
        failures = 0
        repeats = 0
        while True:
            self._drain()
            await self._send(P.encode_racp(P.RACP_REPORT, P.OPR_GE, nxt), "requesting records")
            self._in_report = True
            ra = P.Reassembler()
            resync = None
            deadline = time.monotonic() + self.timeout  # extended by new frames only
            while True:
                kind, data = await _wait(self._q, self.client, self.timeout, "receiving records", deadline)
                if kind == "f":
                    frames = ra.frames
                    try:
                        recs = ra.feed(data)
                    except P.ProtocolError as e:
                        resync = str(e)
                        break
                    for r in recs:
                        try:
                            records.check(r)
                        except records.RecordError:
                            yield r  # not a record: the sync engine decides
                            continue
                        if records.seq_of(r) < nxt:
                            repeats += 1  # already given out before a re-request
                            if repeats > MAX_REPEATS:
                                raise LinkError("reading records: the band keeps sending records it sent "
                                                "already; its firmware is faulty")
                            continue
                        nxt = recdecode.last_seq_of(r) + 1
                        self.stats["records"] += 1
                        yield r
                    if ra.frames != frames:  # a new frame (not a repeat): the band is sending
                        deadline = time.monotonic() + self.timeout
                    continue
                r = P.decode_racp_response(data)
                if r["op"] != P.RACP_RESPONSE or r["request"] != P.RACP_REPORT:
                    continue  # a stale answer (an abort, a count)
                self._in_report = False
                code = r["code"]
                if code == P.RC_NO_RECORDS:
                    self._account(ra)
                    return
                if code == P.RC_BUSY:
                    resync = "the band was busy"
                    break
                if code != P.RC_SUCCESS:
                    raise LinkError(f"reading records: {P.rc_name(code)}")
                try:
                    rest = ra.finish(r["records"], r["frames"])
                except P.ProtocolError as e:
                    resync = str(e)
                    break
                self._account(ra)
                for b in rest:
                    yield b
                return
            # A frame went missing (or arrived out of step): ask again from `nxt`.
            self._account(ra)
            self.stats["resyncs"] += 1
            failures += 1
            if failures > self.retries:
                raise LinkError(f"reading records: the link keeps losing data ({resync}); "
                                f"move closer to the band and sync again")
            if self._in_report:
                await self._abort_and_wait()


class LiveTracker:
    """Live state notifications in, the current state out; `skipped` counts updates
    the host never saw (collapsed or lost: harmless, the counts are cumulative)."""

    def __init__(self):
        self.state: dict | None = None
        self.updates = 0
        self.skipped = 0

    def feed(self, data) -> dict:
        """The current state after `data`: a notification behind the state already seen
        (a read of the value overtook it, or a repeat) changes nothing."""
        d = P.decode_live(bytes(data))
        if self.state is not None:
            gap = (d["counter"] - self.state["counter"] - 1) & 0xFF
            if gap >= 128:
                return self.state
            self.skipped += gap
        self.state = d
        self.updates += 1
        return d


class RawGapDetector:
    """Raw IMU packets in: decoded packets out, with lost and duplicated packets
    counted from the u16 packet seq."""

    def __init__(self):
        self.last: int | None = None
        self.packets = 0
        self.lost = 0
        self.duplicates = 0
        self.samples = 0

    def feed(self, data) -> dict | None:
        """The decoded packet, or None for a duplicate (or a stale one)."""
        d = P.decode_raw(bytes(data))
        gap = 0
        if self.last is not None:
            gap = P.raw_gap(self.last, d["seq"])
            if gap >= 0x8000:  # behind the last one: a repeat
                self.duplicates += 1
                return None
            self.lost += gap
        self.last = d["seq"]
        self.packets += 1
        self.samples += len(d["samples"])
        d["lost_before"] = gap
        return d
