"""The band's GATT server on MicroPython's `bluetooth` module (protocol 1.2, bytes in
repcore.protocol, documentation in docs/protocol.md).

Services: the custom repband service (status, live, records, RACP, control point,
raw stream, settings, identity), Device Information (0x180A), Battery (0x180F) and Current Time (0x1805).

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

Pairing window (app.security): a new host may pair only while the band has no bond,
or within 2 minutes of boot or of a button press (`open_pairing()`).

The IRQ handler only records what happened; `poll()` does the work (log reads,
notifications, callbacks) from the app's task, so nothing heavy runs in the
Bluetooth stack's callback context. The one exception is the status value, rewritten
when a central connects (O(1), no flash access) so that a read right after
connecting is current; while connected, poll() rewrites it whenever the log gained
records or the flags or the battery changed, and a delete rewrites it at once.

The service is put together the way aioble splits a stack, one module per idea:
  app.advertising  fast/slow advertising      app.security   pairing window, bond keys
  app.live         live, status, battery,     app.reports    the RACP and the records
                   settings, time values                     report
  app.rawstream    the raw sample stream
Here: registration, the connection, the IRQ handler, poll(), notify / indicate, the
control point.

The class takes the `ble` object, the `bluetooth` module (for UUID) and the clock as
arguments, so CPython tests run it against repband.virtual.bluetooth.
"""
from repcore import protocol as P
from repcore.compat import const

from app.advertising import Advertising, uuid128_le
from app.live import Live
from app.rawstream import RawStream
from app.reports import Reports
from app.security import PAIR_WINDOW_MS, Pairing, Secrets

_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_GATTS_INDICATE_DONE = const(20)
_IRQ_MTU_EXCHANGED = const(21)
_IRQ_ENCRYPTION_UPDATE = const(28)  # ...to _IRQ_SET_SECRET (30): app.security
_IRQ_SET_SECRET = const(30)

_F_READ = const(0x0002)
_F_WRITE = const(0x0008)
_F_NOTIFY = const(0x0010)
_F_INDICATE = const(0x0020)
_F_READ_ENC = const(0x0200)  # NimBLE (esp32): ATT error 0x0F on an unencrypted link
_F_WRITE_ENC = const(0x1000)

_IO_NO_INPUT_OUTPUT = const(3)

MTU_PREFERRED = const(247)
FRAME_MAX = const(244)  # MTU_PREFERRED - 3
POLL_MS = const(10)
BURST = const(4)  # notifications handed to the stack per poll at most
_WRITE_QUEUE = const(8)


class _Conn:
    def __init__(self, handle):
        self.handle = handle
        self.mtu = 23
        self.encrypted = False
        self.bonded = False
        self.restored = False  # the stack fetched our key for this peer (a reconnection)
        self.refused = False  # a fresh pairing outside the window: being disconnected
        self.paired = False  # a fresh pairing inside the window: its keys are stored


class BandService(Advertising, Pairing, Live, Reports, RawStream):
    """The GATT server. One central at a time (advertising stops while connected)."""

    def __init__(self, ble, log, bt=None, on_control=None, on_time=None, uptime_ms=None,
                 name="repband", model="repband", firmware="0", secure=True, secrets=None, identity=None):
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
        self.identity = identity  # 16 bytes (app.identity), read by the host encrypted only
        self._conn = None
        self._writes = []  # (value handle, bytes) from the IRQ, handled in poll
        self._ind_q = []  # (value handle, bytes) waiting for the indication slot
        self._ind_busy = False
        self._congested = False
        self.errors = 0  # notifications / indications the stack refused
        self.last_error = ""
        self._pair_until = 0  # uptime (ms) the pairing window closes at
        self.pair_refused = 0  # fresh pairings refused (window closed)
        # advertising (app.advertising)
        self._adv_fast_until = -1
        self._advertising = 0  # 0 off, else the interval in us
        self._adv = b"\x02\x01\x06" + bytes((17, 0x07)) + uuid128_le(P.SERVICE_UUID)
        nm = name.encode()[:26]
        self._resp = bytes((len(nm) + 1, 0x09)) + nm
        # live state (app.live)
        self._live = bytearray(P.LIVE_SIZE)
        self._live_dirty = True
        self.flags = 0
        self.session = 0
        self.counts = [0] * P.N_CELLS
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
        # records report (app.reports)
        self._rep = None  # the log's read_from generator while a report runs
        self._rep_hi = 0
        self._rep_done = False
        self._rep_records = 0
        self._rep_frames = 0
        self._rec = b""
        self._rec_off = 0
        self._frame = bytearray(FRAME_MAX)
        self._flen = 0
        # raw stream (app.rawstream)
        self.raw_on = False
        self.raw_period_10us = 962  # 104 Hz
        self._raw_q = []
        self._raw_seq = 0
        self._raw_buf = bytearray(P.RAW_HEADER + P.RAW_SAMPLE * ((FRAME_MAX - P.RAW_HEADER) // P.RAW_SAMPLE))
        self._raw_n = 0
        self._raw_t0 = 0
        self.raw_dropped = 0
        self.handles = None

    def now_ms(self):
        if self._uptime is not None:
            return self._uptime()
        import time
        t = time.ticks_ms()
        if self._t_last >= 0:
            self._t_acc += time.ticks_diff(t, self._t_last)
        self._t_last = t
        return self._t_acc

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
            (U(P.IDENTITY_UUID), _F_READ | enc_r),
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
         self.h_settings, h_identity) = h[0]
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
        if self.identity is not None:
            ble.gatts_write(h_identity, self.identity)
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
        elif _IRQ_ENCRYPTION_UPDATE <= event <= _IRQ_SET_SECRET:
            return self._security_irq(event, data)
        return None

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
            self._advertise_tick(now)
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
