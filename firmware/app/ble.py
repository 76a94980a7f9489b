"""The band's GATT server on MicroPython's `bluetooth` module (protocol 1.0, bytes in
repcore.protocol, documentation in docs/protocol.md).

Services: the custom repband service (status, live, records, RACP, control point,
raw stream), Device Information (0x180A), Battery (0x180F) and Current Time (0x1805).

Entry point (the app wires it; nothing here touches the app's internals):

    import bluetooth
    from app.ble import BandService
    svc = BandService(bluetooth.BLE(), log, on_control=handler, on_time=set_epoch,
                      uptime_ms=app.uptime, name="repband", model=board.NAME)
    svc.start()                          # register services, advertise fast
    app = App(hal, board, ble=svc.on_event)   # live counts from the app's events
    asyncio.create_task(svc.task(hal.sleep_ms))   # poll() every POLL_MS

`on_control(op, params) -> result` gets the control point's writes (protocol.CTRL_*,
params decoded and range-checked) and returns a protocol.RESULT_* code (None =
success); raw on/off is handled here and also passed on. `on_time(epoch_s)` gets the
wall clock (Unix s) at uptime 0 whenever the host writes the Current Time.
`push_raw(t_ms, samples, n)` feeds the raw stream while the host has it on;
`set_battery(pct)`, `set_flag(bit, on)`, `set_hold(ds)` update what the host sees.

Pairing window (docs/protocol.md, threat model): a *new* pairing is accepted only while
`pairable`: the band has no bond yet, or it is within PAIR_WINDOW_MS of start() (the
boot: switching the band on) or of `open_pairing()` (the app calls it at every button
press). A bonded host reconnecting (its keys restored through _IRQ_GET_SECRET) is
always let in. Outside the window a fresh pairing is disconnected as soon as the stack
reports its encryption, nothing it wrote is acted on, and its keys are not stored.

The IRQ handler only records what happened; `poll()` does the work (log reads,
notifications, callbacks) from the app's task, so nothing heavy runs in the
Bluetooth stack's callback context. The one exception is the status value, rewritten
when a central connects (O(1), no flash access) so that a read right after
connecting is current; while connected, poll() rewrites it whenever the log gained
records or the flags or the battery changed, and a delete rewrites it at once.

The class takes the `ble` object, the `bluetooth` module (for UUID) and the clock as
arguments, so CPython tests run it against repband.virtual.bluetooth.
"""
from repcore import protocol as P
from repcore import records
from repcore.compat import const

_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_GATTS_INDICATE_DONE = const(20)
_IRQ_MTU_EXCHANGED = const(21)
_IRQ_ENCRYPTION_UPDATE = const(28)
_IRQ_GET_SECRET = const(29)
_IRQ_SET_SECRET = const(30)

_F_READ = const(0x0002)
_F_WRITE = const(0x0008)
_F_NOTIFY = const(0x0010)
_F_INDICATE = const(0x0020)
_F_READ_ENC = const(0x0200)  # NimBLE (esp32): ATT error 0x0F on an unencrypted link
_F_WRITE_ENC = const(0x1000)

_IO_NO_INPUT_OUTPUT = const(3)

# NimBLE's store object types as MicroPython passes them in _IRQ_GET/SET_SECRET
# (BLE_STORE_OBJ_TYPE_*): our keys for a peer, the peer's keys. Other types (3: a bonded
# peer's CCCD values, on ports that keep them) are stored as they come.
_SEC_OUR = const(1)
_SEC_PEER = const(2)

MTU_PREFERRED = const(247)
FRAME_MAX = const(244)  # MTU_PREFERRED - 3
FAST_ADV_US = const(100000)  # 100 ms for FAST_WINDOW_MS after boot, disconnect, session end
SLOW_ADV_US = const(1022500)  # then about 1 s (iOS-friendly value)
FAST_WINDOW_MS = const(30000)
PAIR_WINDOW_MS = const(120000)  # new pairings accepted this long after boot or a press
POLL_MS = const(10)
BURST = const(4)  # notifications handed to the stack per poll at most
RAW_QUEUE = const(12)  # raw packets waiting for the link; the oldest goes first
_WRITE_QUEUE = const(8)
_SECRETS_MAX = const(16)


class _Conn:
    def __init__(self, handle):
        self.handle = handle
        self.mtu = 23
        self.encrypted = False
        self.bonded = False
        self.restored = False  # the stack fetched our key for this peer (a reconnection)
        self.refused = False  # a fresh pairing outside the window: being disconnected
        self.paired = False  # a fresh pairing inside the window: its keys are stored


class Secrets:
    """Bond keys, which MicroPython leaves to the application (_IRQ_GET/SET_SECRET),
    kept in a JSON file of [sec_type, key hex, value hex] (None: in memory only)."""

    def __init__(self, path=None):
        self.path = path
        self.items = []  # [sec_type, key bytes, value bytes], oldest first
        self.dirty = False
        if path:
            self.load()

    def load(self):
        import json
        from binascii import unhexlify
        path = self.path
        if not path:
            return
        try:
            with open(path, "r") as f:
                data = json.load(f)
            self.items = [[int(t), unhexlify(k), unhexlify(v)] for t, k, v in data]
        except (OSError, ValueError, TypeError):
            self.items = []

    def save(self):
        self.dirty = False
        path = self.path
        if not path:
            return
        import json
        from binascii import hexlify
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump([[t, hexlify(k).decode(), hexlify(v).decode()] for t, k, v in self.items], f)
        import os
        os.rename(tmp, path)

    def get(self, sec_type, index, key):
        n = 0
        for t, k, v in self.items:
            if t != sec_type:
                continue
            if key is None:
                if n == index:
                    return v
                n += 1
            elif k == key:
                return v
        return None

    def bonded(self):
        """Keys of at least one peer are stored."""
        for it in self.items:
            if it[0] == _SEC_OUR or it[0] == _SEC_PEER:
                return True
        return False

    def set(self, sec_type, key, value):
        found = False
        for it in self.items:
            if it[0] == sec_type and it[1] == key:
                self.items.remove(it)
                found = True
                break
        if value is None:
            if found:
                self.dirty = True
            return found
        if len(self.items) >= _SECRETS_MAX:
            self.items.pop(0)
        self.items.append([sec_type, key, value])
        self.dirty = True
        return True


def _uuid_le(s):
    """The 16 little-endian bytes of a 128-bit UUID string (advertising data)."""
    from binascii import unhexlify
    b = unhexlify(s.replace("-", ""))
    out = bytearray(16)
    for i in range(16):
        out[i] = b[15 - i]
    return bytes(out)


class BandService:
    """The GATT server. One central at a time (advertising stops while connected)."""

    def __init__(self, ble, log, bt=None, on_control=None, on_time=None, uptime_ms=None,
                 name="repband", model="repband", firmware="0", secure=True, secrets=None):
        if bt is None:
            import bluetooth
            bt = bluetooth
        self.bt = bt
        self._ble = ble
        self.log = log
        self.on_control = on_control
        self.on_time = on_time
        self._uptime = uptime_ms
        self._t_last = -1
        self._t_acc = 0
        self.name = name
        self.model = model
        self.firmware = firmware
        self.secure = secure  # False only on ports without pairing (rp2 btstack)
        self.secrets = secrets if secrets is not None else Secrets()
        self._conn = None
        self._writes = []  # (value handle, bytes) from the IRQ, handled in poll
        self._ind_q = []  # (value handle, bytes) waiting for the indication slot
        self._ind_busy = False
        self._congested = False
        self.errors = 0  # notifications / indications the stack refused
        self.last_error = ""
        self._pair_until = 0  # uptime (ms) the pairing window closes at
        self.pair_refused = 0  # fresh pairings refused (window closed)
        # advertising
        self._adv_fast_until = -1
        self._advertising = 0  # 0 off, else the interval in us
        self._adv = b"\x02\x01\x06" + bytes((17, 0x07)) + _uuid_le(P.SERVICE_UUID)
        nm = name.encode()[:26]
        self._resp = bytes((len(nm) + 1, 0x09)) + nm
        # live state
        self._live = bytearray(P.LIVE_SIZE)
        self._live_dirty = True
        self._live_sent = False
        self.flags = 0
        self.session = 0
        self.counts = [0] * P.N_CELLS
        self.exercise = 0
        self.side = 0
        self.set_count = 0
        self.hold_ds = 0
        self._counter = 0
        # battery, time, status, settings
        self._settings = None  # the settings value, set by the app (set_settings)
        self.battery = -1
        self._batt_dirty = False
        self.epoch_s = 0
        self._status_seq = -1  # the log's next_seq and flags the status value holds
        self._status_flags = -1
        self._status_dirty = True
        # records report
        self._rep = None  # the log's read_from generator while a report runs
        self._rep_hi = 0
        self._rep_done = False
        self._rep_records = 0
        self._rep_frames = 0
        self._rec = b""
        self._rec_off = 0
        self._frame = bytearray(FRAME_MAX)
        self._flen = 0
        # raw stream
        self.raw_on = False
        self.raw_period_10us = 962  # 104 Hz
        self._raw_q = []
        self._raw_seq = 0
        self._raw_buf = bytearray(P.RAW_HEADER + P.RAW_SAMPLE * ((FRAME_MAX - P.RAW_HEADER) // P.RAW_SAMPLE))
        self._raw_n = 0
        self._raw_t0 = 0
        self.raw_dropped = 0
        self.handles = None

    # -- time ------------------------------------------------------------------------

    def now_ms(self):
        if self._uptime is not None:
            return self._uptime()
        import time
        t = time.ticks_ms()
        if self._t_last >= 0:
            self._t_acc += time.ticks_diff(t, self._t_last)
        self._t_last = t
        return self._t_acc

    # -- set-up ----------------------------------------------------------------------

    def _config(self, **kw):
        try:
            self._ble.config(**kw)
        except (ValueError, OSError):  # a port without the setting
            pass

    def start(self):
        """Activate the radio, register the services, start advertising fast."""
        ble = self._ble
        ble.active(True)
        ble.irq(self._irq)
        self._config(gap_name=self.name)
        self._config(mtu=MTU_PREFERRED)
        if self.secure:
            # LE Secure Connections, bonding, no I/O (Just Works): see the threat model.
            self._config(bond=True, le_secure=True, mitm=False, io=_IO_NO_INPUT_OUTPUT)
        U = self.bt.UUID
        enc_r = _F_READ_ENC if self.secure else 0
        enc_w = _F_WRITE_ENC if self.secure else 0
        custom = (U(P.SERVICE_UUID), (
            (U(P.STATUS_UUID), _F_READ | enc_r),
            (U(P.LIVE_UUID), _F_READ | _F_NOTIFY | enc_r),
            (U(P.RECORDS_UUID), _F_NOTIFY),
            (U(P.RACP_UUID), _F_WRITE | _F_INDICATE | enc_w),
            (U(P.CONTROL_UUID), _F_WRITE | _F_INDICATE | enc_w),
            (U(P.RAW_UUID), _F_NOTIFY),
            (U(P.SETTINGS_UUID), _F_READ | enc_r),
        ))
        dis = (U(P.DIS_SERVICE), (
            (U(P.DIS_MANUFACTURER), _F_READ),
            (U(P.DIS_MODEL), _F_READ),
            (U(P.DIS_FIRMWARE), _F_READ),
            (U(P.DIS_SOFTWARE), _F_READ),
        ))
        bas = (U(P.BATTERY_SERVICE), ((U(P.BATTERY_LEVEL), _F_READ | _F_NOTIFY | enc_r),))
        cts = (U(P.CTS_SERVICE), ((U(P.CTS_CURRENT_TIME), _F_READ | _F_WRITE | enc_r | enc_w),))
        h = ble.gatts_register_services((custom, dis, bas, cts))
        (self.h_status, self.h_live, self.h_records, self.h_racp, self.h_control, self.h_raw,
         self.h_settings) = h[0]
        (h_man, h_model, h_fw, h_sw) = h[1]
        self.h_battery = h[2][0]
        self.h_time = h[3][0]
        self.handles = h
        # Values over 20 bytes and every writable value get an explicit buffer.
        ble.gatts_set_buffer(self.h_status, P.STATUS_SIZE)
        ble.gatts_set_buffer(self.h_racp, 20)
        ble.gatts_set_buffer(self.h_control, 20)
        ble.gatts_set_buffer(self.h_time, 20)
        ble.gatts_write(h_man, b"repband")
        ble.gatts_write(h_model, self.model.encode()[:20])
        ble.gatts_write(h_fw, self.firmware.encode()[:20])
        ble.gatts_write(h_sw, P.VERSION_STRING.encode())
        ble.gatts_write(self.h_battery, bytes((self.battery if 0 <= self.battery <= 100 else 0,)))
        if self._settings is not None:
            ble.gatts_write(self.h_settings, self._settings)
        self._write_live()
        self._write_status()
        # Switching the band on is physical access: a bonded band takes a new host for
        # PAIR_WINDOW_MS after boot too (docs/protocol.md, threat model).
        self._pair_until = self.now_ms() + PAIR_WINDOW_MS
        self.advertise(True)

    def stop(self):
        self.stop_advertising()
        if self._conn is not None:
            try:
                self._ble.gap_disconnect(self._conn.handle)
            except OSError:
                pass
        self._ble.active(False)

    # -- advertising -------------------------------------------------------------------

    def stop_advertising(self):
        self._adv_fast_until = -1
        if self._advertising:
            self._ble.gap_advertise(None)
        self._advertising = 0

    def advertise(self, fast=True):
        """Advertise fast (then slow after FAST_WINDOW_MS) or slow; no-op while connected
        (advertising starts again at the disconnect)."""
        if fast:
            self._adv_fast_until = self.now_ms() + FAST_WINDOW_MS
        else:
            self._adv_fast_until = -1
        if self._conn is None:
            self._start_adv(FAST_ADV_US if fast else SLOW_ADV_US)

    def _start_adv(self, interval):
        if self._advertising != interval:
            self._ble.gap_advertise(interval, self._adv, resp_data=self._resp)
            self._advertising = interval

    # -- pairing window ----------------------------------------------------------------

    @property
    def pairable(self):
        """A new pairing is accepted now: within the window, or the band has no bond."""
        return self.now_ms() - self._pair_until < 0 or not self.secrets.bonded()

    def _may_bond(self, c):
        """Keys of a new bond may be stored: the window is open, or this link's pairing
        was accepted while it was."""
        return self.pairable or (c is not None and c.paired)

    def open_pairing(self):
        """Open the pairing window for PAIR_WINDOW_MS from now (a button press: the hand
        on the band is its owner's). True if it was closed (the app signals it)."""
        opened = not self.pairable
        self._pair_until = self.now_ms() + PAIR_WINDOW_MS
        if opened and self._advertising:
            self.advertise(True)  # the new host finds the band at once
        return opened

    @property
    def connected(self):
        return self._conn is not None

    @property
    def encrypted(self):
        c = self._conn
        return c is not None and (c.encrypted or not self.secure)

    @property
    def busy(self):
        """True while a report streams or an indication waits."""
        return self._rep is not None or self._ind_busy or bool(self._ind_q)

    # -- IRQ (records only) ------------------------------------------------------------

    def _irq(self, event, data):
        if event == _IRQ_CENTRAL_CONNECT:
            handle = data[0]
            if self._conn is not None:
                self._ble.gap_disconnect(handle)  # one central at a time
                return
            self._conn = _Conn(handle)
            self._advertising = 0  # the stack stops advertising on a connection
            self._live_dirty = True
            self._batt_dirty = True
            self._write_status()  # current before the central's first read
        elif event == _IRQ_CENTRAL_DISCONNECT:
            c = self._conn
            if c is None or c.handle != data[0]:
                return
            self._conn = None
            self._end_report()
            self._writes = []
            self._ind_q = []
            self._ind_busy = False
            self._raw_q = []
            self._raw_n = 0
            self.advertise(True)
        elif event == _IRQ_GATTS_WRITE:
            c = self._conn
            if c is None or c.handle != data[0]:
                return
            h = data[1]
            if len(self._writes) < _WRITE_QUEUE:
                self._writes.append((h, bytes(self._ble.gatts_read(h)), c.encrypted or not self.secure))
        elif event == _IRQ_GATTS_INDICATE_DONE:
            self._ind_busy = False
            if data[2] != 0:
                self.errors += 1
                self.last_error = "indication failed: status %d" % data[2]
        elif event == _IRQ_MTU_EXCHANGED:
            c = self._conn
            if c is not None and c.handle == data[0]:
                c.mtu = data[1]
        elif event == _IRQ_ENCRYPTION_UPDATE:
            c = self._conn
            if c is not None and c.handle == data[0]:
                # The event does not say whether a pairing or a restored bond encrypted
                # the link; a restore always fetches our key first (NimBLE's LTK
                # request: _IRQ_GET_SECRET), so without that fetch it was a pairing.
                restored = c.restored
                c.restored = False
                if c.refused:
                    return None
                if data[1] and not restored and not self.pairable:
                    # A fresh pairing while the window is closed: the central goes, and
                    # the link counts as unencrypted meanwhile (nothing sent, writes
                    # ignored); its keys are refused below.
                    c.refused = True
                    c.encrypted = False
                    self.pair_refused += 1
                    self.last_error = "pairing refused: the pairing window is closed"
                    self._ble.gap_disconnect(c.handle)
                    return None
                if data[1] and not restored:
                    # Accepted: its keys come next (our keys, then the peer's) and are
                    # stored even when the first of them closes an out-of-box window.
                    c.paired = True
                c.encrypted = bool(data[1])
                c.bonded = bool(data[3])
                self._live_dirty = True
                self._batt_dirty = True
        elif event == _IRQ_GET_SECRET:
            t, i, key = data
            c = self._conn
            if key is None:
                if c is not None and c.refused:
                    return None  # no bond to evict for a refused pairing (see below)
            else:
                key = bytes(key)
                if t == _SEC_PEER and not self._may_bond(c):
                    # NimBLE looks a peer's keys up by address only when a pairing request
                    # comes (is it bonded already?), and MicroPython then deletes that bond
                    # unasked. Hidden while the window is closed: a stranger using a
                    # bonded host's address cannot erase its bond (a reconnection reads
                    # our keys, type 1, and still finds them).
                    return None
            v = self.secrets.get(t, i, key)
            if v is not None and t == _SEC_OUR and key is not None and c is not None:
                c.restored = True
            return v
        elif event == _IRQ_SET_SECRET:
            t, key, value = data
            c = self._conn
            refused = c is not None and c.refused
            if value is None:
                if c is not None:
                    c.restored = False  # a bond going: no reconnection on its keys
            elif t == _SEC_OUR or t == _SEC_PEER:
                if refused or not self._may_bond(c):
                    # False: the stack's store is "full" and its overflow handler looks
                    # for a bond to evict, which finds none (MicroPython 1.27 enumerates
                    # our keys by an empty address; a refused link enumerates nothing),
                    # and the pairing ends unbonded here: its central is disconnected.
                    return False
            elif refused:
                return True  # e.g. its CCCDs: acknowledged (a refusal would evict a bond), not kept
            return self.secrets.set(t, bytes(key), None if value is None else bytes(value))
        return None

    # -- the work ------------------------------------------------------------------------

    async def task(self, sleep_ms):
        """Run poll() every POLL_MS (pass the HAL's sleep_ms)."""
        while True:
            self.poll()
            await sleep_ms(POLL_MS)

    def poll(self):
        """Handle writes, stream what is due; returns True while work is pending."""
        now = self.now_ms()
        if self.secrets.dirty:
            try:
                self.secrets.save()
            except OSError as e:
                self.last_error = "bond keys not saved: %s" % (e,)
        c = self._conn
        if c is None:
            if self._advertising == FAST_ADV_US and now - self._adv_fast_until >= 0:
                self._start_adv(SLOW_ADV_US)
            return False
        while self._writes:
            h, data, enc = self._writes.pop(0)
            self._on_write(h, data, enc)
            if self._conn is None:
                return False
        self._congested = False
        budget = BURST
        if self.encrypted:
            budget = self._send_live(budget)
            if self._batt_dirty:
                self._batt_dirty = False
                if 0 <= self.battery <= 100:
                    self._notify(self.h_battery, bytes((self.battery,)))
            budget = self._send_report(budget)
            budget = self._send_raw(budget)
        log = self.log
        if self._status_dirty or self.flags != self._status_flags \
                or (log is not None and log.next_seq != self._status_seq):
            self._write_status()  # records appended, flags or battery changed
        self._send_indication()
        return self.busy or bool(self._raw_q)

    def _notify(self, handle, data):
        if self._congested or self._conn is None:
            return False
        try:
            self._ble.gatts_notify(self._conn.handle, handle, data)
        except OSError as e:  # NimBLE: ENOMEM when its buffers are full: retry later
            self._congested = True
            self.errors += 1
            self.last_error = "notify: %s" % (e,)
            return False
        return True

    def _indicate(self, handle, data):
        self._ind_q.append((handle, data))
        self._send_indication()

    def _send_indication(self):
        if self._ind_busy or not self._ind_q or self._conn is None:
            return
        h, data = self._ind_q[0]
        try:
            self._ble.gatts_indicate(self._conn.handle, h, data)
        except OSError as e:
            self.errors += 1
            self.last_error = "indicate: %s" % (e,)
            return
        self._ind_q.pop(0)
        self._ind_busy = True

    def _on_write(self, h, data, encrypted):
        if self.secure and not encrypted:
            # The stack refuses these writes (encrypted-write flags); never act on one.
            self.last_error = "write on an unencrypted link ignored"
            return
        if h == self.h_racp:
            self._racp(data)
        elif h == self.h_control:
            self._control(data)
        elif h == self.h_time:
            self._set_time(data)

    # -- live state --------------------------------------------------------------------

    def on_event(self, ev):
        """The app's hook: detector events and session tuples update the live state."""
        k = ev[0]
        if k == "session_start":
            self.session = ev[1]
            for i in range(P.N_CELLS):
                self.counts[i] = 0
            self.set_count = 0
            self.hold_ds = 0
            self.flags = (self.flags | P.LIVE_SESSION) & ~P.LIVE_HOLD
        elif k == "session_end":
            self.flags &= ~(P.LIVE_SESSION | P.LIVE_HOLD)
            self.set_count = 0
            self.hold_ds = 0
            self.advertise(True)
        elif k == 1:  # EV_REP: (1, t, exercise, side, partial, ...)
            if ev[4]:
                return
            cell = P.cell_of(ev[2], ev[3])
            if cell >= 0:
                self.counts[cell] += 1
            if ev[2] != self.exercise or ev[3] != self.side:
                self.set_count = 0
            self.exercise = ev[2]
            self.side = ev[3]
            self.set_count += 1
        elif k == 2:  # EV_HOLD: (2, t0, t1, exercise, side, angle)
            cell = P.cell_of(ev[3], ev[4])
            if cell >= 0:
                self.counts[cell] += 1
            self.exercise = ev[3]
            self.side = ev[4]
            self.hold_ds = 0
            self.flags &= ~P.LIVE_HOLD
        elif k == 3:  # EV_SET closed
            self.set_count = 0
        elif k == 4:  # EV_CALIBRATED
            self.flags |= P.LIVE_CALIBRATED
        else:
            return
        self._live_dirty = True

    def set_flag(self, bit, on):
        old = self.flags
        self.flags = (self.flags | bit) if on else (self.flags & ~bit)
        if self.flags != old:
            self._live_dirty = True

    def set_hold(self, ds):
        """A hold in progress (tenths of a second), or 0 when none."""
        self.set_flag(P.LIVE_HOLD, ds > 0)
        if ds != self.hold_ds:
            self.hold_ds = ds
            self._live_dirty = True

    def _write_live(self):
        P.encode_live_into(self._live, self.flags, self._counter, self.session, self.exercise,
                           self.side, self.set_count, self.hold_ds, self.counts)
        self._ble.gatts_write(self.h_live, self._live)

    def _send_live(self, budget):
        if not self._live_dirty or budget <= 0:
            return budget
        self._counter = (self._counter + 1) & 0xFF
        self._write_live()
        if self._notify(self.h_live, self._live):
            self._live_dirty = False
            return budget - 1
        self._counter = (self._counter - 1) & 0xFF  # the same state goes again
        return budget

    # -- battery, status, time, settings -------------------------------------------------

    def set_settings(self, schema, mode, leg, placement, target_reps, target_hold_s,
                     session_idle_s, sleep_idle_s, odr_hz, gyro, vibration, buzzer, led,
                     low_battery_pct):
        """Publish the band's settings (app.config) for the host to read."""
        flags = ((P.SET_GYRO if gyro else 0) | (P.SET_VIBRATION if vibration else 0)
                 | (P.SET_BUZZER if buzzer else 0) | (P.SET_LED if led else 0))
        self._settings = P.encode_settings(schema, mode, leg, placement, target_reps,
                                           target_hold_s, session_idle_s, sleep_idle_s, odr_hz,
                                           flags, low_battery_pct)
        if self.handles is not None:
            self._ble.gatts_write(self.h_settings, self._settings)

    def set_battery(self, pct):
        pct = -1 if pct is None else int(pct)
        if pct == self.battery:
            return
        self.battery = pct
        self._status_dirty = True
        self.set_flag(P.LIVE_LOW_BATTERY, 0 <= pct <= 10)
        if self.handles is not None and 0 <= pct <= 100:
            self._ble.gatts_write(self.h_battery, bytes((pct,)))
            self._batt_dirty = True

    def _write_status(self):
        log = self.log
        if log is not None:
            used, cap, unsynced = log.usage()
            first = log.first_seq
            nxt = log.next_seq
        else:
            used = cap = unsynced = nxt = 0
            first = None
        self._status_seq = nxt
        self._status_flags = self.flags
        self._status_dirty = False
        self._ble.gatts_write(self.h_status, P.encode_status(
            self.flags, self.battery, used, cap, unsynced, 0 if first is None else first, nxt))

    def _set_time(self, data):
        try:
            unix = P.decode_cts(data)
        except P.ProtocolError as e:
            self.last_error = str(e)
            return
        self.epoch_s = unix - self.now_ms() // 1000
        self.set_flag(P.LIVE_TIME_SET, True)
        self._ble.gatts_write(self.h_time, P.encode_cts(unix))
        if self.on_time is not None:
            self.on_time(self.epoch_s)

    # -- control point -------------------------------------------------------------------

    def _control(self, data):
        try:
            op, params = P.decode_control(data)
        except P.ProtocolError as e:
            self._indicate(self.h_control, P.encode_control_response(data[0] if data else 0, e.code))
            return
        result = P.RESULT_NOT_SUPPORTED
        if op == P.CTRL_RAW:
            self.raw_on = len(params) == 1 and params[0] == 1
            self.set_flag(P.LIVE_RAW, self.raw_on)
            self._raw_q = []
            self._raw_n = 0
            result = P.RESULT_SUCCESS
        if self.on_control is not None:
            try:
                r = self.on_control(op, params)
                result = P.RESULT_SUCCESS if r is None else r
            except Exception as e:  # the app's failure is the host's answer, not a crash
                self.last_error = "control %d: %r" % (op, e)
                result = P.RESULT_FAILED
        self._indicate(self.h_control, P.encode_control_response(op, result))

    # -- record access control point -----------------------------------------------------

    def _racp_reply(self, op, code):
        self._indicate(self.h_racp, P.encode_racp_response(op, code))

    def _racp(self, data):
        try:
            op, opr, lo, hi = P.decode_racp(data)
        except P.ProtocolError as e:
            self._racp_reply(data[0] if data else 0, e.code)
            return
        if op == P.RACP_ABORT:
            self._end_report()
            self._racp_reply(op, P.RC_SUCCESS)
            return
        if self._rep is not None:
            self._racp_reply(op, P.RC_BUSY)
            return
        log = self.log
        if log is None:
            self._racp_reply(op, P.RC_NOT_COMPLETED)
            return
        if op == P.RACP_DELETE:
            try:
                n = log.delete_through(hi)
            except Exception as e:  # StoreFull, OSError: nothing deleted or all of it
                self.last_error = "delete: %r" % (e,)
                self._racp_reply(op, P.RC_NOT_COMPLETED)
                return
            self._write_status()
            self._racp_reply(op, P.RC_SUCCESS if n > 0 else P.RC_NO_RECORDS)
            return
        first = log.first_seq
        last = log.last_seq
        if first is None or last is None:
            lo, hi = 1, 0
        elif opr == P.OPR_FIRST:
            lo = hi = first
        elif opr == P.OPR_LAST:
            lo = hi = last
        else:
            lo = max(lo, first)
            hi = min(hi, last)
        if op == P.RACP_REPORT_NUMBER:
            n = log.count_from(lo) - log.count_from(hi + 1) if lo <= hi else 0
            self._indicate(self.h_racp, P.encode_racp_number(n))
            return
        # RACP_REPORT
        if lo > hi:
            self._racp_reply(op, P.RC_NO_RECORDS)
            return
        self._rep = log.read_from(lo)
        self._rep_hi = hi
        self._rep_done = False
        self._rep_records = 0
        self._rep_frames = 0
        self._rec = b""
        self._rec_off = 0
        self._flen = 0

    def _end_report(self):
        self._rep = None
        self._rec = b""
        self._flen = 0

    def _next_record(self):
        if self._rep_done or self._rep is None:
            return None
        try:
            rec = next(self._rep)
        except StopIteration:
            rec = None
        if rec is None or records.seq_of(rec) > self._rep_hi:
            self._rep_done = True
            return None
        self._rep_records += 1
        return rec

    def _build_frame(self):
        c = self._conn
        cap = FRAME_MAX if c is None or c.mtu - 3 > FRAME_MAX else c.mtu - 3
        f = self._frame
        n = 1
        start = -1
        while n < cap:
            if self._rec_off >= len(self._rec):
                rec = self._next_record()
                if rec is None:
                    break
                self._rec = rec
                self._rec_off = 0
            if start < 0:
                start = 1 if self._rec_off == 0 else 0
            rec = self._rec
            off = self._rec_off
            k = len(rec) - off
            if k > cap - n:
                k = cap - n
            f[n:n + k] = rec[off:off + k]
            n += k
            self._rec_off = off + k
        if n == 1:
            return False
        f[0] = (P.FRAME_START if start == 1 else 0) | (self._rep_frames & P.FRAME_COUNTER)
        self._flen = n
        return True

    def _send_report(self, budget):
        while budget > 0 and self._rep is not None:
            if self._flen == 0:
                try:
                    more = self._build_frame()
                except Exception as e:  # a flash read failed mid-report
                    self.last_error = "report: %r" % (e,)
                    self._end_report()
                    self._racp_reply(P.RACP_REPORT, P.RC_NOT_COMPLETED)
                    return budget
                if not more:
                    n = self._rep_records
                    self._end_report()
                    if n == 0:
                        self._racp_reply(P.RACP_REPORT, P.RC_NO_RECORDS)
                    else:
                        self._indicate(self.h_racp, P.encode_racp_response(
                            P.RACP_REPORT, P.RC_SUCCESS, n, self._rep_frames))
                    return budget
            if not self._notify(self.h_records, memoryview(self._frame)[:self._flen]):
                return budget
            self._flen = 0
            self._rep_frames += 1
            budget -= 1
        return budget

    # -- raw stream ------------------------------------------------------------------------

    def push_raw(self, t_ms, samples, n):
        """Queue `n` samples (flat: ax ay az gx gy gz each, int16 counts), the first at
        `t_ms`, spaced raw_period_10us apart. Packets fill to the link's MTU."""
        c = self._conn
        if not self.raw_on or c is None or not self.encrypted:
            return
        per = P.raw_samples_per_packet(c.mtu if c.mtu - 3 <= FRAME_MAX else FRAME_MAX + 3)
        if per < 1:
            return
        buf = self._raw_buf
        for i in range(n):
            if self._raw_n == 0:
                self._raw_t0 = t_ms + (i * self.raw_period_10us) // 100
            j = 6 * i
            off = P.RAW_HEADER + P.RAW_SAMPLE * self._raw_n
            for a in range(6):
                v = samples[j + a]
                v = -32768 if v < -32768 else (32767 if v > 32767 else v)
                buf[off] = v & 0xFF
                buf[off + 1] = (v >> 8) & 0xFF
                off += 2
            self._raw_n += 1
            if self._raw_n >= per:
                self._raw_packet()

    def _raw_packet(self):
        n = self._raw_n
        self._raw_n = 0
        size = P.RAW_HEADER + P.RAW_SAMPLE * n
        pk = bytearray(self._raw_buf[:size])
        P.encode_raw_into(pk, self._raw_seq, self._raw_t0, self.raw_period_10us, pk, 0)
        self._raw_seq = (self._raw_seq + 1) & 0xFFFF
        if len(self._raw_q) >= RAW_QUEUE:
            self._raw_q.pop(0)  # the host sees the gap in the packet seq
            self.raw_dropped += 1
        self._raw_q.append(pk)

    def _send_raw(self, budget):
        while budget > 0 and self._raw_q:
            if not self._notify(self.h_raw, self._raw_q[0]):
                return budget
            self._raw_q.pop(0)
            budget -= 1
        return budget
