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

This module holds what the chips share (the base class `LSM6DS`); each chip's FIFO is
in its own module, drivers.lsm6ds3trc and drivers.lsm6dsox, so the board loads only
the code of the chip it has (`drivers.open_imu`).
"""
from repcore.compat import const

from drivers import IMUError, RegisterDevice, remap_table, sleep_ms

# Shared register map (both datasheets, section "Register mapping").
_INT1_CTRL = const(0x0D)
_WHO_AM_I = const(0x0F)
_CTRL1_XL = const(0x10)
_CTRL2_G = const(0x11)
_CTRL3_C = const(0x12)
_CTRL6_C = const(0x15)
_WAKE_UP_SRC = const(0x1B)
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

# ODR code (CTRL1_XL/CTRL2_G bits 7:4, also ODR_FIFO and BDR_XL/BDR_GY) per rate
# in mHz, so 12.5 Hz stays an integer.
_ODR = const(((12500, 1), (26000, 2), (52000, 3), (104000, 4), (208000, 5), (416000, 6),
              (833000, 7), (1660000, 8), (3330000, 9), (6660000, 10)))

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


class LSM6DS(RegisterDevice):
    """What both chips share; a subclass adds its FIFO."""

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
