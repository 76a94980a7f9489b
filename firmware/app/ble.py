"""The band's GATT server on MicroPython's `bluetooth` module (protocol 1.2, bytes in
repcore.protocol, documentation in docs/protocol.md).

Services: the custom repband service (status, live, records, RACP, control point,
raw stream, settings, identity), Device Information (0x180A), Battery (0x180F) and Current Time (0x1805).

Entry point (the app wires it; nothing here touches the app's internals):

    import bluetooth
    from app.ble import BandService
    svc = BandService(bluetooth.BLE(), log, on_control=handler, on_time=set_epoch,
                      uptime_s=app.uptime_s, wake=flag, name="repband", model=board.NAME)
    svc.start()                          # register services, advertise fast
    app = App(hal, board, ble=svc.on_event)   # live counts from the app's events
    # a task: svc.poll() whenever `flag` is set, every _BUSY_MS while poll() says busy,
    # and at the latest after svc.due_ms()

`on_control(op, params) -> result` gets the control point's writes (op codes CTRL_*
of protocol_host, params decoded and range-checked) and returns a RESULT_* code (None =
success); raw on/off is handled here and also passed on. `on_time(epoch_s)` gets the
wall clock (Unix s) at uptime 0 whenever the host writes the Current Time.
`push_raw(t_ms, samples, n)` feeds the raw stream while the host has it on;
`set_battery(pct)`, `set_flag(bit, on)`, `set_hold(ds)` update what the host sees.
Windows (advertising, pairing) are timed with `ticks_ms` / `ticks_diff` (default: the
`time` module's); `uptime_s()` is the band's seconds since boot (the Current Time).

Pairing window (app.security): a new host may pair only while the band has no bond,
or within 2 minutes of boot or of a button press (`open_pairing()`).

The IRQ handler runs beside the app (on esp32, on NimBLE's task, between any two
bytecodes of the main loop), so it does what aioble's does: it copies what it must (a
new connection's handle, a written value, an MTU, a count of confirmed indications),
sets one field or appends to a queue, and sets `wake` (an asyncio.ThreadSafeFlag).
Every state change happens in `poll()` on the app's task: setting a connection up or
down, the status value, advertising, errors. The pairing decisions are the
exception: the stack waits for their answer (app.security), and they read the clock
without changing any state the app's task writes.

The service is put together the way aioble splits a stack, one module per idea
(app.gatt, the GATT table, runs once at start() and is dropped after; app.reports and
app.rawstream are imported when the host first needs them):
  app.security   pairing window, bond keys   app.live       live, status, battery,
  app.reports    the RACP and the records                   settings, time values
                 report (Reports)            app.rawstream  the raw sample stream
Here: the connection, the IRQ handler, poll(), advertising, notify / indicate, the
control point.

The class takes the `ble` object, the `bluetooth` module (for UUID) and the clock as
arguments, so CPython tests run it against repband.virtual.bluetooth.
"""
# pyright: reportAttributeAccessIssue=false
# (the handles h_* are set by app.gatt.register at start(), which pyright cannot see)
from repcore import protocol as P
from repcore.compat import const

from app.live import Live
from app.security import Pairing, Secrets

_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_GATTS_INDICATE_DONE = const(20)
_IRQ_MTU_EXCHANGED = const(21)
_IRQ_ENCRYPTION_UPDATE = const(28)  # ...to _IRQ_SET_SECRET (30): app.security
_IRQ_SET_SECRET = const(30)



_FRAME_MAX = const(244)  # app.gatt.MTU_PREFERRED - 3
_FAST_ADV_US = const(100000)  # 100 ms for _FAST_WINDOW_MS after boot, disconnect, session end
_SLOW_ADV_US = const(1022500)  # then about 1 s (iOS-friendly value)
_FAST_WINDOW_MS = const(30000)
_BUSY_MS = const(10)  # poll period while poll() says busy (the stack does not say when its buffers free up)
_IDLE_MS = const(10000)  # otherwise at the latest this often
_BURST = const(4)  # notifications handed to the stack per poll at most
_WRITE_QUEUE = const(8)
_PAIR_WINDOW_MS = const(120000)  # app.security's

# repcore.protocol's values (folded here: tests/test_app_constants.py ties them).
_LIVE_SIZE = const(20)
_LIVE_RAW = const(0x10)
_N_CELLS = const(5)
_CTRL_RAW = const(0x08)
_RESULT_SUCCESS = const(1)
_RESULT_NOT_SUPPORTED = const(2)
_RESULT_FAILED = const(4)


class _Conn:
    """A central's link, made by the IRQ handler; its fields below `announced` are
    written by the IRQ handler only."""

    def __init__(self, handle):
        self.handle = handle
        self.announced = False  # poll() has sent the state an encrypted link gets
        self.mtu = 23
        self.encrypted = False
        self.bonded = False
        self.restored = False  # the stack fetched our key for this peer (a reconnection)
        self.refused = False  # a fresh pairing outside the window: being disconnected
        self.paired = False  # a fresh pairing inside the window: its keys are stored


class BandService(Pairing, Live):
    """The GATT server. One central at a time (advertising stops while connected)."""

    def __init__(self, ble, log, bt=None, on_control=None, on_time=None, ticks_ms=None,
                 ticks_diff=None, uptime_s=None, wake=None, name="repband", model="repband",
                 firmware="0", secure=True, secrets=None, identity=None):
        if bt is None:
            import bluetooth
            bt = bluetooth
        if ticks_ms is None or ticks_diff is None:
            import time
            ticks_ms = time.ticks_ms
            ticks_diff = time.ticks_diff
        self._ble = ble
        self.log = log
        self.on_control = on_control
        self.on_time = on_time
        self._ticks = ticks_ms
        self._diff = ticks_diff
        self._uptime_s = uptime_s
        self.wake = wake
        self.name = name
        self.secure = secure  # False only on ports without pairing (rp2 btstack)
        self.secrets = secrets if secrets is not None else Secrets()
        # What only app.gatt uses, at start(), which drops it: the bluetooth module (for
        # UUID), the Device Information values and the identity (16 bytes, app.identity,
        # read by the host encrypted only). One attribute, not four: the object's
        # attribute table stays a size smaller.
        self._gatt = (bt, model, firmware, identity)
        # Written by the IRQ handler only:
        self._conn = None  # the central's _Conn
        self._n_conn = 0  # connections so far
        self._writes = []  # (_Conn, value handle, bytes, encrypted), handled in poll
        self._ind_done = 0  # indications confirmed (or failed) so far
        self.pair_refused = 0  # fresh pairings refused (window closed)
        # Written by the app's task:
        self._link = None  # the _Conn poll() has set up
        self._n_seen = 0
        self._ind_seen = 0
        self._ind_q = []  # (value handle, bytes) waiting for the indication slot
        self._ind_busy = False
        self._congested = False
        self.errors = 0  # notifications / indications the stack refused
        self.last_error = ""
        self._pair_from = -1  # ticks the pairing window opened at, -1 closed
        # advertising (below)
        self._adv_fast_from = -1
        self._advertising = 0  # 0 off, else the interval in us
        self._adv = b""  # the advertising payload and scan response (app.gatt, at start())
        self._resp = b""
        # live state (app.live)
        self._live = bytearray(_LIVE_SIZE)
        self._live_dirty = True
        self.flags = 0
        self.session = 0
        self.counts = [0] * _N_CELLS
        self.exercise = 0
        self.side = 0
        self.set_count = 0
        self.hold_ds = 0
        self._counter = 0
        # battery, time, status, settings (app.live)
        self._settings = None  # the settings value, set by the app (set_settings)
        self.battery = -1
        self._batt_dirty = False
        self.epoch_s = 0
        self._status_seq = -1  # the log's next_seq and flags the status value holds
        self._status_flags = -1
        self._status_dirty = True
        self._reports = None  # app.reports.Reports, from the host's first RACP request
        self._raw = None  # app.rawstream.RawStream while the raw stream is on
        self.raw_period_10us = 962  # 104 Hz; the app sets it from its rate estimate
        self.handles = None

    def _wake(self):
        w = self.wake
        if w is not None:
            w.set()

    def _since(self, t):
        """ms since ticks `t` (negative: more than 2^29 ms ago, or -1 given)."""
        return -1 if t < 0 else self._diff(self._ticks(), t)

    def start(self):
        """Activate the radio, register the services, start advertising fast (once: the
        values only the GATT table needs are dropped after)."""
        ble = self._ble
        ble.active(True)
        ble.irq(self._irq)
        from app import gatt, unload

        gatt.register(self)
        unload("app.gatt")  # run once: its code is not kept in RAM
        self._write_live()
        self._write_status()
        # Switching the band on is physical access: a bonded band takes a new host for
        # _PAIR_WINDOW_MS after boot too (docs/protocol.md, threat model).
        self._pair_from = self._ticks()
        self.advertise(True)

    def stop(self):
        self.stop_advertising()
        c = self._conn
        if c is not None:
            try:
                self._ble.gap_disconnect(c.handle)
            except OSError:
                pass
        self._ble.active(False)

    @property
    def connected(self):
        return self._conn is not None

    @property
    def encrypted(self):
        c = self._conn
        return c is not None and (c.encrypted or not self.secure)

    @property
    def busy(self):
        """True while a report streams or an indication waits on a live link."""
        c = self._link
        r = self._reports
        return c is not None and c is self._conn and ((r is not None and r.gen is not None)
                                                      or self._ind_busy or bool(self._ind_q))

    @property
    def raw_on(self):
        return self._raw is not None

    def push_raw(self, t_ms, samples, n):
        """Queue `n` raw samples (app.rawstream) while the host has the stream on."""
        r = self._raw
        if r is not None:
            r.push(t_ms, samples, n)

    def _irq(self, event, data):
        """The stack's events (see the module doc: copy, set one field, wake)."""
        if event == _IRQ_CENTRAL_CONNECT:
            if self._conn is not None:
                self._ble.gap_disconnect(data[0])  # one central at a time
                return None
            self._conn = _Conn(data[0])
            self._n_conn += 1
        elif event == _IRQ_CENTRAL_DISCONNECT:
            c = self._conn
            if c is None or c.handle != data[0]:
                return None
            self._conn = None
        elif event == _IRQ_GATTS_WRITE:
            c = self._conn
            if c is None or c.handle != data[0] or len(self._writes) >= _WRITE_QUEUE:
                return None
            h = data[1]
            self._writes.append((c, h, bytes(self._ble.gatts_read(h)), c.encrypted or not self.secure))
        elif event == _IRQ_GATTS_INDICATE_DONE:
            self._ind_done += 1  # confirmed or failed: the slot is free either way
        elif event == _IRQ_MTU_EXCHANGED:
            c = self._conn
            if c is None or c.handle != data[0]:
                return None
            c.mtu = data[1]
        elif _IRQ_ENCRYPTION_UPDATE <= event <= _IRQ_SET_SECRET:
            r = self._security_irq(event, data)
            self._wake()
            return r
        else:
            return None
        self._wake()
        return None

    def due_ms(self):
        """ms until poll() has timed work (advertising turning slow, the pairing window
        closing), at most _IDLE_MS."""
        ms = _IDLE_MS
        for since, span in ((self._since(self._adv_fast_from), _FAST_WINDOW_MS),
                            (self._since(self._pair_from), _PAIR_WINDOW_MS)):
            if 0 <= since < span and span - since < ms:
                ms = span - since
        return ms

    def _sync_link(self):
        """Take up what the IRQ handler saw: a new link, a lost one (or both)."""
        c = self._conn
        n = self._n_conn
        if c is self._link and n == self._n_seen:
            return c
        self._n_seen = n
        if self._link is not None:
            self._link = None
            if self._reports is not None:
                self._reports.end()
            self._ind_q = []
            self._ind_busy = False
            self._ind_seen = self._ind_done
            if self._raw is not None:
                self._raw.clear()
        self._advertising = 0  # the stack stops advertising at a connection
        self._link = c
        if c is None:
            self.advertise(True)
        else:
            self._live_dirty = True
            self._batt_dirty = True
            self._write_status()  # current for the central's first read
        return c

    def poll(self):
        """Take up the IRQs, handle writes, stream what is due; returns True while work
        is pending (call again after _BUSY_MS)."""
        if self.secrets.dirty:
            try:
                self.secrets.save()
            except OSError as e:
                self.last_error = "bond keys not saved: %s" % (e,)
        if self._pair_from >= 0 and not 0 <= self._since(self._pair_from) < _PAIR_WINDOW_MS:
            self._pair_from = -1  # closed before 2^30 ms of ticks could wrap it open again
        d = self._ind_done
        if d != self._ind_seen:
            self._ind_seen = d
            self._ind_busy = False
        c = self._sync_link()
        if c is None:
            # Nobody connected: fast advertising turns slow when its window is over.
            if (self._advertising == _FAST_ADV_US
                    and not 0 <= self._since(self._adv_fast_from) < _FAST_WINDOW_MS):
                self._start_adv(_SLOW_ADV_US)
            return False
        while self._writes:
            wc, h, data, enc = self._writes.pop(0)
            if wc is c:
                self._on_write(h, data, enc)
            if self._conn is not c:
                return False
        if c.encrypted and not c.announced:
            c.announced = True
            self._live_dirty = True
            self._batt_dirty = True
        self._congested = False
        budget = _BURST
        if self.encrypted:
            budget = self._send_live(budget)
            if self._batt_dirty:
                self._batt_dirty = False
                if 0 <= self.battery <= 100:
                    self._notify(self.h_battery, bytes((self.battery,)))
            if self._reports is not None:
                budget = self._reports.send(budget)
            raw = self._raw
            if raw is not None:
                budget = raw.send(budget)
        log = self.log
        if self._status_dirty or self.flags != self._status_flags \
                or (log is not None and log.next_seq != self._status_seq):
            self._write_status()  # records appended, flags or battery changed
        self._send_indication()
        raw = self._raw
        return self.busy or (raw is not None and bool(raw.q))

    # -- advertising: fast (100 ms) for _FAST_WINDOW_MS after boot, a disconnect, a session
    # end or an opened pairing window, then slow (about 1 s); stopped while connected
    # (the stack stops it at a connection) and while the band sleeps. The payloads
    # (`_adv`, `_resp`) are app.gatt's.

    def stop_advertising(self):
        """Not connectable: the band sleeps (app.power) or goes off. The pairing window
        closes too: in light sleep no poll() closes it in time, and a wake a multiple of
        2^30 ms later would find the wrapped ticks inside it again."""
        self._pair_from = -1
        self._adv_fast_from = -1
        if self._advertising:
            self._ble.gap_advertise(None)
        self._advertising = 0

    def advertise(self, fast=True):
        """Advertise fast (then slow after _FAST_WINDOW_MS) or slow; no-op while connected
        (advertising starts again at the disconnect)."""
        self._adv_fast_from = self._ticks() if fast else -1
        if self._link is None:
            self._start_adv(_FAST_ADV_US if fast else _SLOW_ADV_US)

    def _start_adv(self, interval):
        if self._advertising != interval:
            self._ble.gap_advertise(interval, self._adv, resp_data=self._resp)
            self._advertising = interval

    def _notify(self, handle, data):
        c = self._link
        if self._congested or c is None:
            return False
        try:
            self._ble.gatts_notify(c.handle, handle, data)
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
        c = self._link
        if self._ind_busy or not self._ind_q or c is None:
            return
        h, data = self._ind_q[0]
        self._ind_busy = True  # first: the confirmation may come before the call returns
        try:
            self._ble.gatts_indicate(c.handle, h, data)
        except OSError as e:
            self._ind_busy = False
            self.errors += 1
            self.last_error = "indicate: %s" % (e,)
            return
        self._ind_q.pop(0)

    def _on_write(self, h, data, encrypted):
        if self.secure and not encrypted:
            # The stack refuses these writes (encrypted-write flags); never act on one.
            self.last_error = "write on an unencrypted link ignored"
            return
        if h == self.h_racp:
            if self._reports is None:
                from app.reports import Reports

                self._reports = Reports(self)
            self._reports.racp(data)
        elif h == self.h_control:
            self._control(data)
        elif h == self.h_time:
            self._set_time(data)

    def _control(self, data):
        try:
            op, params = P.decode_control(data)
        except P.ProtocolError as e:
            self._indicate(self.h_control, P.encode_control_response(data[0] if data else 0, e.code))
            return
        result = _RESULT_NOT_SUPPORTED
        if op == _CTRL_RAW:
            on = len(params) == 1 and params[0] == 1
            self._raw = None
            if on:
                from app.rawstream import RawStream

                self._raw = RawStream(self)
            self.set_flag(_LIVE_RAW, on)
            result = _RESULT_SUCCESS
        if self.on_control is not None:
            try:
                r = self.on_control(op, params)
                result = _RESULT_SUCCESS if r is None else r
            except Exception as e:  # the app's failure is the host's answer, not a crash
                self.last_error = "control %d: %r" % (op, e)
                result = _RESULT_FAILED
        self._indicate(self.h_control, P.encode_control_response(op, result))
