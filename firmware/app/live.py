"""The values the host reads: live counts (notified), status, battery level, settings
and the Current Time (the host's clock). The app's changes wake the service's task
(`wake`): poll() sends them.

`Live` is a mixin of app.ble.BandService (its state is set in BandService.__init__).
"""
# pyright: reportAttributeAccessIssue=false
# (a mixin: the attributes are BandService's, set in its __init__ and the other mixins)
from repcore import protocol as P
from repcore.compat import const

# repcore.protocol's values (folded here: tests/test_app_constants.py ties them).
_LIVE_SESSION = const(0x01)
_LIVE_HOLD = const(0x02)
_LIVE_CALIBRATED = const(0x04)
_LIVE_TIME_SET = const(0x20)
_LIVE_LOW_BATTERY = const(0x80)
_N_CELLS = const(5)
_SET_GYRO = const(0x01)
_SET_VIBRATION = const(0x02)
_SET_BUZZER = const(0x04)
_SET_LED = const(0x08)


class Live:
    def on_event(self, ev):
        """The app's hook: detector events and session tuples update the live state."""
        k = ev[0]
        if k == "session_start":
            self.session = ev[1]
            for i in range(_N_CELLS):
                self.counts[i] = 0
            self.set_count = 0
            self.hold_ds = 0
            self.flags = (self.flags | _LIVE_SESSION) & ~_LIVE_HOLD
        elif k == "session_end":
            self.flags &= ~(_LIVE_SESSION | _LIVE_HOLD)
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
            self.flags &= ~_LIVE_HOLD
        elif k == 3:  # EV_SET closed
            self.set_count = 0
        elif k == 4:  # EV_CALIBRATED
            self.flags |= _LIVE_CALIBRATED
        else:
            return
        self._changed()

    def _changed(self):
        """The live state changed: poll() sends it (woken now)."""
        self._live_dirty = True
        self._wake()

    def set_flag(self, bit, on):
        old = self.flags
        self.flags = (self.flags | bit) if on else (self.flags & ~bit)
        if self.flags != old:
            self._changed()

    def set_hold(self, ds):
        """A hold in progress (tenths of a second), or 0 when none."""
        self.set_flag(_LIVE_HOLD, ds > 0)
        if ds != self.hold_ds:
            self.hold_ds = ds
            self._changed()

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

    def set_settings(self, schema, mode, leg, placement, target_reps, target_hold_s,
                     session_idle_s, sleep_idle_s, odr_hz, gyro, vibration, buzzer, led,
                     low_battery_pct):
        """Publish the band's settings (app.config) for the host to read."""
        flags = ((_SET_GYRO if gyro else 0) | (_SET_VIBRATION if vibration else 0)
                 | (_SET_BUZZER if buzzer else 0) | (_SET_LED if led else 0))
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
        self.set_flag(_LIVE_LOW_BATTERY, 0 <= pct <= 10)
        if self.handles is not None and 0 <= pct <= 100:
            self._ble.gatts_write(self.h_battery, bytes((pct,)))
            self._batt_dirty = True
        self._wake()

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
        up = self._uptime_s
        self.epoch_s = unix - (up() if up is not None else self._ticks() // 1000)
        self.set_flag(_LIVE_TIME_SET, True)
        self._ble.gatts_write(self.h_time, P.encode_cts(unix))
        if self.on_time is not None:
            self.on_time(self.epoch_s)
