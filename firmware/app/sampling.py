"""Sampling: the IMU, its FIFO drained into the detector, and the sampling task.

Every _DRAIN_MS (_LIVE_DRAIN_MS while a central is connected) the task drains the IMU
FIFO (one burst read, decoded into a preallocated array) and pushes each sample into
the detector with its time from the sample clock (app.clock); then the events it
produced are handled (app.activity). An I2C SensorFault logs a fault, signals it and
retries with a backoff: the app never dies of the sensor.

A mixin of app.app.App (its state is set in App.__init__).
"""
# pyright: reportAttributeAccessIssue=false
# (a mixin: the attributes are App's, set in App.__init__ and the other mixins)
from drivers import IMUError, SensorFault, open_imu
from repcore.compat import const

from app import config as cfgmod

# repcore.events' values (folded here: tests/test_app_constants.py ties them).
_FAULT_FIFO_OVERFLOW = const(20)
_FAULT_SENSOR = const(19)
_FAULT_SENSOR_OK = const(24)
# repcore.records' values (folded here: tests/test_app_constants.py ties them).
_END_IDLE = const(1)

_MAX_SAMPLES = const(32)  # per FIFO burst read: a drain at 104 Hz is 26 (more: a 2nd read)
_DRAIN_MS = const(250)  # 26 samples at 104 Hz; every FIFO holds > 0.7 s
_LIVE_DRAIN_MS = const(50)  # while a central is connected: live counts within ~75 ms
_RETRY_MIN_MS = const(1000)
_RETRY_MAX_MS = const(30000)
_SAMPLE_WORDS = const(6)  # drivers'

# App.state values (app.app).
_ST_RUN = const(1)
_ST_SESSION = const(2)
_ST_SLEEP = const(3)
_ST_FAULT = const(4)

_LIVE_SENSOR_FAULT = const(0x40)  # repcore.protocol's


class Sampling:
    def _new_detector(self, old):
        leg, placement, mode = cfgmod.codes(self.cfg)
        frame = None
        if old is not None and old.leg == leg and old.placement == placement:
            # The calibration survives a restart of the stream or another mode; not a
            # move to the other leg or the hip: that is another mount.
            frame = old.frame
        self.det = self._make_detector(self._pending.append, leg, placement, mode, bool(self.cfg["gyro"]), frame)

    def _open_imu(self):
        """Open and start the IMU; on failure log it and schedule a retry."""
        up = self.uptime()
        try:
            if self.imu is None:
                self.imu = open_imu(self.hal.i2c(), self.board, bus_reset=self.hal.bus_reset,
                                    max_samples=_MAX_SAMPLES)
            self.imu.configure(odr_hz=self.cfg["odr_hz"], gyro=bool(self.cfg["gyro"]))
        except (SensorFault, IMUError, OSError) as e:
            self.imu = None
            self._sensor_failed(e, up)
            return False
        self._anchor(up)
        self._odr = self.imu.odr_mhz
        if self.sensor_faults and self.state == _ST_FAULT:
            self._app_fault(_FAULT_SENSOR_OK)
        self._flag(_LIVE_SENSOR_FAULT, False)
        self._retry_ms = _RETRY_MIN_MS
        return True

    def _sensor_failed(self, err, up):
        self.sensor_faults += 1
        self.hal.log("sensor fault: %s" % (err,))
        self.state = _ST_FAULT
        self._flag(_LIVE_SENSOR_FAULT, True)
        self._app_fault(_FAULT_SENSOR)
        self.feedback.play("sensor_fault")
        self._retry_up = up + self._retry_ms
        self._retry_ms = min(self._retry_ms * 2, _RETRY_MAX_MS)

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
                self.sessions.fault(self._up, _FAULT_FIFO_OVERFLOW)
            if n:
                svc = self.svc
                if svc is not None and svc.raw_on:
                    svc.push_raw(self.log_ms(self._t + (self._frac + 1000000) // self._odr), buf, n)
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
        end = n * _SAMPLE_WORDS
        while j < end:
            q += 1000000
            det.push(t + q // odr, b[j], b[j + 1], b[j + 2], b[j + 3], b[j + 4], b[j + 5])
            j += _SAMPLE_WORDS
        self._t = t + q // odr
        self._frac = q % odr
        self.samples += n
        self._anchor_n += n

    async def sampling_task(self):
        hal = self.hal
        while self.running:
            if self.imu is None:
                if self.state != _ST_SLEEP and self.uptime() - self._retry_up >= 0:
                    if self._open_imu():
                        self.state = _ST_SESSION if self.sessions.active else _ST_RUN
            else:
                try:
                    self.drain()
                except SensorFault as e:
                    self.imu = None
                    self._sensor_failed(e, self.uptime())
                else:
                    self._check_clock()
                    self.after_drain()
            if self.imu is None:
                if self.sessions.idle(self._up):
                    self.end_session(_END_IDLE)
                self._keep_small(self._up)
            self._beat += 1
            svc = self.svc
            if svc is not None and svc.connected:
                # Live counts out within ~75 ms: the events of a drain wake the GATT
                # service's task (app.radio), which sends them as this task yields.
                await hal.sleep_ms(_LIVE_DRAIN_MS)
            else:
                await hal.sleep_ms(_DRAIN_MS)
