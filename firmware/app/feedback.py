"""Feedback: patterns played one at a time on LED / buzzer / vibration (a task).

Patterns differ by rhythm, so they read the same on a vibration motor, a buzzer or
an LED: each rep, the set's target, hold start and target, calibration (done, and asked
for when a set begins that the band cannot count yet), session start
and end, low battery, sensor fault, storage full, config fault, identify, pairable, the
leg the band counts after a double press (left one long pulse, right two), the factory
reset on the band (a warning while the double press is held, then done).
"""
from repcore.compat import const

from app.hal import OUT_BUZZER, OUT_LED, OUT_VIBRATION

_ALL = const(7)  # OUT_LED | OUT_BUZZER | OUT_VIBRATION
# Per pattern, bytes (no objects of their own in RAM): the outputs (OUT_* bits: 7 all,
# 5 LED + vibration, 3 LED + buzzer, 1 LED), then on, off, on, ... in 10 ms units.
PATTERNS = {
    "rep": b"\x07\x08",
    "partial": b"\x01\x04",
    "target": b"\x07\x19\x0c\x19\x0c\x3c",
    "hold_start": b"\x05\x04\x0a\x04",
    "hold_target": b"\x07\x19\x0c\x19\x0c\x3c",
    "calibrated": b"\x07\x06\x08\x06\x08\x1e",
    "cal_armed": b"\x05\x28",
    # a set the band cannot count yet: walk a few steps (or press calibrate, stand still)
    "calibrate": b"\x07\x28\x0f\x08\x0f\x08\x0f\x28",
    "session_start": b"\x01\x0f\x0a\x0f",
    "session_end": b"\x01\x3c",
    "low_battery": b"\x03\x03\x14\x03\x14\x03\x14\x03",
    "sensor_fault": b"\x07\x46\x1e\x46",
    "storage_full": b"\x01\x0a\x0a\x0a\x0a\x0a\x0a\x0a",
    "config_fault": b"\x01\x1e\x1e\x1e",
    "identify": b"\x07\x19\x19",  # repeated for the seconds the host asked for
    "pairable": b"\x05\x03\x07\x03\x07\x03\x07\x32",  # a new host may pair
    "leg_left": b"\x07\x32",  # the band counts the left leg now: one long pulse
    "leg_right": b"\x07\x32\x14\x32",  # ... the right leg: two
    # a double press held 3 s: let go now, or at 10 s the band is wiped (fast pulses)
    "wipe_warning": b"\x07\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05",
    "wiped": b"\x07\x96",  # the factory reset is done: the band restarts as a new one
}


class Feedback:
    """A small queue of patterns, played one at a time by `run` (a task)."""

    def __init__(self, hal, cfg):
        self.hal = hal
        self.queue = []
        self.mask = 0
        self.configure(cfg)
        self._wake = None
        self.played = 0
        self.identify_s = 1

    def configure(self, cfg):
        m = 0
        if cfg["led"]:
            m |= OUT_LED
        if cfg["buzzer"]:
            m |= OUT_BUZZER
        if cfg["vibration"]:
            m |= OUT_VIBRATION
        self.mask = m & self.hal.outputs()

    def play(self, name):
        q = self.queue
        if len(q) >= 4:
            # Behind (a burst of events): drop queued rep cues first, then the oldest.
            for i in range(len(q)):
                if q[i] == "rep" or q[i] == "partial":
                    q.pop(i)
                    break
            else:
                q.pop(0)
        q.append(name)
        if self._wake is not None:
            self._wake.set()

    def off(self):
        self.hal.output(_ALL, False)

    async def run(self):
        hal = self.hal
        self._wake = hal.flag()
        while True:
            if not self.queue:
                await self._wake.wait()  # play() sets it
                continue
            name = self.queue.pop(0)
            steps = PATTERNS[name]
            mask = steps[0] & self.mask
            hal.signal(name)
            self.played += 1
            on = True
            for _ in range(2 * self.identify_s if name == "identify" else 1):
                for i in range(1, len(steps)):
                    if mask:
                        hal.output(mask, on)
                    await hal.sleep_ms(10 * steps[i])
                    on = not on
            if mask:
                hal.output(mask, False)
            await hal.sleep_ms(150)  # a gap so that patterns stay apart
