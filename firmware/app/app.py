"""The band's app: asyncio tasks around the detection core, on the seams of app.hal.

`App` is put together from one module per idea (docs/firmware.md has the picture):
  app.clock     the time base: ms since boot, the sample clock
  app.sampling  the IMU, the FIFO drained into the detector, the sampling task
  app.activity  the detector's events: sessions and records (app.session), cues, the
                event hook, live holds, idle end, app faults
  app.buttons   the buttons task: start/stop, calibrate, power off, pairing window
  app.feedback  patterns on LED / buzzer / vibration (a task of its own)
  app.power     battery, light sleep on the IMU's wake-on-motion, power off
  app.radio     the GATT service of app.ble (boards with `bluetooth`:
                App(..., radio=bluetooth.BLE())) and the task that polls it
Here: the state, boot, commands (buttons, the control point), config changes, and the
supervisor (the main loop: feeds the watchdog while the sampling task makes progress).
"""
from array import array

from drivers import SAMPLE_WORDS
from repcore.compat import const
from repcore.detector import Detector
from repcore.events import (
    FAULT_CONFIG_CORRUPT,
    FAULT_CONFIG_VERSION,
    FAULT_CONFIG_VALUE,
    FAULT_STORAGE,
)
from repcore.records import END_BUTTON, END_HOST
from repcore.store import SessionLog, StoreError

from app import config as cfgmod
from app import unload
from app.activity import Activity
from app.buttons import Buttons
from app.clock import Clock
from app.feedback import Feedback
from app.power import SUPERVISE_MS, Power
from app.radio import Radio
from app.sampling import MAX_SAMPLES, RETRY_MIN_MS, Sampling
from app.session import Sessions

_CFG_FAULTS = (0, FAULT_CONFIG_CORRUPT, FAULT_CONFIG_VERSION, FAULT_CONFIG_VALUE)

# App states (App.state); the mixins inline the ones they set.
ST_BOOT = const(0)
ST_RUN = const(1)  # sampling, no session
ST_SESSION = const(2)
ST_SLEEP = const(3)
ST_FAULT = const(4)  # sampling stopped: the IMU is failing, retries running
ST_OFF = const(5)

WDT_MS = const(10000)
_HEALTHY_MS = const(60000)  # app.safeboot.HEALTHY_MS: then `on_healthy()` (main.py's)
STALL_MS = const(5000)  # sampling silent this long: stop feeding the watchdog
LOG_CAPACITY = 262144


class App(Clock, Sampling, Activity, Buttons, Power, Radio):
    """The app on a HAL (app.hal). `ble` is a hook called with every event tuple
    (detector events, session records, app faults) after it was recorded.
    `radio`: a bluetooth.BLE object (boards with bluetooth) to run the GATT service
    (app.ble) on, `bt` the module its UUIDs come from (default: `bluetooth`).
    `detector` builds the detector (tests wrap it to see the samples), `store` the
    session log (repcore.store.SessionLog). `on_healthy()` is called once the app has
    run _HEALTHY_MS (main.py: the crash count of app.safeboot starts again)."""

    def __init__(self, hal, board, ble=None, detector=Detector, log_capacity=LOG_CAPACITY,
                 radio=None, bt=None, store=SessionLog, on_healthy=None):
        self.hal = hal
        self.board = board
        self.ble = ble
        self.radio = radio
        self.bt = bt
        self.svc = None  # app.ble.BandService once started
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
        # clock (app.clock): times are ms since the time base, `_base_s` s after boot
        self._t0 = 0
        self._up = 0  # CPU clock, ms since the base (accumulated: ticks wrap)
        self._base_s = 0
        self._bat_due = 0  # when the battery is read next (app.power)
        self._press_up = -1  # when the button press began (app.buttons)
        # sample time
        self._t = 0  # time of the last sample pushed
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
        self.on_healthy = on_healthy

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
                from app.recovery import recover

                sid = recover(self.log)
                if sid:
                    hal.log("closed session %d cut short before this boot" % sid)
            except Exception as e:  # a damaged log must not stop the boot
                hal.log("session recovery failed: %r" % (e,))
            unload("app.recovery")  # once per boot: its code is not kept in RAM
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

    async def supervisor(self, until_ms=-1):
        """The main loop: the watchdog is fed only while sampling makes progress.
        Returns at `until_ms` ms since boot (`stop_at` moves it)."""
        hal = self.hal
        hal.wdt_start(self.wdt_ms)
        if until_ms >= 0:
            self.stop_at(until_ms)
        beat = -1
        while self.running:
            up = self.uptime()
            if self._beat != beat:
                beat = self._beat
                self._beat_up = up
            if up - self._beat_up < STALL_MS:
                hal.wdt_feed()
                if self.on_healthy is not None and up >= _HEALTHY_MS:
                    self.on_healthy()  # no crash loop: the crash count starts again
                    self.on_healthy = None
            if self._until >= 0 and up >= self._until:
                break
            await hal.sleep_ms(SUPERVISE_MS)

    async def main(self, until_ms=-1):
        """Boot, run every task; returns at `until_ms` ms since boot (virtual device)
        or never (the board)."""
        import asyncio

        if self.state == ST_BOOT:
            self.boot()
        self.stop_at(until_ms)
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
