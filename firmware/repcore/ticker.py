"""Per-sample front end: rejects bad reads and averages samples into fixed ticks.

This is the only code that runs for every sample, so it is integer-only: adding
small ints allocates nothing on MicroPython, while every float operation would
allocate a 16-byte heap block. Everything downstream runs once per tick.
"""
from repcore.compat import const

TICK_MS = const(80)  # 12.5 Hz: reps last seconds, 80 ms keeps timing well inside 0.1 s
GAP_MS = const(1000)  # a longer silence than this is reported as a gap
_MAX_MG = const(16000)  # beyond any consumer IMU range: a corrupted read


class Ticker:
    """Sums samples until the tick ends; `push` returns True when a tick is ready."""

    def __init__(self):
        self.n = 0
        self.sax = self.say = self.saz = 0
        self.sgx = self.sgy = self.sgz = 0
        self.t_last = -1  # time of the last accepted sample
        self.t_tick = 0  # end of the current tick
        self.t_done = 0  # time of the last sample in the tick that just closed
        self.bad = 0  # bad reads since the tick opened: the detector reports them when it closes
        self.gap = False  # the tick that just closed follows a gap

    def push(self, t, ax, ay, az, gx, gy, gz):
        if t <= self.t_last:
            return False  # repeated or reordered timestamp: keep time monotonic
        if (ax == 0 and ay == 0 and az == 0) or not (
            -_MAX_MG < ax < _MAX_MG and -_MAX_MG < ay < _MAX_MG and -_MAX_MG < az < _MAX_MG
        ):
            self.bad += 1  # an all-zero or impossible read is a bus glitch, not motion
            return False
        if self.t_last < 0:
            self.t_tick = t + TICK_MS
        elif t >= self.t_tick and self.n:
            # The tick is complete: the caller reads the sums, then calls `start`.
            self.t_done = self.t_last
            self.gap = t - self.t_last > GAP_MS
            self.t_last = t
            return True
        self.t_last = t
        self._add(ax, ay, az, gx, gy, gz)
        return False

    def start(self, t, ax, ay, az, gx, gy, gz):
        """Open the next tick with the sample that closed the previous one."""
        self.n = self.bad = 0
        self.sax = self.say = self.saz = 0
        self.sgx = self.sgy = self.sgz = 0
        if t >= self.t_tick + TICK_MS:
            self.t_tick = t + TICK_MS  # after a gap, realign instead of catching up
        else:
            self.t_tick += TICK_MS
        self._add(ax, ay, az, gx, gy, gz)

    def _add(self, ax, ay, az, gx, gy, gz):
        self.n += 1
        self.sax += ax
        self.say += ay
        self.saz += az
        self.sgx += gx
        self.sgy += gy
        self.sgz += gz
