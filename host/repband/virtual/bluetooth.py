"""MicroPython's `bluetooth` module (the NimBLE build of the esp32 port) for CPython,
strict where real stacks are strict, with a `Central` peer for tests.

    from repband.virtual import bluetooth as bt
    ble = bt.BLE()                       # the band's radio (GATT server side)
    ... firmware registers services, advertises ...
    central = bt.Central(ble)            # a host: bleak-like async GATT client
    async with bt.Air(ble, service.poll):   # run connection events (virtual time)
        await central.connect(); await central.exchange_mtu(185); await central.pair()
        await central.start_notify(uuid, cb); await central.write(uuid, data)

What is enforced, and where it comes from (MicroPython 1.27 extmod/modbluetooth*.c,
NimBLE, the Core spec):

- **ATT MTU** starts at 23 on every connection. Only the central starts the exchange
  (`Central.exchange_mtu`, once per connection, as ATT allows); the result is the
  smaller of the two preferred values (the server's is `config(mtu=...)`, NimBLE's
  default 256), at most 517. `_IRQ_MTU_EXCHANGED` tells the server.
- **Notification / indication payload <= MTU - 3.** Longer values are *truncated* to
  MTU - 3 and sent, as NimBLE does (ble_att_truncate_to_mtu; MicroPython's
  tests/multi_bluetooth/ble_mtu.py relies on it): no error, the tail is silently
  lost. `stats["truncated"]` counts them so tests can assert there were none.
- **Attribute buffers.** A value's buffer is 20 bytes unless `gatts_set_buffer`
  made it larger; a *remote* write longer than the buffer (or than MTU - 3) is
  truncated to it, silently, as MicroPython does. A *local* `gatts_write` grows the
  buffer (mp_bluetooth_gatts_db_write reallocates). Reads by the central return the
  whole value (ATT read blob, as BlueZ/bleak do).
- **Notification queue.** Each connection holds at most `queue_limit` PDUs not yet
  sent; `gatts_notify` / `gatts_indicate` on a full queue raise `OSError(ENOMEM)`
  and send nothing (NimBLE runs out of mbufs: BLE_HS_ENOMEM -> MP_ENOMEM). Each
  connection event (every `interval_ms`) sends at most `packets_per_interval` PDUs.
- **Indications one at a time**: a second `gatts_indicate` on a connection before
  `_IRQ_GATTS_INDICATE_DONE` raises `OSError(EALREADY)` (ATT allows one outstanding
  indication; aioble refuses with "In progress"; stricter than NimBLE, which would
  queue, so firmware that does not wait is caught). The central confirms in the
  connection event after the one that delivered it.
- **Encryption**: reads of FLAG_READ_ENCRYPTED and writes of FLAG_WRITE_ENCRYPTED
  characteristics on an unencrypted link fail with ATT error 0x0F (insufficient
  encryption) and never reach the server. Like NimBLE, the stack does *not* stop the
  server from notifying an unencrypted central (MicroPython sends notifications
  regardless of subscription): `Central.unencrypted_rx` records everything received
  on an unencrypted link so tests can assert nothing sensitive leaked.
- **Pairing and bonding** (NimBLE's security manager and store as MicroPython wires
  them: ble_sm.c, ble_store.c, ble_store_util.c, extmod/nimble/modbluetooth_nimble.c).
  Keys are stored by the app: sec type 1 (our keys for a peer) and 2 (the peer's),
  key = the peer's address as ble_addr_t (type byte + 6 bytes), value = the key
  record (here the address and the 16-byte LTK). `Central.pair()` (LE Secure
  Connections, Just Works):
  1. the repeat-pairing check: `_IRQ_GET_SECRET` (2, 0, key); if the server returns a
     bond for this address, MicroPython deletes it (`_IRQ_SET_SECRET` with value
     None, types 1 and 2, each until the server says there is none) and asks again;
     a server that keeps it makes NimBLE loop for ever (RuntimeError here);
  2. `_IRQ_ENCRYPTION_UPDATE` (encrypted, bonded when both sides asked for bonding)
     *before* the keys are stored (ble_sm_process_result), so a server that calls
     `gap_disconnect` there still gets the store writes;
  3. `_IRQ_SET_SECRET` (1, key, value) then (2, key, value). A False is a full store:
     NimBLE's overflow handler (ble_store_util_status_rr) looks for the oldest bonded
     peer by enumerating type 1 (`_IRQ_GET_SECRET` (1, i, key); MicroPython 1.27
     passes the empty address as key, `BLE.enumerate_with_none` passes None as a
     store that can enumerate would see), unpairs it (deletes as in 1, and drops its
     link) and tries again, until there is no peer left; the pairing then completes
     without a bond on the server's side (ble_sm_persist_keys ignores the failure).
  The central keeps its key whatever the server did (a host's stack stores its half
  when the pairing completed). `Central.encrypt()` on a later connection is NimBLE's
  LTK request: `_IRQ_GET_SECRET` (1, 0, key); no key: PairingError ("key missing",
  no event), a key that does not match the central's: `_IRQ_ENCRYPTION_UPDATE` with
  encrypted 0, then PairingError.
- **Disconnects**: queued PDUs are dropped, an unconfirmed indication completes with
  `_IRQ_GATTS_INDICATE_DONE` status 7 (BLE_HS_ENOTCONN), then
  `_IRQ_CENTRAL_DISCONNECT`; the central's operations raise `Disconnected`.
  Advertising stops when a central connects (NimBLE does) and must be restarted.
- Advertising data over 31 bytes raises OSError(EINVAL); registering services while
  advertising or connected raises OSError(EBUSY) (ble_gatts_reset); every call on an
  inactive radio raises OSError(EPERM) as MicroPython does.

Fault injection on the central (`Central.faults`): drop or duplicate notifications
(by index or probability, seeded), disconnect after N notifications.

**IRQs between the app's steps** (`Interleave`). On esp32 the IRQ handler runs on
NimBLE's task, beside the main loop, between any two of its bytecodes. By default this
emulation delivers IRQs synchronously from the central's calls and the connection
events, at points the app's task never is in the middle of something. `Interleave`
runs the stack's side (any function: a central's action, `BLE.step`, a disconnect) at
the N-th line the app executes in the functions named, so a test can put it between
any two lines of, say, `_notify`, and go through every such point in turn:

    with Interleave(at=k, action=lambda: ble._drop(conn), functions=("poll", "_notify")) as il:
        service.poll()
    il.fired, il.where, il.lines      # did it run, at which (function, line), lines seen
"""
from __future__ import annotations

import asyncio
import errno
import inspect
import random
import sys

FLAG_BROADCAST = 0x0001
FLAG_READ = 0x0002
FLAG_WRITE_NO_RESPONSE = 0x0004
FLAG_WRITE = 0x0008
FLAG_NOTIFY = 0x0010
FLAG_INDICATE = 0x0020
FLAG_AUTHENTICATED_SIGNED_WRITE = 0x0040
FLAG_AUX_WRITE = 0x0100
FLAG_READ_ENCRYPTED = 0x0200
FLAG_READ_AUTHENTICATED = 0x0400
FLAG_READ_AUTHORIZED = 0x0800
FLAG_WRITE_ENCRYPTED = 0x1000
FLAG_WRITE_AUTHENTICATED = 0x2000
FLAG_WRITE_AUTHORIZED = 0x4000

_IRQ_CENTRAL_CONNECT = 1
_IRQ_CENTRAL_DISCONNECT = 2
_IRQ_GATTS_WRITE = 3
_IRQ_GATTS_INDICATE_DONE = 20
_IRQ_MTU_EXCHANGED = 21
_IRQ_ENCRYPTION_UPDATE = 28
_IRQ_GET_SECRET = 29
_IRQ_SET_SECRET = 30

ATT_INVALID_HANDLE = 0x01
ATT_READ_NOT_PERMITTED = 0x02
ATT_WRITE_NOT_PERMITTED = 0x03
ATT_REQUEST_NOT_SUPPORTED = 0x06
ATT_INSUFFICIENT_ENCRYPTION = 0x0F

DEFAULT_ATTR_LEN = 20  # MP_BLUETOOTH_DEFAULT_ATTR_LEN
NIMBLE_DEFAULT_MTU = 256
MAX_MTU = 517
BLE_HS_ENOTCONN = 7
SEC_OUR = 1  # BLE_STORE_OBJ_TYPE_OUR_SEC: our keys for a peer (read when a link is restored)
SEC_PEER = 2  # BLE_STORE_OBJ_TYPE_PEER_SEC: the peer's keys (read for the repeat-pairing check)
_LOOP_GUARD = 64  # NimBLE's store loops have no bound; here: a server that makes them spin

_SIG_BASE = "-0000-1000-8000-00805f9b34fb"


def uuid_str(value) -> str:
    """The 128-bit lowercase string of a UUID given as UUID, int (16 bit) or string."""
    if isinstance(value, UUID):
        return value.full
    if isinstance(value, int):
        if not 0 <= value <= 0xFFFF:
            raise ValueError("a 16-bit UUID is 0..0xFFFF, not %r" % value)
        return "0000%04x%s" % (value, _SIG_BASE)
    if isinstance(value, str):
        s = value.strip().lower()
        if len(s) == 4:
            return uuid_str(int(s, 16))
        h = s.replace("-", "")
        if len(h) != 32 or any(c not in "0123456789abcdef" for c in h):
            raise ValueError("invalid UUID string: %r" % value)
        return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])
    if isinstance(value, (bytes, bytearray, memoryview)):
        b = bytes(value)
        if len(b) == 2:
            return uuid_str(b[0] | (b[1] << 8))
        if len(b) == 16:
            return uuid_str(b[::-1].hex())
    raise ValueError("not a UUID: %r" % (value,))


class UUID:
    """bluetooth.UUID: from a 16-bit int, a 128-bit string, or another UUID."""

    def __init__(self, value):
        self.full = uuid_str(value)

    @property
    def short(self):
        if self.full.startswith("0000") and self.full.endswith(_SIG_BASE):
            return int(self.full[4:8], 16)
        return None

    def __eq__(self, other):
        try:
            return self.full == uuid_str(other)
        except ValueError:
            return False

    def __hash__(self):
        return hash(self.full)

    def __repr__(self):
        s = self.short
        return "UUID(0x%04x)" % s if s is not None else "UUID('%s')" % self.full

    __str__ = __repr__


class ATTError(Exception):
    """The server (or the stack) answered an ATT request with an error code."""

    def __init__(self, code, message):
        super().__init__("ATT error 0x%02x: %s" % (code, message))
        self.code = code


class Disconnected(ConnectionError):
    """The operation failed because the link is (or went) down."""


class PairingError(Exception):
    pass


class _Attr:
    __slots__ = ("handle", "uuid", "flags", "value", "alloc", "append", "service", "kind")

    def __init__(self, handle, uuid, flags, service, kind="chr"):
        self.handle = handle
        self.uuid = uuid
        self.flags = flags
        self.value = b""
        self.alloc = DEFAULT_ATTR_LEN
        self.append = False
        self.service = service
        self.kind = kind


class CharInfo:
    """What a notification callback gets as `sender` (like bleak's characteristic)."""

    def __init__(self, attr):
        self.uuid = attr.uuid
        self.handle = attr.handle
        self.flags = attr.flags
        self.service_uuid = attr.service

    @property
    def properties(self):
        names = []
        for bit, name in ((FLAG_READ, "read"), (FLAG_WRITE, "write"), (FLAG_WRITE_NO_RESPONSE, "write-without-response"),
                          (FLAG_NOTIFY, "notify"), (FLAG_INDICATE, "indicate")):
            if self.flags & bit:
                names.append(name)
        return names

    def __repr__(self):
        return "<CharInfo %s handle %d>" % (self.uuid, self.handle)


class _Conn:
    def __init__(self, handle, central, now_us, interval_us):
        self.handle = handle
        self.central = central
        self.mtu = 23
        self.mtu_exchanged = False
        self.encrypted = False
        self.bonded = False
        self.txq: list[tuple[str, int, bytes]] = []  # ("n"|"i", value handle, data)
        self.ind_outstanding = False  # from gatts_indicate until INDICATE_DONE
        self.ind_delivered: int | None = None  # handle of the indication awaiting confirmation
        self.next_event_us = now_us + interval_us
        self.open = True


class BLE:
    """bluetooth.BLE for one virtual band. Time: its own clock advanced by `step()`,
    or an external clock with `.us` (repband.virtual.hardware.VirtualClock): call
    `sync()` after it advanced (or add `ble.sync` to its `on_advance`)."""

    def __init__(self, clock=None, interval_ms=15.0, packets_per_interval=4, queue_limit=12,
                 addr=b"\x0a\x0b\x0c\x0d\x0e\x01"):
        self.clock = clock
        self._us = 0
        self.interval_us = int(interval_ms * 1000)
        self.packets_per_interval = packets_per_interval
        self.queue_limit = queue_limit
        self.addr = bytes(addr)
        self._active = False
        self._handler = None
        self._attrs: dict[int, _Attr] = {}
        self._by_uuid: dict[str, _Attr] = {}
        self._conns: dict[int, _Conn] = {}
        self._next_conn = 0
        self._deferred: list = []
        self.adv = None  # (interval_us, adv_data, resp_data, connectable) while advertising
        self._adv_data = b""
        self._resp_data = b""
        self.cfg = {"mtu": NIMBLE_DEFAULT_MTU, "gap_name": "MPY NIMBLE", "bond": False, "le_secure": False,
                    "mitm": False, "io": 3, "rxbuf": 1024, "addr_mode": 0}
        self.stats = {"notify": 0, "indicate": 0, "truncated": 0, "enomem": 0, "ealready": 0,
                      "remote_write_truncated": 0, "rejected": 0, "delivered": 0,
                      "repeat_pairing": 0, "store_refused": 0, "unpaired": 0}
        # How NimBLE's overflow handler enumerates bonded peers (type 1 by index):
        # MicroPython 1.27 passes the empty address as key (False); True: key None.
        self.enumerate_with_none = False

    # -- time ---------------------------------------------------------------------------

    @property
    def now_us(self) -> int:
        return int(self.clock.us) if self.clock is not None else self._us

    def now_ms(self) -> int:
        return self.now_us // 1000

    def step(self, n=1):
        """Advance time by `n` connection intervals and run the events due."""
        for _ in range(n):
            if self.clock is not None:
                self.clock.advance(self.interval_us)
            else:
                self._us += self.interval_us
            self.sync()

    def sync(self):
        """Run every connection event due by now."""
        now = self.now_us
        self._run_deferred()
        for c in list(self._conns.values()):
            while c.open and c.next_event_us <= now:
                self._conn_event(c)
                c.next_event_us += self.interval_us
        self._run_deferred()

    def _run_deferred(self):
        while self._deferred:
            fn = self._deferred.pop(0)
            fn()

    # -- module API ------------------------------------------------------------------------

    def _check_active(self):
        if not self._active:
            raise OSError(errno.EPERM, "bluetooth not active")

    def _irq_call(self, event, data):
        if self._handler is not None:
            return self._handler(event, data)
        return None

    def active(self, value=None):
        if value is None:
            return self._active
        value = bool(value)
        if not value and self._active:
            for c in list(self._conns.values()):
                self._drop(c, notify_server=False)
            self.adv = None
            self._attrs.clear()
            self._by_uuid.clear()
        self._active = value
        return None

    def irq(self, handler):
        self._handler = handler

    def config(self, *args, **kw):
        if args and kw:
            raise TypeError("config: get one value or set with keywords, not both")
        if args:
            if len(args) != 1:
                raise TypeError("config takes one parameter name to get")
            name = args[0]
            if name == "mac":
                self._check_active()
                return (0, self.addr)
            if name not in self.cfg:
                raise ValueError("unknown config param")
            return self.cfg[name]
        for k, v in kw.items():
            if k not in self.cfg:
                raise ValueError("unknown config param")
            if k == "mtu" and not 23 <= int(v) <= MAX_MTU:
                raise ValueError("mtu must be 23..517")
            self.cfg[k] = v
        return None

    def gap_advertise(self, interval_us, adv_data=None, *, resp_data=None, connectable=True):
        self._check_active()
        if interval_us is None:
            self.adv = None
            return
        if adv_data is not None:
            if len(adv_data) > 31:
                raise OSError(errno.EINVAL, "advertising data of %d bytes (31 max)" % len(adv_data))
            self._adv_data = bytes(adv_data)
        if resp_data is not None:
            if len(resp_data) > 31:
                raise OSError(errno.EINVAL, "scan response of %d bytes (31 max)" % len(resp_data))
            self._resp_data = bytes(resp_data)
        if interval_us < 20000 and interval_us != 0:
            interval_us = 20000  # the controller's minimum for connectable advertising
        self.adv = (int(interval_us) // 625 * 625, self._adv_data, self._resp_data, bool(connectable))

    def gatts_register_services(self, services):
        self._check_active()
        if self.adv is not None or self._conns:
            raise OSError(errno.EBUSY, "stop advertising and disconnect before registering services")
        self._attrs.clear()
        self._by_uuid.clear()
        handle = 1
        out = []
        for svc in services:
            s_uuid, chars = svc[0], svc[1]
            handle += 1  # service declaration
            hs = []
            for ch in chars:
                c_uuid, flags = ch[0], ch[1]
                handle += 1  # characteristic declaration
                a = _Attr(handle, uuid_str(c_uuid), int(flags), uuid_str(s_uuid))
                self._attrs[handle] = a
                if a.uuid in self._by_uuid:
                    raise ValueError("this emulation needs unique characteristic UUIDs: %s" % a.uuid)
                self._by_uuid[a.uuid] = a
                hs.append(handle)
                handle += 1
                if flags & (FLAG_NOTIFY | FLAG_INDICATE):
                    handle += 1  # CCCD, created by the stack
                for d in (ch[2] if len(ch) > 2 else ()):
                    da = _Attr(handle, uuid_str(d[0]), int(d[1]), uuid_str(s_uuid), "dsc")
                    self._attrs[handle] = da
                    hs.append(handle)
                    handle += 1
            out.append(tuple(hs))
        return tuple(out)

    def _attr(self, handle) -> _Attr:
        a = self._attrs.get(handle)
        if a is None:
            raise OSError(errno.EINVAL, "no attribute with value handle %r" % (handle,))
        return a

    def gatts_read(self, value_handle):
        self._check_active()
        a = self._attr(value_handle)
        v = a.value
        if a.append:
            a.value = b""
        return v

    def gatts_write(self, value_handle, data, send_update=False):
        self._check_active()
        a = self._attr(value_handle)
        data = bytes(data)
        if len(data) > a.alloc:
            a.alloc = len(data)  # a local write grows the buffer
        a.value = data
        if send_update:
            for c in self._conns.values():
                sub = c.central._subs.get(a.uuid)
                if sub is None:
                    continue
                if a.flags & FLAG_INDICATE and sub[1] == "indicate":
                    if not c.ind_outstanding:
                        self._queue(c, "i", a, data)
                elif a.flags & FLAG_NOTIFY:
                    self._queue(c, "n", a, data)

    def gatts_set_buffer(self, value_handle, length, append=False):
        self._check_active()
        a = self._attr(value_handle)
        a.alloc = int(length)
        a.append = bool(append)
        a.value = a.value[: a.alloc]

    def _conn(self, conn_handle) -> _Conn:
        c = self._conns.get(conn_handle)
        if c is None or not c.open:
            raise OSError(errno.ENOTCONN, "no connection %r" % (conn_handle,))
        return c

    def _queue(self, c, kind, a, data):
        if len(c.txq) >= self.queue_limit:
            self.stats["enomem"] += 1
            raise OSError(errno.ENOMEM, "notification queue full (%d PDUs)" % self.queue_limit)
        cap = c.mtu - 3
        if len(data) > cap:
            self.stats["truncated"] += 1
            data = data[:cap]
        c.txq.append((kind, a.handle, data))
        if kind == "i":
            c.ind_outstanding = True

    def gatts_notify(self, conn_handle, value_handle, data=None):
        self._check_active()
        c = self._conn(conn_handle)
        a = self._attr(value_handle)
        data = a.value if data is None else bytes(data)
        self._queue(c, "n", a, data)
        self.stats["notify"] += 1

    def gatts_indicate(self, conn_handle, value_handle, data=None):
        self._check_active()
        c = self._conn(conn_handle)
        a = self._attr(value_handle)
        if c.ind_outstanding:
            self.stats["ealready"] += 1
            raise OSError(errno.EALREADY, "an indication is waiting for its confirmation")
        data = a.value if data is None else bytes(data)
        self._queue(c, "i", a, data)
        self.stats["indicate"] += 1

    def gap_disconnect(self, conn_handle):
        self._check_active()
        c = self._conns.get(conn_handle)
        if c is None or not c.open:
            return False
        c.open = False  # no more traffic; the event comes after this call returns
        self._deferred.append(lambda: self._drop(c))
        return True

    def gattc_exchange_mtu(self, conn_handle):
        """Server-initiated exchange (NimBLE supports it; many centrals do not start one
        themselves). The central answers with its preferred MTU."""
        self._check_active()
        c = self._conn(conn_handle)
        if c.mtu_exchanged:
            raise OSError(errno.EALREADY, "MTU already exchanged on this connection")
        self._deferred.append(lambda: c.open and self._mtu(c, c.central.mtu_pref))

    def gap_pair(self, conn_handle):
        self._check_active()
        c = self._conn(conn_handle)
        self._deferred.append(lambda: c.open and self._encrypt(c, pairing=True, bond=c.central.bond))

    def gap_passkey(self, conn_handle, action, passkey):
        self._conn(conn_handle)

    # -- the link ---------------------------------------------------------------------------

    def _mtu(self, c, want):
        c.mtu = max(23, min(int(want), int(self.cfg["mtu"]), MAX_MTU))
        c.mtu_exchanged = True
        self._irq_call(_IRQ_MTU_EXCHANGED, (c.handle, c.mtu))
        return c.mtu

    @staticmethod
    def _peer_key(central) -> bytes:
        return bytes((0,)) + central.addr  # ble_addr_t: public address

    def _encrypt(self, c, pairing, bond):
        central = c.central
        key = self._peer_key(central)
        if not pairing:
            # The central restores the bond: NimBLE's LTK request reads our key for it.
            got = self._irq_call(_IRQ_GET_SECRET, (SEC_OUR, 0, key))
            if central._ltk is None or got is None:
                raise PairingError("the band has no bond for this host (key missing): pair again")
            if bytes(got)[-16:] != central._ltk:
                self._irq_call(_IRQ_ENCRYPTION_UPDATE, (c.handle, 0, 0, 0, 0))
                raise PairingError("the band's key for this host does not match: pair again")
            c.encrypted = True
            c.bonded = True
            self._irq_call(_IRQ_ENCRYPTION_UPDATE, (c.handle, 1, 0, 1, 16))
            return
        self._repeat_pairing_check(key)
        ltk = bytes(random.Random(central.addr + bytes((self._next_conn & 0xFF,))).randbytes(16))
        bonded = bool(bond and self.cfg["bond"])
        c.encrypted = True
        c.bonded = bonded
        self._irq_call(_IRQ_ENCRYPTION_UPDATE, (c.handle, 1, 0, 1 if bonded else 0, 16))
        if bonded:  # ble_sm_persist_keys, after the event; its result is ignored
            self._store_write(SEC_OUR, key, key + ltk)
            self._store_write(SEC_PEER, key, key + ltk)
        central._ltk = ltk if bonded else None

    def _repeat_pairing_check(self, key):
        """ble_sm_chk_repeat_pairing with MicroPython's BLE_GAP_EVENT_REPEAT_PAIRING
        handler: a bonded peer pairing again loses its old bond first."""
        for _ in range(_LOOP_GUARD):
            if self._irq_call(_IRQ_GET_SECRET, (SEC_PEER, 0, key)) is None:
                return
            self.stats["repeat_pairing"] += 1
            self._delete_peer(key)
        raise RuntimeError("NimBLE would loop for ever: the server keeps returning the bond it was "
                           "told to delete (repeat pairing)")

    def _delete_peer(self, key):
        """ble_store_util_delete_peer: delete types 1 and 2 until the server has none
        (MicroPython answers CCCD deletes itself)."""
        for t in (SEC_OUR, SEC_PEER):
            for _ in range(_LOOP_GUARD):
                if not self._irq_call(_IRQ_SET_SECRET, (t, key, None)):
                    break
            else:
                raise RuntimeError("NimBLE would loop for ever: the server acknowledges every delete")

    def _store_write(self, sec_type, key, value) -> bool:
        """ble_store_write with ble_store_util_status_rr: a refused write unpairs the
        oldest bonded peer and tries again, until no peer is left."""
        for _ in range(_LOOP_GUARD):
            if self._irq_call(_IRQ_SET_SECRET, (sec_type, key, value)):
                return True
            self.stats["store_refused"] += 1
            # ble_gap_unpair_oldest_peer: ble_store_util_bonded_peers enumerates type 1
            got = self._irq_call(_IRQ_GET_SECRET, (SEC_OUR, 0, None if self.enumerate_with_none else bytes(7)))
            if got is None or len(got) < 7:
                return False  # BLE_HS_ENOENT
            oldest = bytes(got)[:7]
            self.stats["unpaired"] += 1
            for oc in list(self._conns.values()):
                if oc.open and self._peer_key(oc.central) == oldest:
                    self.gap_disconnect(oc.handle)
            self._delete_peer(oldest)
        raise RuntimeError("NimBLE would loop for ever: the server refuses the write and keeps "
                           "the peer it was told to unpair")

    def _connect(self, central) -> _Conn:
        self._check_active()
        if self.adv is None or not self.adv[3]:
            raise Disconnected("the band is not advertising (connectable)")
        self._next_conn += 1
        c = _Conn(self._next_conn, central, self.now_us, self.interval_us)
        self._conns[c.handle] = c
        self.adv = None  # NimBLE stops advertising on a connection
        self._irq_call(_IRQ_CENTRAL_CONNECT, (c.handle, 0, central.addr))
        return c

    def _drop(self, c, notify_server=True):
        """The link is gone: fail what is pending, tell both sides."""
        c.open = False
        if self._conns.get(c.handle) is not c:
            return
        del self._conns[c.handle]
        pending = [h for k, h, _d in c.txq if k == "i"]
        if c.ind_delivered is not None:
            pending.insert(0, c.ind_delivered)
        c.txq = []
        c.ind_delivered = None
        c.ind_outstanding = False
        if notify_server:
            for h in pending:
                self._irq_call(_IRQ_GATTS_INDICATE_DONE, (c.handle, h, BLE_HS_ENOTCONN))
            self._irq_call(_IRQ_CENTRAL_DISCONNECT, (c.handle, 0, c.central.addr))
        c.central._lost(c)

    def _conn_event(self, c):
        if c.ind_delivered is not None:
            h = c.ind_delivered
            c.ind_delivered = None
            c.ind_outstanding = any(k == "i" for k, _h, _d in c.txq)
            self._irq_call(_IRQ_GATTS_INDICATE_DONE, (c.handle, h, 0))
        sent = 0
        while c.open and c.txq and sent < self.packets_per_interval:
            kind, h, data = c.txq[0]
            if kind == "i" and c.ind_delivered is not None:
                break
            c.txq.pop(0)
            sent += 1
            self.stats["delivered"] += 1
            if kind == "i":
                c.ind_delivered = h
            c.central._receive(c, self._attrs[h], data, kind)

    # -- central-side entry points (used by Central) ------------------------------------------

    def _remote_read(self, c, uuid):
        a = self._find(uuid)
        if not a.flags & FLAG_READ:
            raise ATTError(ATT_READ_NOT_PERMITTED, "%s is not readable" % a.uuid)
        if a.flags & FLAG_READ_ENCRYPTED and not c.encrypted:
            self.stats["rejected"] += 1
            raise ATTError(ATT_INSUFFICIENT_ENCRYPTION, "reading %s needs an encrypted link" % a.uuid)
        return bytes(a.value)

    def _remote_write(self, c, uuid, data, response):
        a = self._find(uuid)
        need = FLAG_WRITE if response else FLAG_WRITE_NO_RESPONSE
        if not a.flags & need:
            raise ATTError(ATT_WRITE_NOT_PERMITTED, "%s is not writable (%s)"
                           % (a.uuid, "with response" if response else "without response"))
        if a.flags & FLAG_WRITE_ENCRYPTED and not c.encrypted:
            self.stats["rejected"] += 1
            raise ATTError(ATT_INSUFFICIENT_ENCRYPTION, "writing %s needs an encrypted link" % a.uuid)
        data = bytes(data)
        cap = min(c.mtu - 3, a.alloc - (len(a.value) if a.append else 0))
        if len(data) > cap:
            self.stats["remote_write_truncated"] += 1
            data = data[: max(cap, 0)]
        a.value = (a.value + data) if a.append else data
        self._irq_call(_IRQ_GATTS_WRITE, (c.handle, a.handle))

    def _find(self, uuid) -> _Attr:
        a = self._by_uuid.get(uuid_str(uuid))
        if a is None:
            raise ATTError(ATT_INVALID_HANDLE, "no characteristic %s" % uuid_str(uuid))
        return a

    def characteristics(self):
        return [CharInfo(a) for a in self._attrs.values() if a.kind == "chr"]


class Central:
    """A host connected to a virtual band: the async GATT client interface of
    repband.link (read, write, start_notify, stop_notify) plus connect, exchange_mtu,
    pair, encrypt, disconnect. Notification callbacks get (sender, data), like bleak's.

    Faults: `faults(drop=..., duplicate=..., drop_p=..., dup_p=..., seed=...,
    disconnect_after=..., uuid=...)` apply to notifications delivered from then on
    (indices count the notifications of `uuid`, or of every characteristic)."""

    def __init__(self, ble: BLE, addr=b"\x01\x02\x03\x04\x05\x06", mtu=247, bond=True,
                 disconnected_callback=None):
        self.ble = ble
        self.addr = bytes(addr)
        self.mtu_pref = mtu
        self.bond = bond
        self.disconnected_callback = disconnected_callback
        self._c: _Conn | None = None
        self._subs: dict[str, tuple] = {}  # uuid -> (callback, "notify"|"indicate")
        self._ltk: bytes | None = None
        self.received: list[tuple[str, bytes, str]] = []  # (uuid, data, "n"|"i")
        self.unencrypted_rx: list[tuple[str, bytes]] = []
        self._fault = None
        self.disconnects = 0

    # -- state --------------------------------------------------------------------------

    @property
    def is_connected(self) -> bool:
        return self._c is not None and self._c.open

    @property
    def mtu(self) -> int:
        return self._c.mtu if self._c is not None else 23

    @property
    def mtu_size(self) -> int:  # bleak's name
        return self.mtu

    @property
    def encrypted(self) -> bool:
        return self._c is not None and self._c.encrypted

    def _live(self) -> _Conn:
        c = self._c
        if c is None or not c.open:
            raise Disconnected("not connected")
        return c

    # -- connection -----------------------------------------------------------------------

    async def connect(self):
        if self.is_connected:
            return True
        self._subs = {}
        self._c = self.ble._connect(self)
        await asyncio.sleep(0)
        return True

    async def exchange_mtu(self, mtu=None):
        c = self._live()
        if c.mtu_exchanged:
            raise ATTError(ATT_REQUEST_NOT_SUPPORTED, "MTU already exchanged on this connection")
        if mtu is not None:
            self.mtu_pref = mtu
        r = self.ble._mtu(c, self.mtu_pref)
        await asyncio.sleep(0)
        return r

    async def pair(self):
        c = self._live()
        self.ble._encrypt(c, pairing=True, bond=self.bond)
        await asyncio.sleep(0)
        return True

    async def encrypt(self):
        """Encrypt with the bond from an earlier pair(); PairingError if either side lost it."""
        c = self._live()
        self.ble._encrypt(c, pairing=False, bond=True)
        await asyncio.sleep(0)
        return True

    async def disconnect(self):
        c = self._c
        if c is not None and c.open:
            self.ble._drop(c)
        await asyncio.sleep(0)
        return True

    def _lost(self, c):
        if self._c is c:
            self._subs = {}
            self.disconnects += 1
            if self.disconnected_callback is not None:
                self.disconnected_callback(self)

    # -- GATT client ------------------------------------------------------------------------

    async def read(self, uuid) -> bytes:
        c = self._live()
        v = self.ble._remote_read(c, uuid)
        await asyncio.sleep(0)
        return v

    read_gatt_char = read

    async def write(self, uuid, data, response=True):
        c = self._live()
        self.ble._remote_write(c, uuid, data, response)
        await asyncio.sleep(0)

    async def write_gatt_char(self, uuid, data, response=None):
        await self.write(uuid, data, True if response is None else response)

    async def start_notify(self, uuid, callback):
        self._live()
        a = self.ble._find(uuid)
        if not a.flags & (FLAG_NOTIFY | FLAG_INDICATE):
            raise ATTError(ATT_WRITE_NOT_PERMITTED, "%s neither notifies nor indicates" % a.uuid)
        self._subs[a.uuid] = (callback, "notify" if a.flags & FLAG_NOTIFY else "indicate")
        await asyncio.sleep(0)

    async def stop_notify(self, uuid):
        self._live()
        self._subs.pop(uuid_str(uuid), None)
        await asyncio.sleep(0)

    def characteristics(self):
        return self.ble.characteristics()

    # -- faults -----------------------------------------------------------------------------

    def faults(self, drop=(), duplicate=(), drop_p=0.0, dup_p=0.0, seed=0, disconnect_after=None, uuid=None):
        self._fault = {"drop": set(drop), "dup": set(duplicate), "drop_p": drop_p, "dup_p": dup_p,
                       "rng": random.Random(seed), "after": disconnect_after,
                       "uuid": None if uuid is None else uuid_str(uuid), "n": 0,
                       "dropped": 0, "duplicated": 0}
        return self._fault

    def clear_faults(self):
        self._fault = None

    # -- delivery ----------------------------------------------------------------------------

    def _receive(self, c, attr, data, kind):
        copies = 1
        f = self._fault
        if f is not None and kind == "n" and (f["uuid"] is None or f["uuid"] == attr.uuid):
            i = f["n"]
            f["n"] += 1
            if f["after"] is not None and i >= f["after"]:
                self.ble._drop(c)
                return
            if i in f["drop"] or (f["drop_p"] and f["rng"].random() < f["drop_p"]):
                f["dropped"] += 1
                return
            if i in f["dup"] or (f["dup_p"] and f["rng"].random() < f["dup_p"]):
                f["duplicated"] += 1
                copies = 2
        for _ in range(copies):
            self.received.append((attr.uuid, data, kind))
            if not c.encrypted:
                self.unencrypted_rx.append((attr.uuid, data))
            sub = self._subs.get(attr.uuid)
            if sub is None:
                continue  # not subscribed: the host stack drops it
            r = sub[0](CharInfo(attr), bytearray(data))
            if inspect.isawaitable(r):
                asyncio.ensure_future(r)


class Air:
    """Runs the radio while the test's coroutines talk: every loop turn calls the
    pumps (e.g. the firmware service's poll) and one connection interval of the link.

        async with Air(ble, service.poll) as air: ...
    """

    def __init__(self, ble: BLE, *pumps):
        self.ble = ble
        self.pumps = list(pumps)
        self._task = None
        self.steps = 0

    async def _run(self):
        while True:
            for p in self.pumps:
                p()
            self.ble.step()
            self.steps += 1
            await asyncio.sleep(0)

    async def __aenter__(self):
        self._task = asyncio.ensure_future(self._run())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc):
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        return False


class Interleave:
    """Run `action` (the stack's side: IRQs reach the app from it) at the `at`-th line
    executed inside the functions named `functions` (code objects' names) of modules
    whose file path contains one of `files`: a deterministic injection point between
    two lines of the app's code (sys.settrace, this thread). `at=None` only counts."""

    def __init__(self, action=None, at=None, functions=(), files=("/app/",)):
        self.action = action
        self.at = at
        self.functions = set(functions)
        self.files = tuple(files)
        self.lines = 0
        self.fired = False
        self.where = None
        self._old = None

    def _global(self, frame, event, arg):
        co = frame.f_code
        if co.co_name in self.functions and any(f in co.co_filename for f in self.files):
            return self._local
        return None

    def _local(self, frame, event, arg):
        if event == "line":
            n = self.lines
            self.lines += 1
            if n == self.at and self.action is not None:
                self.fired = True
                self.where = (frame.f_code.co_name, frame.f_lineno)
                self.action()
        return self._local

    def __enter__(self):
        self._old = sys.gettrace()
        sys.settrace(self._global)
        return self

    def __exit__(self, *exc):
        sys.settrace(self._old)
        return False
