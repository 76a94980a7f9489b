"""Sessions: when exercise starts and ends, and writing it to the session log.

A session starts at the first recognised rep or hold (or a button press) and ends when
no rep or hold came for the configured idle time (or a button press, the host, low
battery). Everything the detector reports in between is written through the log
(repcore.store.SessionLog) as records (repcore.records) carrying the session id: the
seq the log gives the session's start record, so ids are unique across reboots. A
session end record sums the session up.

The log never drops a record silently: when it is full of records not yet synced,
`StoreFull` is counted in `dropped` (and in the session's end record if that fits),
`full` is set for the app to signal, and live counting goes on. Any other flash error
is counted the same way: recording never stops the app.

Also tracked here, for feedback: the current set's full reps (`set_reps`), so the app
can signal each rep and the set's target.
"""
from repcore.compat import const

from repcore.store import StoreFull

# repcore.events' values (folded here: tests/test_app_constants.py ties them).
_EV_CALIBRATED = const(4)
_EV_FAULT = const(5)
_EV_HOLD = const(2)
_EV_REP = const(1)
_EV_SET = const(3)
_EX_NONE = const(0)
_FAULT_UNCALIBRATED = const(3)
# repcore.records' values (folded here: tests/test_app_constants.py ties them).
_K_HOLD = const(2)
_K_SESSION_END = const(7)
_K_SESSION_START = const(6)
_K_SET = const(3)

_FAULT_GAP_MS = const(60000)  # one record per fault code per minute at most
# A record's t_ms is a u32 of ms since the log's boot: past 2^32 ms (49.7 days) it would
# clamp. So once the time base is this far (2^31 ms, 24.8 days) past the log's boot, at
# a rebase outside a session, the log counts a new boot whose t_ms = 0 is the new base
# (and whose epoch_s is the wall clock then): the host reads it as any other boot.
_LOG_SPAN_S = const(2147483)
_MAX_FAULT_CODES = const(8)


class Sessions:
    """Session state and the recorder. `log` has `append_event(rec, session_id)` and
    `next_seq` (repcore.store.SessionLog), or is None (nothing recorded)."""

    def __init__(self, log, idle_ms=180000, target_reps=10):
        self.log = log
        self.base_s = 0  # the app's time base, s since boot: times here are ms since it
        self.log_s = 0  # the log's boot began this many s after boot: records count from it
        self.epoch_s = 0  # wall clock (Unix s) at boot, once the host set it: records say so
        self.idle_ms = idle_ms
        self.target_reps = target_reps
        self.active = False
        self.sid = 0
        self.sessions = 0  # sessions ended since boot
        self.full = False  # the log refused a record: storage full
        self.dropped = 0  # records refused since boot
        self.written = 0
        self.set_reps = 0  # full reps in the current set
        self.total_reps = 0  # since boot, full reps (live count)
        self.total_holds = 0
        self._fault_t = {}  # fault code -> time last recorded
        self._reset()

    def _reset(self):
        self.t0 = 0
        self.t_last = 0  # last rep or hold (activity)
        self.n_sets = 0
        self.reps = 0
        self.partial = 0
        self.holds = 0
        self.hold_ms = 0
        self.s_dropped = 0

    # -- recording -------------------------------------------------------------

    def record(self, rec):
        """Append one record tuple; False if it could not be written."""
        log = self.log
        if log is None:
            return True
        b = self.base_s - self.log_s
        if b:  # records carry ms since the log's boot
            k = rec[0]
            rec = list(rec)
            rec[1] += b * 1000
            if k == _K_HOLD or k == _K_SET or k == _K_SESSION_END:
                rec[2] += b * 1000  # an end time too
        epoch = self.epoch_s
        try:
            log.append_event(rec, self.sid if self.active else 0,
                             epoch + self.log_s if epoch else 0)
        except StoreFull:
            self.full = True
            self._dropped()
            return False
        except OSError:
            self._dropped()
            return False
        self.written += 1
        self.full = False
        return True

    def rebase(self, ms):
        """The app's time base moved `ms` (whole seconds) forward (and, _LOG_SPAN_S past
        the log's boot, outside a session, the log's boot with it)."""
        self.base_s += ms // 1000
        if not self.active and self.base_s - self.log_s >= _LOG_SPAN_S:
            self.log_s = self.base_s
            log = self.log
            if log is not None:
                # repcore.store numbers a boot past the largest its records carry: a
                # power cut before the next record leaves nothing with this number.
                log.boot = (log.boot + 1) & 0xFFFF
        self.t0 -= ms
        self.t_last -= ms
        ft = self._fault_t
        for code in ft:
            ft[code] -= ms

    def _dropped(self):
        self.dropped += 1
        if self.active:
            self.s_dropped += 1

    def fault(self, t, code):
        """Record a fault, at most once a minute per code (a failing part repeats)."""
        last = self._fault_t.get(code)
        if last is not None and 0 <= t - last < _FAULT_GAP_MS:
            return False
        if last is None and len(self._fault_t) >= _MAX_FAULT_CODES:
            self._fault_t.clear()
        self._fault_t[code] = t
        return self.record((_EV_FAULT, t, code))

    # -- sessions --------------------------------------------------------------

    def start(self, t, mode, placement, side, target_hold_s):
        if self.active:
            return
        log = self.log
        self.sid = log.next_seq if log is not None else self.sessions + 1
        self.active = True
        self._reset()
        self.t0 = t
        self.t_last = t
        self.record((_K_SESSION_START, t, mode, placement, side, self.target_reps, target_hold_s))

    def end(self, t, reason):
        """Close the session (the caller has flushed the detector's open set/hold)."""
        if not self.active:
            return
        rec = (_K_SESSION_END, self.t0, t, reason, self.n_sets, self.reps, self.partial,
               self.holds, self.hold_ms, self.s_dropped)
        self.record(rec)
        self.active = False
        self.sessions += 1
        self.set_reps = 0
        self.sid = 0

    def idle(self, t):
        """True when the open session has seen no rep or hold for the idle time."""
        return self.active and t - self.t_last >= self.idle_ms

    # -- events ----------------------------------------------------------------

    def event(self, ev, mode, placement, side, target_hold_s):
        """Handle one detector event: start a session if it is exercise, record it.
        Returns the feedback cue for it (the name of an app.feedback pattern), or None."""
        kind = ev[0]
        cue = None
        if kind == _EV_REP:
            if not self.active:
                # The rep began at leave time = end - (up + top + down).
                self.start(ev[1] - ev[6] - ev[7] - ev[8], mode, placement, side, target_hold_s)
            self.t_last = ev[1]
            if ev[4]:
                self.partial += 1
                cue = "partial"
            else:
                self.reps += 1
                self.total_reps += 1
                self.set_reps += 1
                cue = "target" if self.set_reps == self.target_reps else "rep"
        elif kind == _EV_HOLD:
            if not self.active:
                self.start(ev[1], mode, placement, side, target_hold_s)
            self.t_last = ev[2]
            self.holds += 1
            self.total_holds += 1
            self.hold_ms += ev[2] - ev[1]
        elif kind == _EV_SET:
            self.set_reps = 0
            if self.active and ev[3] != _EX_NONE:  # exercise none: a set not counted
                self.n_sets += 1
        elif kind == _EV_CALIBRATED:
            cue = "calibrated"
        elif kind == _EV_FAULT:
            if ev[2] == _FAULT_UNCALIBRATED:
                # A set began that the band cannot count yet: it is exercise all the
                # same (the session keeps it, as not counted), and the wearer is asked
                # to calibrate.
                if not self.active:
                    self.start(ev[1], mode, placement, side, target_hold_s)
                self.t_last = ev[1]
                cue = "calibrate"  # please: walk a few steps (or press calibrate and stand still)
            self.fault(ev[1], ev[2])
            return cue
        self.record(ev)
        return cue
