"""ST LSM6DS3TR-C: the FIFO of 16-bit words (the rest is drivers.lsm6ds).

FIFO_DATA_OUT_L/H (0x3E/0x3F) give a pattern of gyro x,y,z then accel x,y,z (datasets
1 and 2); FIFO_STATUS1..4 give the unread word count (DIFF_FIFO[10:0]), OVER_RUN and
the pattern position of the next word. Sources: hardware/sources.md.
"""
from repcore.compat import const

from drivers import SAMPLE_WORDS
from drivers.lsm6ds import LSM6DS

_FIFO_STATUS1 = const(0x3A)
_FIFO_BYPASS = const(0)
_FIFO_CONTINUOUS = const(6)

# LSM6DS3TR-C FIFO registers.
_DS3_FIFO_CTRL1 = const(0x06)
_DS3_FIFO_CTRL2 = const(0x07)
_DS3_FIFO_CTRL3 = const(0x08)
_DS3_FIFO_CTRL5 = const(0x0A)
_DS3_FIFO_DATA_OUT_L = const(0x3E)
_DS3_OVER_RUN = const(0x40)


class LSM6DS3TRC(LSM6DS):
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
