"""ST LSM6DS3TR-C and LSM6DSOX accelerometer + gyroscope over I2C.

The two chips share identity, control and output registers (WHO_AM_I 0x0F, CTRL1_XL
0x10, CTRL2_G 0x11, CTRL3_C 0x12, same ODR and full-scale codes, same sensitivities)
but their FIFOs differ completely:

  LSM6DS3TR-C: 16-bit words read from FIFO_DATA_OUT_L/H (0x3E/0x3F); a pattern of
    gyro x,y,z then accel x,y,z (datasets 1 and 2); FIFO_STATUS1..4 give the unread
    word count (DIFF_FIFO[10:0]), OVER_RUN and the pattern position of the next word.
  LSM6DSOX: 7-byte words, a tag byte (sensor in bits 7:3, a 2-bit time-slot counter
    in bits 2:1, parity in bit 0) then 6 data bytes, read from 0x78..0x7E; DIFF_FIFO
    [9:0] counts words; FIFO_OVR_IA / FIFO_OVR_LATCHED flag an overrun.

Both FIFOs are drained with one burst read per call (the address wraps from the
last FIFO data register back to the first while reading), decoded straight from a
preallocated buffer into the caller's array. Register facts and their sources are
listed in hardware/sources.md.
"""
from array import array

from repcore.compat import const

from drivers import SAMPLE_WORDS, IMUError, RegisterDevice, remap_table, sleep_ms

# Shared register map (both datasheets, section "Register mapping").
_INT1_CTRL = const(0x0D)
_WHO_AM_I = const(0x0F)
_CTRL1_XL = const(0x10)
_CTRL2_G = const(0x11)
_CTRL3_C = const(0x12)
_CTRL6_C = const(0x15)
_WAKE_UP_SRC = const(0x1B)
_FIFO_STATUS1 = const(0x3A)
_TAP_CFG = const(0x58)  # TAP_CFG on the DS3TR-C, TAP_CFG2 on the DSOX: bit 7 is the same
_WAKE_UP_THS = const(0x5B)
_WAKE_UP_DUR = const(0x5C)
_MD1_CFG = const(0x5E)

# CTRL3_C bits: block data update so a sample's low and high bytes match,
# address auto-increment for burst reads (its reset value is already 1).
_BDU = const(0x40)
_IF_INC = const(0x04)
_SW_RESET = const(0x01)
_XL_HM_MODE = const(0x10)  # CTRL6_C: 1 = accelerometer high-performance mode off
_INTERRUPTS_ENABLE = const(0x80)
_INT1_WU = const(0x20)
_WU_IA = const(0x08)

# LSM6DS3TR-C FIFO registers.
_DS3_FIFO_CTRL1 = const(0x06)
_DS3_FIFO_CTRL2 = const(0x07)
_DS3_FIFO_CTRL3 = const(0x08)
_DS3_FIFO_CTRL5 = const(0x0A)
_DS3_FIFO_DATA_OUT_L = const(0x3E)
_DS3_OVER_RUN = const(0x40)

# LSM6DSOX FIFO registers.
_DSOX_FIFO_CTRL1 = const(0x07)
_DSOX_FIFO_CTRL3 = const(0x09)
_DSOX_FIFO_CTRL4 = const(0x0A)
_DSOX_FIFO_DATA_OUT_TAG = const(0x78)
_DSOX_OVR = const(0x48)  # FIFO_OVR_IA | FIFO_OVR_LATCHED in FIFO_STATUS2
_TAG_GYRO = const(0x01)  # gyroscope, not compressed
_TAG_ACCEL = const(0x02)  # accelerometer, not compressed

_FIFO_BYPASS = const(0)
_FIFO_CONTINUOUS = const(6)

# ODR code (CTRL1_XL/CTRL2_G bits 7:4, also ODR_FIFO and BDR_XL/BDR_GY) per rate
# in mHz, so 12.5 Hz stays an integer.
_ODR = ((12500, 1), (26000, 2), (52000, 3), (104000, 4), (208000, 5), (416000, 6),
        (833000, 7), (1660000, 8), (3330000, 9), (6660000, 10))

# Full scale -> (CTRL1_XL bits 3:2, mg per LSB as num/den). Note the odd order of
# the codes: 01 is +-16 g.
_ACCEL_FS = {2: (0x00, 61, 1000), 4: (0x08, 122, 1000), 8: (0x0C, 244, 1000),
             16: (0x04, 488, 1000)}
# Full scale -> (CTRL2_G bits 3:1, 0.1 deg/s per LSB as num/den): 8.75 mdps at 250.
_GYRO_FS = {125: (0x02, 4375, 100000), 250: (0x00, 875, 10000), 500: (0x04, 1750, 10000),
            1000: (0x08, 3500, 10000), 2000: (0x0C, 7000, 10000)}


def _odr_code(odr_hz):
    want = int(odr_hz * 1000)
    for mhz, code in _ODR:
        if mhz >= want - 500:  # 12 or 12.5 both mean 12.5 Hz
            return mhz, code
    raise IMUError("ODR %r Hz is above 6660 Hz" % (odr_hz,))


class _LSM6DS(RegisterDevice):
    CHIP = ""
    WHO_AM_I = 0

    # FIFO layout and control differ per chip; each subclass defines these three.
    @staticmethod
    def _fifo_bytes(max_samples):
        raise NotImplementedError

    def _fifo_stop(self):
        raise NotImplementedError

    def _fifo_start(self):
        raise NotImplementedError

    def __init__(self, i2c, address=0x6A, remap=None, bus_reset=None, retries=2,
                 max_samples=64):
        super().__init__(i2c, address, retries, bus_reset)
        self.check_id(_WHO_AM_I, self.WHO_AM_I, self.CHIP)
        self.max_samples = max_samples
        self._remap = remap_table(remap)
        self._st = bytearray(4)
        self._buf = bytearray(self._fifo_bytes(max_samples))
        self._mv = memoryview(self._buf)
        self.overflows = 0  # FIFO overruns seen (each one is a gap in the data)
        self.overflowed = False  # the last read_fifo() found an overrun
        self.gyro_on = False
        self.odr_mhz = 0
        self.odr_hz = 0
        self.accel_g = 0
        self.gyro_dps = 0
        self.configure()

    def reset(self):
        """Software reset: every register back to its default."""
        self.write_u8(_CTRL3_C, _SW_RESET)
        for _ in range(10):
            sleep_ms(1)
            if not self.read_u8(_CTRL3_C) & _SW_RESET:
                return
        raise IMUError("%s did not leave software reset" % self.CHIP)

    def configure(self, odr_hz=104, accel_g=4, gyro_dps=500, gyro=True):
        """Reset, set rate and ranges, start streaming both sensors into the FIFO."""
        if accel_g not in _ACCEL_FS:
            raise IMUError("accel range %r g not in %r" % (accel_g, sorted(_ACCEL_FS)))
        if gyro_dps not in _GYRO_FS:
            raise IMUError("gyro range %r dps not in %r" % (gyro_dps, sorted(_GYRO_FS)))
        mhz, code = _odr_code(odr_hz)
        self.reset()
        self.write_u8(_CTRL3_C, _BDU | _IF_INC)
        self.odr_mhz = mhz
        self.odr_hz = (mhz + 500) // 1000
        self._odr_code = code
        self.accel_g = accel_g
        self.gyro_dps = gyro_dps
        fs, num, den = _ACCEL_FS[accel_g]
        self.write_u8(_CTRL1_XL, (code << 4) | fs)
        self._a_num, self._a_den = num, den
        fs, num, den = _GYRO_FS[gyro_dps]
        self._g_fs = fs
        self._g_num, self._g_den = num, den
        self.set_gyro(gyro)

    def set_gyro(self, on):
        """Gyroscope on, or powered down for accelerometer-only mode (ODR_G = 0).

        The gyro draws far more current than the accelerometer, so accel-only is
        the battery-saving mode. The FIFO is restarted so that every word pattern
        after this call has the new layout.
        """
        self.gyro_on = bool(on)
        self.write_u8(_CTRL2_G, ((self._odr_code << 4) | self._g_fs) if on else 0)
        self._fifo_start()

    def _fifo_restart(self):
        self._fifo_stop()
        self._fifo_start()

    def _overrun(self):
        self.overflows += 1
        self.overflowed = True
        self._fifo_restart()

    def _scalers(self):
        """(byte offset, num*2*sign, 2*den) per output axis for accel then gyro.

        Rounded integer scaling: (raw * 2 * num * sign + den) // (2 * den).
        """
        r = self._remap
        an, ad, gn, gd = self._a_num, self._a_den, self._g_num, self._g_den
        return (2 * r[0], 2 * an * r[1], 2 * r[2], 2 * an * r[3], 2 * r[4], 2 * an * r[5],
                ad, 2 * gn * r[1], 2 * gn * r[3], 2 * gn * r[5], gd)

    def enable_wake_on_motion(self, threshold_mg=63, duration=1, odr_hz=26):
        """Sleep mode: accelerometer only, low power, wake-up event routed to INT1.

        The wake-up threshold is in units of full scale / 64 (31.25 mg at +-2 g),
        compared on the slope (difference of consecutive samples); duration is in
        ODR periods (0..3). Call configure() to return to streaming.
        """
        mhz, code = _odr_code(odr_hz)
        self._fifo_stop()
        self.write_u8(_CTRL2_G, 0)
        self.gyro_on = False
        self.write_u8(_CTRL1_XL, code << 4)  # +-2 g: finest threshold steps
        self.write_u8(_CTRL6_C, _XL_HM_MODE)
        ths = (threshold_mg * 64 + 1000) // 2000
        ths = 1 if ths < 1 else (63 if ths > 63 else ths)
        self.write_u8(_WAKE_UP_THS, ths)
        self.write_u8(_WAKE_UP_DUR, (duration & 0x03) << 5)
        self.update_u8(_TAP_CFG, _INTERRUPTS_ENABLE, _INTERRUPTS_ENABLE)
        self.write_u8(_MD1_CFG, _INT1_WU)
        return ths * 2000 // 64  # the threshold actually set, mg

    def motion_detected(self):
        """True if a wake-up event is flagged (WAKE_UP_SRC.WU_IA)."""
        return bool(self.read_u8(_WAKE_UP_SRC) & _WU_IA)


class LSM6DS3TRC(_LSM6DS):
    CHIP = "LSM6DS3TR-C"
    WHO_AM_I = 0x6A

    @staticmethod
    def _fifo_bytes(max_samples):
        # A burst may start up to 5 words before a sample boundary (re-alignment).
        return (max_samples * 6 + 5) * 2

    def _fifo_stop(self):
        self.write_u8(_DS3_FIFO_CTRL5, _FIFO_BYPASS)  # bypass also empties the FIFO

    def _fifo_start(self):
        self._wps = 6 if self.gyro_on else 3
        self.write_u8(_DS3_FIFO_CTRL5, _FIFO_BYPASS)
        self.write_u8(_DS3_FIFO_CTRL1, 0)  # no threshold: the app polls
        self.write_u8(_DS3_FIFO_CTRL2, 0)
        # DEC_FIFO_GYRO (bits 5:3) and DEC_FIFO_XL (bits 2:0): 001 = every sample,
        # 000 = not in the FIFO.
        self.write_u8(_DS3_FIFO_CTRL3, (0x08 if self.gyro_on else 0) | 0x01)
        self.write_u8(_DS3_FIFO_CTRL5, (self._odr_code << 3) | _FIFO_CONTINUOUS)

    def read_fifo(self, out):
        """Drain up to max_samples samples into `out` (array('h'), 6 per sample).

        Returns the number of samples written. Gyro values are 0 in accel-only mode.
        On an overrun the data read is still returned, `overflowed` is set, the
        `overflows` counter grows and the FIFO is restarted.
        """
        st = self._st
        self.read_into(_FIFO_STATUS1, st)
        self.overflowed = False
        diff = st[0] | ((st[1] & 0x07) << 8)
        pattern = st[2] | ((st[3] & 0x03) << 8)
        wps = self._wps
        skip = (wps - pattern % wps) % wps  # words before the next sample boundary
        n = (diff - skip) // wps if diff > skip else 0
        if n > self.max_samples:
            n = self.max_samples
        if n:
            nbytes = (skip + n * wps) * 2
            self.read_into(_DS3_FIFO_DATA_OUT_L, self._mv[:nbytes])
            self._decode(out, skip * 2, n)
        if st[1] & _DS3_OVER_RUN:
            self._overrun()
        return n

    def _decode(self, out, p, n):
        b = self._buf
        (o0, a0, o1, a1, o2, a2, ad, g0, g1, g2, gd) = self._scalers()
        ad2 = 2 * ad
        gd2 = 2 * gd
        gyro = self.gyro_on
        j = 0
        for _ in range(n):
            if gyro:  # dataset 1: gyroscope x, y, z
                v = b[p + o0] | (b[p + o0 + 1] << 8)
                if v > 32767:
                    v -= 65536
                out[j + 3] = (v * g0 + gd) // gd2
                v = b[p + o1] | (b[p + o1 + 1] << 8)
                if v > 32767:
                    v -= 65536
                out[j + 4] = (v * g1 + gd) // gd2
                v = b[p + o2] | (b[p + o2 + 1] << 8)
                if v > 32767:
                    v -= 65536
                out[j + 5] = (v * g2 + gd) // gd2
                p += 6
            else:
                out[j + 3] = 0
                out[j + 4] = 0
                out[j + 5] = 0
            # dataset 2: accelerometer x, y, z
            v = b[p + o0] | (b[p + o0 + 1] << 8)
            if v > 32767:
                v -= 65536
            out[j] = (v * a0 + ad) // ad2
            v = b[p + o1] | (b[p + o1 + 1] << 8)
            if v > 32767:
                v -= 65536
            out[j + 1] = (v * a1 + ad) // ad2
            v = b[p + o2] | (b[p + o2 + 1] << 8)
            if v > 32767:
                v -= 65536
            out[j + 2] = (v * a2 + ad) // ad2
            p += 6
            j += SAMPLE_WORDS


class LSM6DSOX(_LSM6DS):
    CHIP = "LSM6DSOX"
    WHO_AM_I = 0x6C

    def __init__(self, *args, **kwargs):
        # A sample split across two reads (gyro word read, accel word not yet
        # written) waits here, already scaled and remapped.
        self._pend = array("h", [0] * SAMPLE_WORDS)
        self._pcnt = -1
        self._pa = False
        self._pg = False
        self.parity_errors = 0
        self._st2 = bytearray(2)
        super().__init__(*args, **kwargs)

    @staticmethod
    def _fifo_bytes(max_samples):
        return max_samples * 2 * 7

    def _fifo_stop(self):
        self.write_u8(_DSOX_FIFO_CTRL4, _FIFO_BYPASS)
        self._pa = self._pg = False
        self._pcnt = -1

    def _fifo_start(self):
        self._wps = 2 if self.gyro_on else 1
        self._fifo_stop()
        self.write_u8(_DSOX_FIFO_CTRL1, 0)  # no watermark: the app polls
        # BDR_GY bits 7:4, BDR_XL bits 3:0: batch each sensor at its own ODR.
        gy = self._odr_code if self.gyro_on else 0
        self.write_u8(_DSOX_FIFO_CTRL3, (gy << 4) | self._odr_code)
        # FIFO_CTRL4: no timestamp / temperature batching, continuous mode.
        self.write_u8(_DSOX_FIFO_CTRL4, _FIFO_CONTINUOUS)

    def read_fifo(self, out):
        """Drain the FIFO into `out`; same contract as LSM6DS3TRC.read_fifo."""
        st = self._st2
        self.read_into(_FIFO_STATUS1, st)
        self.overflowed = False
        words = st[0] | ((st[1] & 0x03) << 8)
        # Keep room for a sample completed from a word held over from last time.
        cap = self.max_samples * self._wps - (self._wps - 1)
        if words > cap:
            words = cap
        n = 0
        if words:
            self.read_into(_DSOX_FIFO_DATA_OUT_TAG, self._mv[:words * 7])
            n = self._decode(out, words)
        if st[1] & _DSOX_OVR:
            self._overrun()
        return n

    def _decode(self, out, words):
        b = self._buf
        pend = self._pend
        (o0, a0, o1, a1, o2, a2, ad, g0, g1, g2, gd) = self._scalers()
        ad2 = 2 * ad
        gd2 = 2 * gd
        gyro = self.gyro_on
        pcnt, pa, pg = self._pcnt, self._pa, self._pg
        n = 0
        j = 0
        p = 0
        for _ in range(words):
            t = b[p]
            x = t ^ (t >> 4)
            x ^= x >> 2
            x ^= x >> 1
            tag = t >> 3
            cnt = (t >> 1) & 0x03
            q = p + 1
            p += 7
            if x & 1:  # parity of the tag byte must be even
                self.parity_errors += 1
                continue
            if tag != _TAG_ACCEL and tag != _TAG_GYRO:
                continue  # temperature, timestamp, config change: not batched here
            if (pa or pg) and cnt != pcnt:
                # A new time slot began with the previous one incomplete: emit it if
                # it has its accelerometer word (gyro left from the older slot).
                if pa:
                    for k in range(SAMPLE_WORDS):
                        out[j + k] = pend[k]
                    j += SAMPLE_WORDS
                    n += 1
                pa = pg = False
            pcnt = cnt
            if tag == _TAG_ACCEL:
                v = b[q + o0] | (b[q + o0 + 1] << 8)
                if v > 32767:
                    v -= 65536
                pend[0] = (v * a0 + ad) // ad2
                v = b[q + o1] | (b[q + o1 + 1] << 8)
                if v > 32767:
                    v -= 65536
                pend[1] = (v * a1 + ad) // ad2
                v = b[q + o2] | (b[q + o2 + 1] << 8)
                if v > 32767:
                    v -= 65536
                pend[2] = (v * a2 + ad) // ad2
                pa = True
            else:
                v = b[q + o0] | (b[q + o0 + 1] << 8)
                if v > 32767:
                    v -= 65536
                pend[3] = (v * g0 + gd) // gd2
                v = b[q + o1] | (b[q + o1 + 1] << 8)
                if v > 32767:
                    v -= 65536
                pend[4] = (v * g1 + gd) // gd2
                v = b[q + o2] | (b[q + o2 + 1] << 8)
                if v > 32767:
                    v -= 65536
                pend[5] = (v * g2 + gd) // gd2
                pg = True
            if pa and (pg or not gyro):
                if not gyro:
                    pend[3] = pend[4] = pend[5] = 0
                for k in range(SAMPLE_WORDS):
                    out[j + k] = pend[k]
                j += SAMPLE_WORDS
                n += 1
                pa = pg = False
        self._pcnt, self._pa, self._pg = pcnt, pa, pg
        return n
