"""What the app does with the detector's events, once per drain: sessions and their
records (app.session), feedback cues, the event hook (the GATT service's live state),
live holds, the idle end of a session, app faults.

A mixin of app.app.App (its state is set in App.__init__).
"""
# pyright: reportAttributeAccessIssue=false
# (a mixin: the attributes are App's, set in App.__init__ and the other mixins)
from repcore.compat import const

from app import config as cfgmod

# repcore.events' values (folded here: tests/test_app_constants.py ties them).
_CAL_USER = const(2)
_EV_FAULT = const(5)
_EV_HOLD = const(2)
_EV_REP = const(1)
_FAULT_SENSOR_OK = const(24)
_FAULT_STORAGE_FULL = const(21)
# repcore.records' values (folded here: tests/test_app_constants.py ties them).
_END_IDLE = const(1)

# App.state values (app.app).
_ST_RUN = const(1)
_ST_SESSION = const(2)
_ST_FAULT = const(4)

_LIVE_STORAGE_FULL = const(0x08)  # repcore.protocol's


class Activity:
    def after_drain(self):
        """Events, sessions, live holds, idle: once per drain, not per sample."""
        det = self.det
        cfg = self.cfg
        if det is None:
            return
        t = self._t
        if not det.still:
            self._last_active = self._up
        pend = self._pending
        if pend:
            self._handle(pend)
        # A hold in progress (the core reports it when it ends): start the session at
        # once and signal its start and the target time.
        t0 = det.hold_start()
        if t0 >= 0:
            if self._hold_seen != t0:
                self._hold_seen = t0
                self._start_session(t0)
                self.feedback.play("hold_start")
            if self._hold_done != t0 and t - t0 >= cfg["target_hold_s"] * 1000:
                self._hold_done = t0
                self.feedback.play("hold_target")
            self.sessions.t_last = t
            self._last_active = self._up
            if self.svc is not None:  # whole seconds: one live update a second
                self.svc.set_hold(max(1, (t - t0) // 1000 * 10))
        elif self.svc is not None and self.svc.hold_ds:
            self.svc.set_hold(0)
        s = self.sessions
        if s.idle(t):
            self.end_session(_END_IDLE)
        if s.full and not self._full_signalled:
            self._full_signalled = True
            self.feedback.play("storage_full")
            self._flag(_LIVE_STORAGE_FULL, True)
            self._app_fault(_FAULT_STORAGE_FULL)
        elif not s.full and self._full_signalled:
            self._full_signalled = False
            self._flag(_LIVE_STORAGE_FULL, False)
        self._keep_small(t)

    def _handle(self, pend):
        s = self.sessions
        leg, placement, mode = cfgmod.codes(self.cfg)
        hold_s = self.cfg["target_hold_s"]
        i = 0
        while i < len(pend):
            ev = pend[i]
            i += 1
            was = s.active
            cue = s.event(ev, mode, placement, leg, hold_s)
            if s.active and not was:
                self.state = _ST_SESSION
                self.feedback.play("session_start")
                self._emit_session_start()
            if cue is not None:
                if cue == "calibrated":
                    if ev[2] != _CAL_USER and self._calibrated:
                        cue = None  # automatic re-calibrations are silent
                    self._calibrated = True
                if cue is not None:
                    self.feedback.play(cue)
            if ev[0] == _EV_REP or ev[0] == _EV_HOLD:
                self._last_active = self._up
            if self.ble is not None:
                self.ble(ev)
        del pend[:]

    def _emit_session_start(self):
        if self.ble is not None:
            self.ble(("session_start", self.sessions.sid, self.sessions.t0))

    def _start_session(self, t):
        s = self.sessions
        if s.active:
            return
        leg, placement, mode = cfgmod.codes(self.cfg)
        s.start(t, mode, placement, leg, self.cfg["target_hold_s"])
        self.state = _ST_SESSION
        self.feedback.play("session_start")
        self._emit_session_start()

    def end_session(self, reason):
        """Close the detector's open set and hold into the session, then end it."""
        s = self.sessions
        if not s.active:
            return
        det = self.det
        t = self._t
        if det is not None:
            det.finish(t)
            if self._pending:
                self._handle(self._pending)
        sid = s.sid
        s.end(t, reason)
        self.state = _ST_RUN if self.imu is not None else _ST_FAULT
        self.feedback.play("session_end")
        if self.ble is not None:
            self.ble(("session_end", sid, t, reason))

    def _app_fault(self, code):
        t = self._up
        ev = (_EV_FAULT, t, code)
        if code != _FAULT_SENSOR_OK:
            self.sessions.fault(t, code)
        else:
            self.sessions.record(ev)
        if self.ble is not None:
            self.ble(ev)
