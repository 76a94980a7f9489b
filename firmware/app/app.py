"""The band's app: asyncio tasks around the detection core, on the seams of app.hal.

`App` is put together from one module per idea (docs/firmware.md has the picture):
  app.clock     the time base: ms since boot, the sample clock
  app.sampling  the IMU, the FIFO drained into the detector, the sampling task
  app.activity  the detector's events: sessions and records (app.session), cues, the
                event hook, live holds, idle end, app faults
  app.feedback  patterns on LED / buzzer / vibration (a task of its own)
  app.power     battery, light sleep on the IMU's wake-on-motion, power off
  app.radio     the GATT service of app.ble (boards with `bluetooth`:
                App(..., radio=bluetooth.BLE())) and the task that polls it
Here: the state, boot (app.startup), commands (the control point), config changes, the
buttons task and the supervisor (the main loop: feeds the watchdog while the sampling
task makes progress).
"""
from array import array

from repcore.compat import const
from repcore.detector import Detector
from repcore.store import SessionLog

from app import config as cfgmod
from app import unload
from app.activity import Activity
from app.clock import Clock
from app.feedback import Feedback
from app.power import Power
from app.radio import Radio
from app.sampling import Sampling
from app.session import Sessions

# repcore.records' values (folded here: tests/test_app_constants.py ties them).
_END_BUTTON = const(2)
_END_HOST = const(3)

# App states (App.state); the mixins inline the ones they set.
_ST_BOOT = const(0)
_ST_RUN = const(1)  # sampling, no session
_ST_SESSION = const(2)
_ST_SLEEP = const(3)
_ST_FAULT = const(4)  # sampling stopped: the IMU is failing, retries running
_ST_OFF = const(5)

_BUTTON_MS = const(30)
_LONG_PRESS_MS = const(1500)
_OFF_PRESS_MS = const(5000)
_DOUBLE_MS = const(400)  # the gap a second press must start within to make a double press
# The factory reset on the band: a double press whose second press is held _WIPE_MS (no
# single press, pocket or strap does that); "wipe_warning" plays at _WIPE_WARN_MS, when
# letting go still cancels it, "wiped" at _WIPE_MS, and the band restarts _WIPED_MS later.
_WIPE_WARN_MS = const(3000)
_WIPE_MS = const(10000)
_WIPED_MS = const(2500)

_WDT_MS = const(10000)
_HEALTHY_MS = const(60000)  # app.safeboot.HEALTHY_MS: then `on_healthy()` (main.py's)
_STALL_MS = const(5000)  # sampling silent this long: stop feeding the watchdog
_SUPERVISE_MS = const(1000)  # app.power's
_MAX_SAMPLES = const(32)  # app.sampling's
_RETRY_MIN_MS = const(1000)  # app.sampling's
_SAMPLE_WORDS = const(6)  # drivers'
_LOG_CAPACITY = const(262144)


class App(Clock, Sampling, Activity, Power, Radio):
    """The app on a HAL (app.hal). `ble` is a hook called with every event tuple
    (detector events, session records, app faults) after it was recorded.
    `radio`: a bluetooth.BLE object (boards with bluetooth) to run the GATT service
    (app.ble) on, `bt` the module its UUIDs come from (default: `bluetooth`).
    `detector` builds the detector (tests wrap it to see the samples), `store` the
    session log (repcore.store.SessionLog). `on_healthy()` is called once the app has
    run _HEALTHY_MS (main.py: the crash count of app.safeboot starts again)."""

    def __init__(self, hal, board, ble=None, detector=Detector, log_capacity=_LOG_CAPACITY,
                 radio=None, bt=None, store=SessionLog, on_healthy=None):
        self.hal = hal
        self.board = board
        self.ble = ble
        self.radio = radio
        self.bt = bt
        self.svc = None  # app.ble.BandService once started
        self._reset_at = -1  # uptime to restart at (after a factory reset), or -1
        self._make_detector = detector
        self._make_log = store
        self.log_capacity = log_capacity
        self.state = _ST_BOOT
        self.cfg = cfgmod.defaults()
        self.log = None
        self.sessions = Sessions(None)
        self.feedback = Feedback(hal, self.cfg)
        self.imu = None
        self.det = None
        self._pending = []  # events from the detector, handled after each drain
        self._buf = array("h", bytes(2 * _SAMPLE_WORDS * _MAX_SAMPLES))
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
        self._press_up = -1  # when the button press began (button_task)
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
        self._retry_ms = _RETRY_MIN_MS
        self._hold_seen = -1  # t0 of the live hold already signalled as started
        self._hold_done = -1  # ...as having reached the target
        self._user_cal = False
        self._calibrated = False
        self._full_signalled = False
        self._until = -1
        self.on_healthy = on_healthy

    def boot(self):
        """Everything before the tasks: power latch, config, session log, the GATT
        service, IMU (app.startup: run once, dropped from RAM after)."""
        from app import startup

        startup.boot(self)
        unload("app.startup")

    def command(self, name, value=None):
        """start | stop | toggle | calibrate | switch_leg | config (value: dict of
        changes). Returns a list of refused config keys for `config`, else None."""
        if name == "toggle":
            name = "stop" if self.sessions.active else "start"
        if name == "start":
            self._last_active = self.uptime()
            self._start_session(self._t if self._t > 0 else self._up)
        elif name == "stop":
            self.end_session(_END_BUTTON if value is None else value)
        elif name == "calibrate":
            if self.det is not None:
                self.det.calibrate()
                self._user_cal = True
            self.feedback.play("cal_armed")
        elif name == "switch_leg":
            # The band was moved to the other thigh: its sessions and sides are that
            # leg's from now on (the session so far ends; the mount is calibrated anew).
            leg = "left" if self.cfg["leg"] == "right" else "right"
            self.end_session(_END_BUTTON)
            self.command("config", {"leg": leg})
            self.feedback.play("leg_" + leg)
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

    def wipe(self, delay_ms):
        """The factory reset (app.wipe, not kept in RAM): the supervisor restarts the
        board `delay_ms` later."""
        from app.wipe import factory_reset

        factory_reset(self, delay_ms)
        unload("app.wipe")

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
            self.end_session(_END_HOST)
            self._new_detector(det)
        imu = self.imu
        if imu is not None and (imu.odr_hz != cfg["odr_hz"] or imu.gyro_on != bool(cfg["gyro"])):
            self._open_imu()

    # -- tasks -------------------------------------------------------------------

    async def button_task(self):
        """The buttons: asleep until a pin IRQ says one moved, then read every _BUTTON_MS
        until all are released (debounced: two equal reads). A short press starts or
        stops a session, a double press (two short presses within _DOUBLE_MS) switches
        the band to the other leg (the person moved it there: no computer needed), a long
        press asks the detector to calibrate at the next still stand, a very long press
        switches a board with a power latch off; a double press whose second press is
        held _WIPE_MS wipes the band (factory reset; warned of at _WIPE_WARN_MS, letting
        go before cancels; held, the second press does nothing else). Every press also opens the BLE pairing
        window (app.ble: a new host may pair for 2 minutes), signalled "pairable" when it
        was closed. A short press acts _DOUBLE_MS after it ended, once it is clear that no
        second one follows."""
        hal = self.hal
        nb = len(self.board.BUTTONS) if self.board is not None else 0
        self._press_up = -1  # when the press began, -1 when released (moved by _rebase)
        stable = False
        long_done = False
        tap = -1  # when a short press ended, while it may still become a double press
        second = 0  # the press held is a double press's second: 1, 2 warned, 3 wiped
        moved = hal.flag()
        if nb:
            hal.buttons_wake(moved)
        while self.running:
            pressed = False
            for k in range(nb):
                if hal.button(k):
                    pressed = True
            now = self.uptime()
            if pressed == stable:
                if pressed:
                    held = now - self._press_up
                    if second:
                        if held >= _LONG_PRESS_MS:
                            long_done = True  # let go now: no leg switch either
                        if second == 1 and held >= _WIPE_WARN_MS:
                            second = 2
                            self.feedback.play("wipe_warning")
                        elif second == 2 and held >= _WIPE_MS:
                            second = 3
                            self.wipe(_WIPED_MS)
                            self.feedback.play("wiped")
                    elif not long_done and held >= _LONG_PRESS_MS:
                        long_done = True
                        tap = -1
                        self.command("calibrate")
                    elif held >= _OFF_PRESS_MS and getattr(self.board, "POWER_HOLD_PIN", None) is not None:
                        self.power_off()
                elif tap >= 0 and (now - tap >= _DOUBLE_MS or now < tap):  # (or the base moved)
                    tap = -1
                    self.command("toggle")  # a single short press
            else:
                # Two equal reads in a row: a debounced change.
                stable = pressed
                if pressed:
                    self._press_up = now
                    long_done = False
                    second = 1 if tap >= 0 else 0
                    tap = -1
                    self._last_active = now
                    # The hand on the button is the owner's: a new host may pair now.
                    if self.svc is not None and self.svc.open_pairing():
                        self.feedback.play("pairable")
                else:
                    self._press_up = -1
                    if long_done:
                        pass
                    elif second:
                        self.command("switch_leg")  # the second short press of a double press
                    else:
                        tap = now
            if pressed or stable:
                await hal.sleep_ms(_BUTTON_MS)
            elif tap >= 0:
                await hal.wait_ms(moved, _DOUBLE_MS)  # a second press, or the single one acts
            else:
                await moved.wait()  # released and settled: nothing to time

    async def supervisor(self, until_ms=-1):
        """The main loop: the watchdog is fed only while sampling makes progress.
        Returns at `until_ms` ms since boot (`stop_at` moves it)."""
        hal = self.hal
        hal.wdt_start(_WDT_MS)
        if until_ms >= 0:
            self.stop_at(until_ms)
        beat = -1
        while self.running:
            up = self.uptime()
            if self._beat != beat:
                beat = self._beat
                self._beat_up = up
            if self._reset_at >= 0 and up - self._reset_at >= 0 and (self.svc is None or not self.svc.busy):
                hal.reset()  # after a factory reset (app.wipe)
            if up - self._beat_up < _STALL_MS:
                hal.wdt_feed()
                if self.on_healthy is not None and up >= _HEALTHY_MS:
                    self.on_healthy()  # no crash loop: the crash count starts again
                    self.on_healthy = None
            if self._until >= 0 and up >= self._until:
                break
            await hal.sleep_ms(_SUPERVISE_MS)

    async def main(self, until_ms=-1):
        """Boot, run every task; returns at `until_ms` ms since boot (virtual device)
        or never (the board)."""
        import asyncio

        if self.state == _ST_BOOT:
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

