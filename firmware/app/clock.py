"""The app's time base: ms since the base from the CPU clock, and the sample clock.

Every time the app and the core carry is a MicroPython small int (below 2^30): a time
is ms since the *time base*, which starts at boot and moves forward in whole seconds
(`_rebase`) once the sample clock passes _REBASE_MS (3.1 days) outside a session, at
rest or at a wake from sleep; `_base_s` counts the base's seconds since boot (small for
34 years). The CPU clock is read as `ticks_ms` and only its gaps are used
(`ticks_diff`, right for gaps under 2^29 ms: `uptime()` runs at least every few
seconds, also in light sleep). Only the wire gets ms since the log's boot (`log_ms`:
raw packets; records, app.session), a u32 that app.session keeps under 2^32: the log
counts a new boot every 24.8 days of uptime.

The detector gets ms since the base counted from the sample rate (exact spacing, no
per-sample clock read: app.sampling), re-anchored to the CPU clock after a gap (FIFO
overflow, sensor fault, sleep) and corrected when the chip's rate drifts.

A mixin of app.app.App: the state (`_t0`, `_up`, `_base_s`, `_t`, `_frac`, `_odr`,
`_anchor_up`, `_anchor_n`) is set in App.__init__.
"""
# pyright: reportAttributeAccessIssue=false
# (a mixin: the attributes are App's, set in App.__init__ and the other mixins)
from repcore.compat import const

_RESYNC_MS = const(1000)  # sample clock this far from the CPU clock: re-anchor
_DRIFT_MS = const(150)  # ...this far: correct the sample rate estimate
_REBASE_MS = const(0x10000000)  # 2^28 ms (3.1 days) since the base: move it when at rest
_WRAP_MS = const(0x20000000)  # 2^29 ms: move it whatever runs (half way to a long int)


def _moved(t, ms):
    t -= ms
    return t if t > -_REBASE_MS else -_REBASE_MS


class Clock:
    def uptime(self):
        """ms since the time base, from the CPU clock."""
        hal = self.hal
        now = hal.ticks_ms()
        self._up += hal.ticks_diff(now, self._t0)
        self._t0 = now
        return self._up

    def uptime_s(self):
        """Seconds since boot (the coarse counter: a small int for 34 years)."""
        return self._base_s + self.uptime() // 1000

    def log_ms(self, t):
        """ms since the log's boot (app.session) of time `t` (ms since the base): for the
        wire only (raw packets; records: app.session)."""
        b = self._base_s - self.sessions.log_s
        return b * 1000 + t if b else t

    def stop_at(self, boot_ms):
        """main() returns at `boot_ms` ms since boot (the virtual device; -1: never)."""
        self._until = boot_ms - self._base_s * 1000 if boot_ms >= 0 else -1

    def _keep_small(self, now):
        """Move the time base to `now` (ms since it: the newest sample, or the CPU clock
        while no sample comes) once it is _REBASE_MS old, at a moment nothing is lost."""
        if now >= _REBASE_MS:
            det = self.det
            if now >= _WRAP_MS or (not self.sessions.active and (det is None or det.still)):
                self._rebase(now)

    def _rebase(self, now):
        """Move the time base to `now`, in whole seconds. The detector starts afresh on
        the new base (its times are the old base's), keeping its calibration, as after a
        sleep; the session's times move with the base."""
        k = now // 1000
        ms = k * 1000
        self._base_s += k
        self._up -= ms
        # Times of the past stay at most _REBASE_MS in the past (as old as it gets here).
        self._t = _moved(self._t, ms)
        self._anchor_up = _moved(self._anchor_up, ms)
        self._last_active = _moved(self._last_active, ms)
        self._beat_up = _moved(self._beat_up, ms)
        self._retry_up = _moved(self._retry_up, ms)
        self._bat_due = _moved(self._bat_due, ms)
        if self._press_up >= 0:
            self._press_up -= ms
        if self._reset_at >= 0:
            self._reset_at = max(0, self._reset_at - ms)
        if self._until >= 0:
            self._until = max(0, self._until - ms)
        self._hold_seen = self._hold_done = -1
        self.sessions.rebase(ms)
        self._new_detector(self.det)

    def _anchor(self, up):
        """Restart the sample clock at the CPU clock (after a gap)."""
        if up <= self._t:
            up = self._t + 1
        self._t = up
        self._frac = 0
        self._anchor_up = up
        self._anchor_n = 0

    def _check_clock(self):
        """After a drain: keep the sample clock near the CPU clock."""
        up = self.uptime()
        err = self._t - up  # the newest sample was taken at most a drain ago: err ~ 0
        if err > _RESYNC_MS or err < -_RESYNC_MS:
            self._anchor(up)
        elif (err > _DRIFT_MS or err < -_DRIFT_MS) and up - self._anchor_up > 10000:
            # The chip's clock differs from ours: measure its rate since the anchor.
            odr = self._anchor_n * 1000000 // (up - self._anchor_up)
            if odr > 0:
                self._odr = odr
            self._anchor_up = self._t
            self._anchor_n = 0
            self._frac = 0
