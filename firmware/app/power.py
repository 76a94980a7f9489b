"""Power: the battery percentage every minute (low-battery warning); after
sleep_idle_s still without a session, the IMU's wake-on-motion and light sleep until
it fires (or power off on a latch board without an IMU pin); power off.

`Power` is a mixin of app.app.App (its state is set in App.__init__).
"""
# pyright: reportAttributeAccessIssue=false
# (a mixin: the attributes are App's, set in App.__init__ and the other mixins)
from drivers import SensorFault
from repcore.compat import const

# repcore.events' values (folded here: tests/test_app_constants.py ties them).
_FAULT_LOW_BATTERY = const(22)
# repcore.records' values (folded here: tests/test_app_constants.py ties them).
_END_BUTTON = const(2)
_END_LOW_BATTERY = const(4)


_BATTERY_MS = const(60000)
_SUPERVISE_MS = const(1000)  # the power task's period (and the supervisor's, app.app)
_SLEEP_CHUNK_MS = const(4000)  # light sleep slices: the watchdog is fed between them
_REBASE_MS = const(0x10000000)  # app.clock's

# App.state values (app.app).
_ST_RUN = const(1)
_ST_SLEEP = const(3)
_ST_OFF = const(5)

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


class Power:
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
            self._app_fault(_FAULT_LOW_BATTERY)
            if pct == 0:
                self.end_session(_END_LOW_BATTERY)
        elif pct > low + 5:
            self._low_warned = False
        return pct

    async def power_task(self):
        hal = self.hal
        self._bat_due = self.uptime()
        while self.running:
            up = self.uptime()
            if up >= self._bat_due:
                self._bat_due = up + _BATTERY_MS
                self.read_battery()
            idle_ms = self.cfg["sleep_idle_s"] * 1000
            svc = self.svc
            if svc is not None and (svc.connected or svc.busy):
                self._last_active = up  # a host is talking to the band: stay awake
            if not self.sessions.active and self.imu is not None and up - self._last_active >= idle_ms:
                self.sleep()
            await hal.sleep_ms(_SUPERVISE_MS)

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
        self.state = _ST_SLEEP
        svc = self.svc
        if svc is not None:
            svc.stop_advertising()  # light sleep stops the radio: not connectable
        if self.ble is not None:
            self.ble(("sleep", self._up))
        hal.log("sleep: wake on motion")
        while self.running:
            hal.wdt_feed()
            up = self.uptime()  # every chunk: the CPU clock's gaps stay short
            if self._until >= 0 and up >= self._until:
                return  # the virtual device's run ends here, still asleep
            self._keep_small(up)
            woke = hal.light_sleep(_SLEEP_CHUNK_MS, pin is not None)
            try:
                if woke or imu.motion_detected():
                    break
            except SensorFault as e:
                self.imu = None
                self._sensor_failed(e, self.uptime())
                return
        hal.wdt_feed()
        up = self.uptime()
        if up >= _REBASE_MS:
            self._rebase(up)  # a fresh detector on a fresh base: nothing runs yet
            up = self._up
        self._last_active = up
        self._beat_up = up
        self.state = _ST_RUN
        if self._open_imu():
            self._new_detector(self.det)  # a fresh stream; the calibration is kept
        if svc is not None:
            svc.advertise(False)
        if self.ble is not None:
            self.ble(("wake", self._up))

    def power_off(self):
        self.end_session(_END_BUTTON)
        self.feedback.off()
        self.state = _ST_OFF
        if self.ble is not None:
            self.ble(("off", self._up))
        if self.svc is not None:
            self.svc.stop()
        self.hal.power_hold(False)
        self.running = False
