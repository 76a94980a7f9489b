"""Feedback: patterns played one at a time on LED / buzzer / vibration (a task).

Patterns differ by rhythm, so they read the same on a vibration motor, a buzzer or
an LED: each rep, the set's target, hold start and target, calibration, session start
and end, low battery, sensor fault, storage full, config fault, identify, pairable.
"""
from repcore.compat import const

from app.hal import OUT_BUZZER, OUT_LED, OUT_VIBRATION

_ALL = const(7)  # OUT_LED | OUT_BUZZER | OUT_VIBRATION
# (outputs, (on, off, on, ... ms)) per pattern.
PATTERNS = {
    "rep": (_ALL, (80,)),
    "partial": (OUT_LED, (40,)),
    "target": (_ALL, (250, 120, 250, 120, 600)),
    "hold_start": (OUT_LED | OUT_VIBRATION, (40, 100, 40)),
    "hold_target": (_ALL, (250, 120, 250, 120, 600)),
    "calibrated": (_ALL, (60, 80, 60, 80, 300)),
    "cal_armed": (OUT_LED | OUT_VIBRATION, (400,)),
    "session_start": (OUT_LED, (150, 100, 150)),
    "session_end": (OUT_LED, (600,)),
    "low_battery": (OUT_LED | OUT_BUZZER, (30, 200, 30, 200, 30, 200, 30)),
    "sensor_fault": (_ALL, (700, 300, 700)),
    "storage_full": (OUT_LED, (100, 100, 100, 100, 100, 100, 100)),
    "config_fault": (OUT_LED, (300, 300, 300)),
    "identify": (_ALL, (250, 250)),  # repeated for the seconds the host asked for
    "pairable": (OUT_LED | OUT_VIBRATION, (30, 70, 30, 70, 30, 70, 500)),  # a new host may pair
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
            mask, steps = PATTERNS[name]
            mask &= self.mask
            hal.signal(name)
            self.played += 1
            on = True
            for _ in range(2 * self.identify_s if name == "identify" else 1):
                for ms in steps:
                    if mask:
                        hal.output(mask, on)
                    await hal.sleep_ms(ms)
                    on = not on
            if mask:
                hal.output(mask, False)
            await hal.sleep_ms(150)  # a gap so that patterns stay apart
