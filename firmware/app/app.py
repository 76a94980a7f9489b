"""The band's app: asyncio tasks around the detection core, on the seams of app.hal.

Tasks (docs/firmware.md has the picture):
  sampling     every DRAIN_MS: drain the IMU FIFO (one burst read, decoded into a
               preallocated array) and push each sample into the detector; then handle
               the events it produced: sessions and records (app.session), feedback
               cues, the BLE hook. An I2C SensorFault logs a fault, signals it and
               retries with a backoff: the app never dies of the sensor.
  buttons      polled every BUTTON_MS, debounced: a short press starts or stops a
               session, a long press asks the detector to calibrate at the next still
               stand, a very long press switches a board with a power latch off. Every
               press also opens the BLE pairing window (app.ble: a new host may pair
               for 2 minutes), signalled "pairable" when it was closed.
  feedback     plays queued patterns on LED / buzzer / vibration: each rep, the set's
               target, hold target, calibration, low battery, sensor fault, storage full.
  power        battery percentage every minute (low-battery warning); after
               sleep_idle_s still without a session: the IMU's wake-on-motion, then light
               sleep until it fires (or power off on a latch board without an IMU pin).
  supervisor   the main loop: feeds the watchdog while the sampling task makes progress.
  ble          (boards with `bluetooth`: App(..., radio=bluetooth.BLE())) the GATT
               service of app.ble: polled every 10-200 ms (busy, connected, idle);
               the app's events become live counts, the control point calls
               App.command, the host's clock stamps new records, flags say storage
               full / sensor fault / hold, the battery % is published. While a central
               is connected the FIFO is drained every LIVE_DRAIN_MS (live latency) and
               the band does not sleep; asleep it does not advertise.

Sample time: the detector gets ms since boot counted from the sample rate (exact
spacing, no per-sample clock read), re-anchored to the CPU clock after a gap (FIFO
overflow, sensor fault, sleep) and corrected when the chip's rate drifts.
"""
from array import array

from drivers import SAMPLE_WORDS, IMUError, SensorFault, open_imu
from repcore.compat import const
from repcore.detector import Detector
from repcore.events import (
    CAL_USER,
    EV_FAULT,
    EV_HOLD,
    EV_REP,
    FAULT_CONFIG_CORRUPT,
    FAULT_CONFIG_VERSION,
    FAULT_CONFIG_VALUE,
    FAULT_SENSOR,
    FAULT_FIFO_OVERFLOW,
    FAULT_STORAGE_FULL,
    FAULT_LOW_BATTERY,
    FAULT_STORAGE,
    FAULT_SENSOR_OK,
)
from repcore.records import END_BUTTON, END_HOST, END_IDLE, END_LOW_BATTERY
from repcore.store import SessionLog, StoreError

from app import config as cfgmod
from app.hal import OUT_BUZZER, OUT_LED, OUT_VIBRATION
from app.session import CUE_CALIBRATED, Sessions, recover

_CFG_FAULTS = (0, FAULT_CONFIG_CORRUPT, FAULT_CONFIG_VERSION, FAULT_CONFIG_VALUE)

# App states (App.state).
ST_BOOT = const(0)
ST_RUN = const(1)  # sampling, no session
ST_SESSION = const(2)
ST_SLEEP = const(3)
ST_FAULT = const(4)  # sampling stopped: the IMU is failing, retries running
ST_OFF = const(5)

FIRMWARE = "1.0"  # Device Information firmware revision

MAX_SAMPLES = const(32)  # per FIFO burst read: a drain at 104 Hz is 26 (more: a 2nd read)
DRAIN_MS = const(250)  # 26 samples at 104 Hz; every FIFO holds > 0.7 s
LIVE_DRAIN_MS = const(50)  # while a central is connected: live counts within ~75 ms
BLE_BUSY_MS = const(10)  # BLE poll period while a report / indication is pending
BLE_CONN_MS = const(30)  # ...while connected and idle
BLE_IDLE_MS = const(200)  # ...while advertising (fast-to-slow switch only)
BUTTON_MS = const(30)
LONG_PRESS_MS = const(1500)
OFF_PRESS_MS = const(5000)
RETRY_MIN_MS = const(1000)
RETRY_MAX_MS = const(30000)
SUPERVISE_MS = const(1000)
WDT_MS = const(10000)
STALL_MS = const(5000)  # sampling silent this long: stop feeding the watchdog
BATTERY_MS = const(60000)
SLEEP_CHUNK_MS = const(4000)  # light sleep slices: the watchdog is fed between them
RESYNC_MS = const(1000)  # sample clock this far from the CPU clock: re-anchor
DRIFT_MS = const(150)  # ...this far: correct the sample rate estimate
LOG_CAPACITY = 262144

# repcore.protocol values, here so that a board without bluetooth never imports it.
_LIVE_STORAGE_FULL = const(0x08)
_LIVE_SENSOR_FAULT = const(0x40)
_CTRL_START = const(1)
_CTRL_STOP = const(2)
_CTRL_MODE = const(3)
_CTRL_LEG = const(4)
_CTRL_PLACEMENT = const(5)
_CTRL_TARGETS = const(6)
_CTRL_CALIBRATE = const(7)
_CTRL_RAW = const(8)
_CTRL_IDENTIFY = const(9)
_RESULT_NOT_SUPPORTED = const(2)
_RESULT_INVALID = const(3)

_ALL = const(7)  # OUT_LED | OUT_BUZZER | OUT_VIBRATION
# Feedback patterns: (outputs, (on, off, on, ... ms)). Distinct by rhythm, so they
# read the same on a vibration motor, a buzzer or an LED.
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

# 1-cell LiPo open-circuit curve, hardware/battery_curve.csv: (mV, %) high to low.
BATTERY_CURVE = ((4190, 100), (4050, 90), (3990, 80), (3890, 70), (3800, 60), (3720, 50),
                 (3630, 40), (3530, 30), (3420, 20), (3300, 10), (3100, 0))


def battery_pct(mv):
    """Percent from battery mV, linear between the curve's points; -1 without a reading."""
    if mv < 0:
        return -1
    c = BATTERY_CURVE
    if mv >= c[0][0]:
        return 100
    for i in range(1, len(c)):
        v1, p1 = c[i]
        if mv >= v1:
            v0, p0 = c[i - 1]
            return p1 + (mv - v1) * (p0 - p1) // (v0 - v1)
    return 0


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
        import asyncio

        self._wake = asyncio.Event()
        hal = self.hal
        while True:
            if not self.queue:
                self._wake.clear()
                await self._wake.wait()
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


class _Stamped:
    """The session log as app.session sees it: once the host set the clock, new
    records carry the wall clock at uptime 0 (`epoch_s`, FLAG_WALL)."""

    def __init__(self, log):
        self.log = log
        self.epoch_s = 0

    @property
    def next_seq(self):
        return self.log.next_seq

    def append_event(self, rec, session_id, epoch_s=0):
        return self.log.append_event(rec, session_id, self.epoch_s or epoch_s)


class App:
    """The app on a HAL (app.hal). `ble` is a hook called with every event tuple
    (detector events, session records, app faults) after it was recorded.
    `radio`: a bluetooth.BLE object (boards with bluetooth) to run the GATT service
    (app.ble) on, `bt` the module its UUIDs come from (default: `bluetooth`).
    `detector` builds the detector (tests wrap it to see the samples), `store` the
    session log (repcore.store.SessionLog)."""

    def __init__(self, hal, board, ble=None, detector=Detector, log_capacity=LOG_CAPACITY,
                 radio=None, bt=None, store=SessionLog):
        self.hal = hal
        self.board = board
        self.ble = ble
        self.radio = radio
        self.bt = bt
        self.svc = None  # app.ble.BandService once started
        self._stamp = None
        self._make_detector = detector
        self._make_log = store
        self.log_capacity = log_capacity
        self.state = ST_BOOT
        self.cfg = cfgmod.defaults()
        self.cfg_fault = 0
        self.log = None
        self.sessions = Sessions(None)
        self.feedback = Feedback(hal, self.cfg)
        self.imu = None
        self.det = None
        self._pending = []  # events from the detector, handled after each drain
        self._buf = array("h", bytes(2 * SAMPLE_WORDS * MAX_SAMPLES))
        self.samples = 0  # pushed since boot
        self.overflows = 0
        self.sensor_faults = 0
        self.battery = -1  # percent, -1 unknown
        self._low_warned = False
        self.running = False
        # clock
        self._t0 = 0
        self._up = 0  # ms since boot (accumulated: ticks wrap)
        # sample time
        self._t = 0  # time of the last sample pushed, ms since boot
        self._frac = 0  # sub-ms remainder, in 1/odr_mhz ms
        self._odr = 104000  # samples per 1000 s (mHz): the rate estimate
        self._anchor_up = 0
        self._anchor_n = 0
        self._beat = 0  # sampling task progress, for the watchdog
        self._beat_up = 0
        self._last_active = 0  # uptime of the last motion, rep, hold or button
        self._retry_up = 0
        self._retry_ms = RETRY_MIN_MS
        self._hold_seen = -1  # t0 of the live hold already signalled as started
        self._hold_done = -1  # ...as having reached the target
        self._user_cal = False
        self._calibrated = False
        self._full_signalled = False
        self._until = -1
        self.wdt_ms = WDT_MS

    # -- time ------------------------------------------------------------------

    def uptime(self):
        """ms since boot, from the CPU clock."""
        now = self.hal.ticks_ms()
        self._up += self.hal.ticks_diff(now, self._t0)
        self._t0 = now
        return self._up

    # -- boot ------------------------------------------------------------------

    def boot(self):
        """Everything before the tasks: power latch, config, session log, IMU."""
        hal = self.hal
        hal.power_hold(True)  # first: a latch board switches off when the button is let go
        self._t0 = hal.ticks_ms()
        self._up = 0
        path = hal.root + "/config.json"
        _mkdir(hal.root)
        cfg, fault = cfgmod.load(path)
        self.cfg = cfg
        self.cfg_fault = fault
        if fault:
            cfgmod.set_file_aside(path)
        if fault or not _exists(path):
            try:
                cfgmod.save(path, cfg)
            except OSError as e:
                hal.log("config: cannot save: %r" % (e,))
        try:
            self.log = self._make_log(hal.root + "/log", self.log_capacity)
        except (StoreError, OSError, ValueError) as e:
            hal.log("session log unusable: %r" % (e,))
            self.log = None
        self.sessions = Sessions(self.log, cfg["session_idle_s"] * 1000, cfg["target_reps"])
        if self.log is not None:
            try:
                sid = recover(self.log)
                if sid:
                    hal.log("closed session %d cut short before this boot" % sid)
            except Exception as e:  # a damaged log must not stop the boot
                hal.log("session recovery failed: %r" % (e,))
        else:
            self._app_fault(FAULT_STORAGE)
        self.feedback.configure(cfg)
        if fault:
            hal.log("config: fault %d, using defaults" % fault)
            self._app_fault(_CFG_FAULTS[fault])
            self.feedback.play("config_fault")
        if self.radio is not None:
            self._start_ble()
        self._new_detector(None)
        self._open_imu()
        self.state = ST_RUN if self.imu is not None else ST_FAULT
        self._last_active = self.uptime()

    # -- BLE -----------------------------------------------------------------------

    def _start_ble(self):
        """The GATT service on `radio`; the app runs without it if the radio fails."""
        from app.ble import BandService, Secrets

        hal = self.hal
        svc = BandService(self.radio, self.log, bt=self.bt, on_control=self._on_control,
                          on_time=self._on_time, uptime_ms=self.uptime,
                          model=getattr(self.board, "NAME", "repband"), firmware=FIRMWARE,
                          secrets=Secrets(hal.root + "/bonds.json"))
        try:
            svc.start()
        except (OSError, ValueError) as e:
            hal.log("ble: cannot start: %r" % (e,))
            return
        self.svc = svc
        self._publish_settings()
        if self.log is not None:
            self._stamp = _Stamped(self.log)
            self.sessions.log = self._stamp
        hook = self.ble
        on = svc.on_event
        if hook is None:
            self.ble = on
        else:
            def both(ev):
                on(ev)
                hook(ev)
            self.ble = both

    def _on_time(self, epoch_s):
        if self._stamp is not None:
            self._stamp.epoch_s = epoch_s

    def _on_control(self, op, params):
        """The control point (app.ble): a protocol RESULT_* code, None for success."""
        if op == _CTRL_START:
            self.command("start")
        elif op == _CTRL_STOP:
            self.command("stop", END_HOST)
        elif op == _CTRL_CALIBRATE:
            self.command("calibrate")
        elif op == _CTRL_RAW:
            svc = self.svc
            if svc is not None and self._odr > 0:
                svc.raw_period_10us = 100000000 // self._odr
        elif op == _CTRL_IDENTIFY:
            self.feedback.identify_s = params[0]
            self.feedback.play("identify")
        elif _CTRL_MODE <= op <= _CTRL_TARGETS:
            v = params[0]
            if op == _CTRL_MODE:
                ch = {"mode": ("auto", "bridge", "clam", "stretch")[v]}
            elif op == _CTRL_LEG:
                ch = {"leg": "left" if v == 1 else "right"}
            elif op == _CTRL_PLACEMENT:
                ch = {"placement": "hip" if v == 1 else "thigh"}
            else:
                ch = {"target_reps": v, "target_hold_s": params[1]}
            if self.command("config", ch):
                return _RESULT_INVALID
        else:
            return _RESULT_NOT_SUPPORTED
        return None

    def _flag(self, bit, on):
        svc = self.svc
        if svc is not None:
            svc.set_flag(bit, on)

    def _new_detector(self, old):
        leg, placement, mode = cfgmod.codes(self.cfg)
        det = self._make_detector(self._pending.append, leg, placement, mode, bool(self.cfg["gyro"]))
        if old is not None:
            det.frame = old.frame  # calibration survives a restart of the stream
        self.det = det

    def _open_imu(self):
        """Open and start the IMU; on failure log it and schedule a retry."""
        up = self.uptime()
        try:
            if self.imu is None:
                self.imu = open_imu(self.hal.i2c(), self.board, bus_reset=self.hal.bus_reset,
                                    max_samples=MAX_SAMPLES)
            self.imu.configure(odr_hz=self.cfg["odr_hz"], gyro=bool(self.cfg["gyro"]))
        except (SensorFault, IMUError, OSError) as e:
            self.imu = None
            self._sensor_failed(e, up)
            return False
        self._anchor(up)
        self._odr = self.imu.odr_mhz
        if self.sensor_faults and self.state == ST_FAULT:
            self._app_fault(FAULT_SENSOR_OK)
        self._flag(_LIVE_SENSOR_FAULT, False)
        self._retry_ms = RETRY_MIN_MS
        return True

    def _sensor_failed(self, err, up):
        self.sensor_faults += 1
        self.hal.log("sensor fault: %s" % (err,))
        self.state = ST_FAULT
        self._flag(_LIVE_SENSOR_FAULT, True)
        self._app_fault(FAULT_SENSOR)
        self.feedback.play("sensor_fault")
        self._retry_up = up + self._retry_ms
        self._retry_ms = min(self._retry_ms * 2, RETRY_MAX_MS)

    def _app_fault(self, code):
        t = self._up
        ev = (EV_FAULT, t, code)
        if code != FAULT_SENSOR_OK:
            self.sessions.fault(t, code)
        else:
            self.sessions.record(ev)
        if self.ble is not None:
            self.ble(ev)

    # -- sampling ----------------------------------------------------------------

    def _anchor(self, up):
        """Restart the sample clock at the CPU clock (after a gap)."""
        if up <= self._t:
            up = self._t + 1
        self._t = up
        self._frac = 0
        self._anchor_up = up
        self._anchor_n = 0

    def drain(self):
        """Read the FIFO until it is empty and push every sample; returns the count.
        Raises SensorFault from the driver."""
        imu = self.imu
        if imu is None:
            return 0
        buf = self._buf
        total = 0
        while True:
            n = imu.read_fifo(buf)
            if imu.overflowed:
                self.overflows += 1
                self._anchor(self.uptime())
                self.sessions.fault(self._up, FAULT_FIFO_OVERFLOW)
            if n:
                svc = self.svc
                if svc is not None and svc.raw_on:
                    svc.push_raw(self._t + (self._frac + 1000000) // self._odr, buf, n)
                self._push(buf, n)
                total += n
            if n < imu.max_samples:
                return total

    def _push(self, b, n):
        """The per-sample path: n decoded samples into the detector, times from the
        sample count (integer only: nothing allocated per sample)."""
        det = self.det
        if det is None:
            return
        odr = self._odr
        t = self._t
        q = self._frac
        j = 0
        end = n * SAMPLE_WORDS
        while j < end:
            q += 1000000
            det.push(t + q // odr, b[j], b[j + 1], b[j + 2], b[j + 3], b[j + 4], b[j + 5])
            j += SAMPLE_WORDS
        self._t = t + q // odr
        self._frac = q % odr
        self.samples += n
        self._anchor_n += n

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
            self.end_session(END_IDLE)
        if s.full and not self._full_signalled:
            self._full_signalled = True
            self.feedback.play("storage_full")
            self._flag(_LIVE_STORAGE_FULL, True)
            self._app_fault(FAULT_STORAGE_FULL)
        elif not s.full and self._full_signalled:
            self._full_signalled = False
            self._flag(_LIVE_STORAGE_FULL, False)

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
                self.state = ST_SESSION
                self.feedback.play("session_start")
                self._emit_session_start()
            if cue is not None:
                if cue == CUE_CALIBRATED:
                    if ev[2] != CAL_USER and self._calibrated:
                        cue = None  # automatic re-calibrations are silent
                    self._calibrated = True
                if cue is not None:
                    self.feedback.play(cue)
            if ev[0] == EV_REP or ev[0] == EV_HOLD:
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
        self.state = ST_SESSION
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
        self.state = ST_RUN if self.imu is not None else ST_FAULT
        self.feedback.play("session_end")
        if self.ble is not None:
            self.ble(("session_end", sid, t, reason))

    # -- commands (buttons now, the BLE control point later) ----------------------

    def command(self, name, value=None):
        """start | stop | toggle | calibrate | config (value: dict of changes).
        Returns a list of refused config keys for `config`, else None."""
        if name == "toggle":
            name = "stop" if self.sessions.active else "start"
        if name == "start":
            self._last_active = self.uptime()
            self._start_session(self._t if self._t > 0 else self._up)
        elif name == "stop":
            self.end_session(END_BUTTON if value is None else value)
        elif name == "calibrate":
            if self.det is not None:
                self.det.calibrate()
                self._user_cal = True
            self.feedback.play("cal_armed")
        elif name == "config":
            changes = value if isinstance(value, dict) else {}
            bad = cfgmod.update(self.cfg, changes)
            try:
                cfgmod.save(self.hal.root + "/config.json", self.cfg)
            except OSError as e:
                self.hal.log("config: cannot save: %r" % (e,))
            self.apply_config()
            return bad
        return None

    def _publish_settings(self):
        svc = self.svc
        if svc is None:
            return
        cfg = self.cfg
        leg, placement, mode = cfgmod.codes(cfg)
        svc.set_settings(cfgmod.SCHEMA, mode, leg, placement, cfg["target_reps"],
                         cfg["target_hold_s"], cfg["session_idle_s"], cfg["sleep_idle_s"],
                         cfg["odr_hz"], cfg["gyro"], cfg["vibration"], cfg["buzzer"], cfg["led"],
                         cfg["low_battery_pct"])

    def apply_config(self):
        cfg = self.cfg
        self._publish_settings()
        s = self.sessions
        s.idle_ms = cfg["session_idle_s"] * 1000
        s.target_reps = cfg["target_reps"]
        self.feedback.configure(cfg)
        det = self.det
        leg, placement, mode = cfgmod.codes(cfg)
        if det is None or det.leg != leg or det.placement != placement or det.mode != mode \
                or det.gyro != bool(cfg["gyro"]):
            self.end_session(END_HOST)
            self._new_detector(det)
        imu = self.imu
        if imu is not None and (imu.odr_hz != cfg["odr_hz"] or imu.gyro_on != bool(cfg["gyro"])):
            self._open_imu()

    # -- tasks -------------------------------------------------------------------

    async def sampling_task(self):
        hal = self.hal
        while self.running:
            if self.imu is None:
                if self.state != ST_SLEEP and self.uptime() - self._retry_up >= 0:
                    if self._open_imu():
                        self.state = ST_SESSION if self.sessions.active else ST_RUN
            else:
                try:
                    self.drain()
                except SensorFault as e:
                    self.imu = None
                    self._sensor_failed(e, self.uptime())
                else:
                    self._check_clock()
                    self.after_drain()
            if self.imu is None and self.sessions.idle(self._up):
                self.end_session(END_IDLE)
            self._beat += 1
            svc = self.svc
            if svc is not None and svc.connected:
                svc.poll()  # live counts out now, not at the next BLE poll
                await hal.sleep_ms(LIVE_DRAIN_MS)
            else:
                await hal.sleep_ms(DRAIN_MS)

    async def button_task(self):
        hal = self.hal
        nb = len(self.board.BUTTONS) if self.board is not None else 0
        down = -1  # uptime the press began, -1 when released
        stable = False
        long_done = False
        while self.running:
            pressed = False
            for k in range(nb):
                if hal.button(k):
                    pressed = True
            if pressed == stable:
                if pressed:
                    held = self.uptime() - down
                    if not long_done and held >= LONG_PRESS_MS:
                        long_done = True
                        self.command("calibrate")
                    if held >= OFF_PRESS_MS and getattr(self.board, "POWER_HOLD_PIN", None) is not None:
                        self.power_off()
            else:
                # Two equal reads in a row: a debounced change.
                stable = pressed
                now = self.uptime()
                if pressed:
                    down = now
                    long_done = False
                    self._last_active = now
                    # The hand on the button is the owner's: a new host may pair now.
                    if self.svc is not None and self.svc.open_pairing():
                        self.feedback.play("pairable")
                elif not long_done:
                    self.command("toggle")
            await hal.sleep_ms(BUTTON_MS)

    def read_battery(self):
        mv = self.hal.battery_mv()
        self.battery = battery_pct(mv)
        pct = self.battery
        if self.svc is not None:
            self.svc.set_battery(pct)
        low = self.cfg["low_battery_pct"]
        if pct < 0:
            return pct
        if pct <= low and not self._low_warned:
            self._low_warned = True
            self.feedback.play("low_battery")
            self._app_fault(FAULT_LOW_BATTERY)
            if pct == 0:
                self.end_session(END_LOW_BATTERY)
        elif pct > low + 5:
            self._low_warned = False
        return pct

    async def power_task(self):
        hal = self.hal
        next_bat = 0
        while self.running:
            up = self.uptime()
            if up >= next_bat:
                next_bat = up + BATTERY_MS
                self.read_battery()
            idle_ms = self.cfg["sleep_idle_s"] * 1000
            svc = self.svc
            if svc is not None and (svc.connected or svc.busy):
                self._last_active = up  # a host is talking to the band: stay awake
            if not self.sessions.active and self.imu is not None and up - self._last_active >= idle_ms:
                self.sleep()
            await hal.sleep_ms(SUPERVISE_MS)

    def sleep(self):
        """Idle: the IMU watches for motion, the CPU sleeps (blocking: everything stops)."""
        hal = self.hal
        imu = self.imu
        if imu is None:
            return
        self.feedback.off()
        board = self.board
        pin = getattr(board, "IMU_INT_PIN", None)
        if pin is None and getattr(board, "POWER_HOLD_PIN", None) is not None:
            self.power_off()  # no wake pin, but a latch: off costs nothing, the button wakes
            return
        try:
            imu.enable_wake_on_motion()
        except SensorFault as e:
            self.imu = None
            self._sensor_failed(e, self.uptime())
            return
        self.state = ST_SLEEP
        svc = self.svc
        if svc is not None:
            svc.stop_advertising()  # light sleep stops the radio: not connectable
        if self.ble is not None:
            self.ble(("sleep", self._up))
        hal.log("sleep: wake on motion")
        while self.running:
            hal.wdt_feed()
            if self._until >= 0 and self.uptime() >= self._until:
                return  # the virtual device's run ends here, still asleep
            woke = hal.light_sleep(SLEEP_CHUNK_MS, pin is not None)
            try:
                if woke or imu.motion_detected():
                    break
            except SensorFault as e:
                self.imu = None
                self._sensor_failed(e, self.uptime())
                return
        hal.wdt_feed()
        up = self.uptime()
        self._last_active = up
        self._beat_up = up
        self.state = ST_RUN
        if self._open_imu():
            self._new_detector(self.det)  # a fresh stream; the calibration is kept
        if svc is not None:
            svc.advertise(False)
        if self.ble is not None:
            self.ble(("wake", self._up))

    def power_off(self):
        self.end_session(END_BUTTON)
        self.feedback.off()
        self.state = ST_OFF
        if self.ble is not None:
            self.ble(("off", self._up))
        if self.svc is not None:
            self.svc.stop()
        self.hal.power_hold(False)
        self.running = False

    async def ble_task(self):
        """Poll the GATT service: often while it has work, rarely while nobody listens."""
        hal = self.hal
        svc = self.svc
        while self.running and svc is not None:
            ms = BLE_IDLE_MS
            try:
                if svc.poll():
                    ms = BLE_BUSY_MS
                elif svc.connected:
                    ms = BLE_CONN_MS
            except Exception as e:  # the radio must never stop the app
                hal.log("ble: %r" % (e,))
            await hal.sleep_ms(ms)

    async def supervisor(self, until_ms=-1):
        """The main loop: the watchdog is fed only while sampling makes progress.
        Returns at `until_ms` of uptime (read from `_until`, so it can be moved)."""
        hal = self.hal
        hal.wdt_start(self.wdt_ms)
        if until_ms >= 0:
            self._until = until_ms
        beat = -1
        while self.running:
            up = self.uptime()
            if self._beat != beat:
                beat = self._beat
                self._beat_up = up
            if up - self._beat_up < STALL_MS:
                hal.wdt_feed()
            if self._until >= 0 and up >= self._until:
                break
            await hal.sleep_ms(SUPERVISE_MS)

    async def main(self, until_ms=-1):
        """Boot, run every task; returns at `until_ms` of uptime (virtual device) or
        never (the board)."""
        import asyncio

        if self.state == ST_BOOT:
            self.boot()
        self._until = until_ms
        self.running = True
        tasks = [
            asyncio.create_task(self.sampling_task()),
            asyncio.create_task(self.button_task()),
            asyncio.create_task(self.feedback.run()),
            asyncio.create_task(self.power_task()),
        ]
        if self.svc is not None:
            tasks.append(asyncio.create_task(self.ble_task()))
        try:
            await self.supervisor(until_ms)
        finally:
            self.running = False
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.feedback.off()
            if self.log is not None:
                self.log.close()

    def run(self):
        import asyncio

        asyncio.run(self.main())


def _exists(path):
    import os

    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _mkdir(path):
    import os

    try:
        os.mkdir(path)
    except OSError:
        pass
