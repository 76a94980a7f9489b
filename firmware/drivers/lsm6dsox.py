"""ST LSM6DSOX: the FIFO of tagged 7-byte words (the rest is drivers.lsm6ds).

A word is a tag byte (sensor in bits 7:3, a 2-bit time-slot counter in bits 2:1,
parity in bit 0) then 6 data bytes, read from 0x78..0x7E; DIFF_FIFO[9:0] counts words;
FIFO_OVR_IA / FIFO_OVR_LATCHED flag an overrun. Sources: hardware/sources.md.
"""
from array import array

from repcore.compat import const

from drivers import SAMPLE_WORDS
from drivers.lsm6ds import LSM6DS

_FIFO_STATUS1 = const(0x3A)
_FIFO_BYPASS = const(0)
_FIFO_CONTINUOUS = const(6)

# LSM6DSOX FIFO registers.
_DSOX_FIFO_CTRL1 = const(0x07)
_DSOX_FIFO_CTRL3 = const(0x09)
_DSOX_FIFO_CTRL4 = const(0x0A)
_DSOX_FIFO_DATA_OUT_TAG = const(0x78)
_DSOX_OVR = const(0x48)  # FIFO_OVR_IA | FIFO_OVR_LATCHED in FIFO_STATUS2
_TAG_GYRO = const(0x01)  # gyroscope, not compressed
_TAG_ACCEL = const(0x02)  # accelerometer, not compressed


class LSM6DSOX(LSM6DS):
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
