"""The app's time base: ms since boot from the CPU clock, and the sample clock.

The detector gets ms since boot counted from the sample rate (exact spacing, no
per-sample clock read: app.sampling), re-anchored to the CPU clock after a gap (FIFO
overflow, sensor fault, sleep) and corrected when the chip's rate drifts.

A mixin of app.app.App: the state (`_t0`, `_up`, `_t`, `_frac`, `_odr`, `_anchor_up`,
`_anchor_n`) is set in App.__init__.
"""
# pyright: reportAttributeAccessIssue=false
# (a mixin: the attributes are App's, set in App.__init__ and the other mixins)
from repcore.compat import const

RESYNC_MS = const(1000)  # sample clock this far from the CPU clock: re-anchor
DRIFT_MS = const(150)  # ...this far: correct the sample rate estimate


class Clock:
    def uptime(self):
        """ms since boot, from the CPU clock."""
        now = self.hal.ticks_ms()
        self._up += self.hal.ticks_diff(now, self._t0)
        self._t0 = now
        return self._up

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
        if err > RESYNC_MS or err < -RESYNC_MS:
            self._anchor(up)
        elif (err > DRIFT_MS or err < -DRIFT_MS) and up - self._anchor_up > 10000:
            # The chip's clock differs from ours: measure its rate since the anchor.
            odr = self._anchor_n * 1000000 // (up - self._anchor_up)
            if odr > 0:
                self._odr = odr
            self._anchor_up = self._t
            self._anchor_n = 0
            self._frac = 0
