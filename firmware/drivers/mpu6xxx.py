"""InvenSense/TDK MPU-6050 and MPU6886 accelerometer + gyroscope over I2C.

Both chips keep the MPU-6000 family map for what this driver needs (sample-rate
divider 0x19, CONFIG 0x1A, GYRO_CONFIG 0x1B, ACCEL_CONFIG 0x1C, FIFO_EN 0x23,
INT_ENABLE 0x38, INT_STATUS 0x3A, data from 0x3B big-endian, USER_CTRL 0x6A,
PWR_MGMT_1/2 0x6B/0x6C, FIFO_COUNT 0x72/0x73, FIFO_R_W 0x74, WHO_AM_I 0x75) and the
same full-scale codes and sensitivities. What differs is declared per chip below:
identity, how FIFO_EN selects data (per-axis bits on the 6050, one bit per sensor
and the temperature always included on the 6886), what a full FIFO does (the 6050
overwrites the oldest bytes, so packets lose alignment; the 6886 can be told to stop
writing, keeping whole packets), and the motion interrupt (MOT_THR on the 6050,
per-axis wake-on-motion thresholds on the 6886).

The output rate is 1 kHz / (1 + SMPLRT_DIV) with the DLPF on, so 104 Hz is not
reachable: the nearest, 100 Hz, is used and reported in `odr_hz`.
"""
from repcore.compat import const

from drivers import SAMPLE_WORDS, IMUError, RegisterDevice, remap_table, sleep_ms

_SMPLRT_DIV = const(0x19)
_CONFIG = const(0x1A)
_GYRO_CONFIG = const(0x1B)
_ACCEL_CONFIG = const(0x1C)
_ACCEL_CONFIG2 = const(0x1D)  # MPU6886 only: accelerometer DLPF and averaging
_MOT_THR = const(0x1F)  # MPU-6050 only
_MOT_DUR = const(0x20)  # MPU-6050 only
_ACCEL_WOM_X_THR = const(0x20)  # MPU6886 only: X, Y, Z thresholds at 0x20..0x22
_FIFO_EN = const(0x23)
_INT_PIN_CFG = const(0x37)
_INT_ENABLE = const(0x38)
_INT_STATUS = const(0x3A)
_ACCEL_INTEL_CTRL = const(0x69)  # MPU6886 only
_USER_CTRL = const(0x6A)
_PWR_MGMT_1 = const(0x6B)
_PWR_MGMT_2 = const(0x6C)
_FIFO_COUNTH = const(0x72)
_FIFO_R_W = const(0x74)
_WHO_AM_I = const(0x75)

_DEVICE_RESET = const(0x80)  # PWR_MGMT_1
_CYCLE = const(0x20)
_TEMP_DIS = const(0x08)
_CLK_PLL = const(0x01)  # CLKSEL 1: gyro PLL (6050) / best available (6886)
_STBY_GYRO = const(0x07)  # PWR_MGMT_2 STBY_XG | STBY_YG | STBY_ZG
_USER_FIFO_EN = const(0x40)  # USER_CTRL
_USER_FIFO_RESET = const(0x04)
_FIFO_OFLOW = const(0x10)  # INT_ENABLE / INT_STATUS bit 4
_LATCH_RD_CLEAR = const(0x30)  # INT_PIN_CFG LATCH_INT_EN | INT_RD_CLEAR
_DLPF_44HZ = const(3)  # DLPF_CFG 3: ~44 Hz bandwidth, 1 kHz internal rate

# Full scale -> (bits 4:3 of ACCEL_CONFIG / GYRO_CONFIG, LSB per unit as num/den).
_ACCEL_FS = {2: (0x00, 16384), 4: (0x08, 8192), 8: (0x10, 4096), 16: (0x18, 2048)}
# LSB per deg/s x10: 131, 65.5, 32.8, 16.4.
_GYRO_FS = {250: (0x00, 1310), 500: (0x08, 655), 1000: (0x10, 328), 2000: (0x18, 164)}


class _MPU(RegisterDevice):
    CHIP = ""
    WHO_AM_I = 0
    # Per-chip differences, filled in by the subclasses.
    FIFO_EN_ACCEL = 0
    FIFO_EN_GYRO = 0
    TEMP_IN_FIFO = False  # a 2-byte temperature word sits between accel and gyro
    FIFO_STOPS_WHEN_FULL = False  # CONFIG.FIFO_MODE = 1 available and used
    FIFO_BYTES = 1024
    MOTION_BITS = 0  # INT_STATUS bits that mean "motion"

    def __init__(self, i2c, address=0x68, remap=None, bus_reset=None, retries=2,
                 max_samples=64):
        super().__init__(i2c, address, retries, bus_reset)
        self.check_id(_WHO_AM_I, self.WHO_AM_I, self.CHIP)
        self.max_samples = max_samples
        self._remap = remap_table(remap)
        self._st = bytearray(2)
        self._buf = bytearray(max_samples * 14)
        self._mv = memoryview(self._buf)
        self.overflows = 0
        self.overflowed = False
        self.resyncs = 0  # FIFO byte count not a whole number of packets
        self._oflow_seen = False  # INT_STATUS clears on read: keep what we saw
        self.gyro_on = False
        self.odr_hz = 0
        self.odr_mhz = 0
        self.accel_g = 0
        self.gyro_dps = 0
        self.configure()

    def reset(self):
        self.write_u8(_PWR_MGMT_1, _DEVICE_RESET)
        for _ in range(100):
            sleep_ms(1)
            if not self.read_u8(_PWR_MGMT_1) & _DEVICE_RESET:
                return
        raise IMUError("%s did not leave reset" % self.CHIP)

    def configure(self, odr_hz=104, accel_g=4, gyro_dps=500, gyro=True):
        """Reset, set rate and ranges, stream accel (+ gyro) through the FIFO."""
        if accel_g not in _ACCEL_FS:
            raise IMUError("accel range %r g not in %r" % (accel_g, sorted(_ACCEL_FS)))
        if gyro_dps not in _GYRO_FS:
            raise IMUError("gyro range %r dps not in %r" % (gyro_dps, sorted(_GYRO_FS)))
        if not 4 <= odr_hz <= 1000:
            raise IMUError("ODR %r Hz outside 4..1000 Hz" % (odr_hz,))
        div = (2000 // odr_hz + 1) // 2 - 1  # round(1000 / odr) - 1
        self.reset()
        self.write_u8(_PWR_MGMT_1, _CLK_PLL)  # out of sleep
        self.write_u8(_CONFIG, self._config_value())
        self.write_u8(_SMPLRT_DIV, div)
        self.odr_mhz = 1000000 // (1 + div)
        self.odr_hz = (self.odr_mhz + 500) // 1000
        fs, lsb = _ACCEL_FS[accel_g]
        self.write_u8(_ACCEL_CONFIG, fs)
        self._a_lsb = lsb
        self.accel_g = accel_g
        fs, lsb = _GYRO_FS[gyro_dps]
        self.write_u8(_GYRO_CONFIG, fs)  # FCHOICE_B = 00 on the 6886: DLPF in use
        self._g_lsb = lsb
        self.gyro_dps = gyro_dps
        self._extra_config()
        self.write_u8(_INT_ENABLE, _FIFO_OFLOW)
        self.set_gyro(gyro)

    def _config_value(self):
        return _DLPF_44HZ

    def _extra_config(self):
        pass

    def set_gyro(self, on):
        """Gyroscope on, or in standby for accelerometer-only mode."""
        self.gyro_on = bool(on)
        self.write_u8(_PWR_MGMT_2, 0 if on else _STBY_GYRO)
        self._clock_for_gyro(on)
        self._pkt = 6 + (2 if self.TEMP_IN_FIFO else 0) + (6 if on else 0)
        self.write_u8(_FIFO_EN, self.FIFO_EN_ACCEL | (self.FIFO_EN_GYRO if on else 0))
        self._fifo_reset()

    def _clock_for_gyro(self, on):
        pass

    def _fifo_reset(self):
        self.write_u8(_USER_CTRL, _USER_FIFO_RESET)  # FIFO off and emptied
        self.write_u8(_USER_CTRL, _USER_FIFO_EN)

    def read_fifo(self, out):
        """Drain up to max_samples samples into `out` (array('h'), 6 per sample).

        Returns the number of samples written; gyro values are 0 in accel-only mode.
        After an overflow `overflowed` is set and `overflows` grows; whatever the
        chip kept in whole packets is returned, then the FIFO is reset.
        """
        st = self._st
        oflow = bool(self.read_u8(_INT_STATUS) & _FIFO_OFLOW) or self._oflow_seen
        self._oflow_seen = False
        self.overflowed = oflow
        self.read_into(_FIFO_COUNTH, st)
        count = (st[0] << 8) | st[1]
        pkt = self._pkt
        n = count // pkt
        if oflow and not self.FIFO_STOPS_WHEN_FULL:
            n = 0  # the oldest bytes were overwritten: packets no longer line up
        if n > self.max_samples:
            n = self.max_samples
        if n:
            self.read_into(_FIFO_R_W, self._mv[:n * pkt])
            self._decode(out, n)
        if oflow:
            self.overflows += 1
            self._fifo_reset()
        elif count % pkt:
            self.resyncs += 1
            self._fifo_reset()
        return n

    def _decode(self, out, n):
        b = self._buf
        r = self._remap
        o0, o1, o2 = 2 * r[0], 2 * r[2], 2 * r[4]
        # mg = raw * 1000 / lsb, 0.1 dps = raw * 100 / lsb10, both rounded.
        al = self._a_lsb
        a0, a1, a2 = 2000 * r[1], 2000 * r[3], 2000 * r[5]
        al2 = 2 * al
        gl = self._g_lsb
        g0, g1, g2 = 200 * r[1], 200 * r[3], 200 * r[5]
        gl2 = 2 * gl
        gyro = self.gyro_on
        goff = 8 if self.TEMP_IN_FIFO else 6
        pkt = self._pkt
        p = 0
        j = 0
        for _ in range(n):
            v = (b[p + o0] << 8) | b[p + o0 + 1]
            if v > 32767:
                v -= 65536
            out[j] = (v * a0 + al) // al2
            v = (b[p + o1] << 8) | b[p + o1 + 1]
            if v > 32767:
                v -= 65536
            out[j + 1] = (v * a1 + al) // al2
            v = (b[p + o2] << 8) | b[p + o2 + 1]
            if v > 32767:
                v -= 65536
            out[j + 2] = (v * a2 + al) // al2
            if gyro:
                q = p + goff
                v = (b[q + o0] << 8) | b[q + o0 + 1]
                if v > 32767:
                    v -= 65536
                out[j + 3] = (v * g0 + gl) // gl2
                v = (b[q + o1] << 8) | b[q + o1 + 1]
                if v > 32767:
                    v -= 65536
                out[j + 4] = (v * g1 + gl) // gl2
                v = (b[q + o2] << 8) | b[q + o2 + 1]
                if v > 32767:
                    v -= 65536
                out[j + 5] = (v * g2 + gl) // gl2
            else:
                out[j + 3] = 0
                out[j + 4] = 0
                out[j + 5] = 0
            p += pkt
            j += SAMPLE_WORDS

    def motion_detected(self):
        """True if the motion interrupt fired since the last check."""
        s = self.read_u8(_INT_STATUS)  # clears every flag in it
        if s & _FIFO_OFLOW:
            self._oflow_seen = True
        return bool(s & self.MOTION_BITS)


class MPU6050(_MPU):
    CHIP = "MPU-6050"
    WHO_AM_I = 0x68
    FIFO_EN_ACCEL = 0x08  # ACCEL_FIFO_EN
    FIFO_EN_GYRO = 0x70  # XG_FIFO_EN | YG_FIFO_EN | ZG_FIFO_EN
    TEMP_IN_FIFO = False  # TEMP_FIFO_EN (0x80) left off
    FIFO_STOPS_WHEN_FULL = False
    MOTION_BITS = 0x40  # INT_STATUS.MOT_INT

    def _clock_for_gyro(self, on):
        # The PLL runs off a gyro; with the gyros in standby use the 8 MHz oscillator.
        self.write_u8(_PWR_MGMT_1, _CLK_PLL if on else 0)

    def enable_wake_on_motion(self, threshold_mg=64, duration_ms=1, wake_hz=20):
        """Low-power accelerometer cycle mode with the motion interrupt (MOT_EN).

        MOT_THR counts 2 mg per LSB; MOT_DUR 1 ms per LSB; the accelerometer wakes at
        LP_WAKE_CTRL = 1.25 / 5 / 20 / 40 Hz. Returns the threshold set, in mg.
        """
        lp = {1: 0, 5: 1, 20: 2, 40: 3}.get(wake_hz)
        if lp is None:
            raise IMUError("wake rate %r Hz not in 1, 5, 20, 40" % (wake_hz,))
        ths = (threshold_mg + 1) // 2
        ths = 1 if ths < 1 else (255 if ths > 255 else ths)
        self.write_u8(_USER_CTRL, 0)  # FIFO off while asleep
        self.write_u8(_FIFO_EN, 0)
        self.gyro_on = False
        self.write_u8(_MOT_THR, ths)
        self.write_u8(_MOT_DUR, duration_ms & 0xFF)
        self.write_u8(_INT_PIN_CFG, _LATCH_RD_CLEAR)
        self.write_u8(_INT_ENABLE, self.MOTION_BITS)
        self.write_u8(_PWR_MGMT_2, (lp << 6) | _STBY_GYRO)
        self.write_u8(_PWR_MGMT_1, _CYCLE | _TEMP_DIS)
        return ths * 2


class MPU6886(_MPU):
    CHIP = "MPU6886"
    WHO_AM_I = 0x19
    FIFO_EN_ACCEL = 0x08  # ACCEL_FIFO_EN (temperature comes with it)
    FIFO_EN_GYRO = 0x10  # GYRO_FIFO_EN
    TEMP_IN_FIFO = True
    FIFO_STOPS_WHEN_FULL = True
    MOTION_BITS = 0xE0  # INT_STATUS.WOM_X_INT | WOM_Y_INT | WOM_Z_INT

    def _config_value(self):
        return 0x40 | _DLPF_44HZ  # FIFO_MODE = 1: a full FIFO keeps whole packets

    def _extra_config(self):
        self.write_u8(_ACCEL_CONFIG2, _DLPF_44HZ)  # A_DLPF_CFG 3, no extra averaging

    def enable_wake_on_motion(self, threshold_mg=64, wake_hz=50):
        """Accelerometer cycle mode with wake-on-motion on all three axes.

        ACCEL_WOM_*_THR count 4 mg per LSB; ACCEL_INTEL_CTRL enables the logic and
        compares each sample with the previous one. The wake rate is set through
        SMPLRT_DIV (1 kHz / (1 + div)). Returns the threshold set, in mg.
        """
        ths = (threshold_mg + 2) // 4
        ths = 1 if ths < 1 else (255 if ths > 255 else ths)
        div = 1000 // wake_hz - 1
        div = 0 if div < 0 else (255 if div > 255 else div)
        self.write_u8(_USER_CTRL, 0)
        self.write_u8(_FIFO_EN, 0)
        self.gyro_on = False
        self.write_u8(_PWR_MGMT_1, _CLK_PLL)
        self.write_u8(_PWR_MGMT_2, _STBY_GYRO)
        self.write_u8(_ACCEL_CONFIG2, 0x01)  # A_DLPF_CFG 1 (218 Hz) as the WoM recipe asks
        self.write_u8(_INT_PIN_CFG, _LATCH_RD_CLEAR)
        self.write_u8(_INT_ENABLE, self.MOTION_BITS)
        for k in range(3):
            self.write_u8(_ACCEL_WOM_X_THR + k, ths)
        self.write_u8(_ACCEL_INTEL_CTRL, 0xC0)  # ACCEL_INTEL_EN | ACCEL_INTEL_MODE
        self.write_u8(_SMPLRT_DIV, div)
        self.write_u8(_PWR_MGMT_1, _CLK_PLL | _CYCLE)
        return ths * 4
