"""I2C bus and IMU chip emulators: LSM6DS3TR-C, LSM6DSOX, MPU-6050, MPU6886.

`I2CBus` has the methods of `machine.I2C` the drivers use (`readfrom_mem_into`,
`readfrom_mem`, `writeto_mem`, plus `scan`), routes transactions to the chips
attached at their addresses and injects faults: a missing address NACKs (OSError
ENODEV, as MicroPython's esp32 port reports it) and `fail_next` makes the next
transactions raise.

Each chip holds a 256-byte register file with the datasheet's reset values and
produces samples at the output rate its registers select when time is advanced
(`bus.advance(seconds)`), taking its physical input from `load(acc_g, gyro_dps)`
arrays in the chip's own axes (specific force in g, angular rate in deg/s). Raw
values are quantised with the sensitivity of the selected full scale and saturate
at int16. Output registers and the FIFO follow each datasheet's byte order and
layout; see hardware/sources.md for where each fact comes from.

Simplifications, all outside what the drivers rely on: one output rate per chip
(the accelerometer's on the LSM6DS parts, the sample-rate divider on the MPUs);
FIFO decimation and batch rates only switch a sensor in or out of the FIFO; no
self-test, no embedded functions besides the wake-up / motion threshold.
"""
from __future__ import annotations

import errno
import struct
from collections import deque

import numpy as np


class I2CBus:
    """A `machine.I2C` stand-in with fault injection and a transaction log."""

    def __init__(self):
        self.devices = {}
        self.transactions = 0
        self.log = []  # (op, addr, reg, nbytes) per transaction that reached a chip
        self._fail = []  # pending injected failures: (ops, errno)
        self.fail_all = False
        self.fail_errno = errno.EIO

    def attach(self, chip):
        self.devices[chip.address] = chip
        return chip

    def scan(self):
        return sorted(self.devices)

    def fail_next(self, n=1, err=errno.EIO, ops=("read", "write")):
        """The next `n` transactions of the given kinds raise OSError(err)."""
        self._fail.extend([(tuple(ops), err)] * n)

    def _start(self, op, addr, reg, nbytes):
        self.transactions += 1
        if self.fail_all:
            raise OSError(self.fail_errno, "injected bus fault")
        if self._fail and op in self._fail[0][0]:
            _, err = self._fail.pop(0)
            raise OSError(err, "injected bus fault")
        dev = self.devices.get(addr)
        if dev is None:
            raise OSError(errno.ENODEV, "no ACK from 0x%02X" % addr)
        self.log.append((op, addr, reg, nbytes))
        return dev

    def readfrom_mem_into(self, addr, memaddr, buf):
        dev = self._start("read", addr, memaddr, len(buf))
        buf[:] = dev.read(memaddr, len(buf))

    def readfrom_mem(self, addr, memaddr, nbytes):
        dev = self._start("read", addr, memaddr, nbytes)
        return bytes(dev.read(memaddr, nbytes))

    def writeto_mem(self, addr, memaddr, buf):
        dev = self._start("write", addr, memaddr, len(buf))
        dev.write(memaddr, bytes(buf))

    def advance(self, seconds):
        """Let `seconds` of chip time pass on every attached chip."""
        for dev in self.devices.values():
            dev.advance(seconds)


def _q16(x):
    """Round and saturate to int16, as the chips' output registers do."""
    return int(max(-32768, min(32767, round(x))))


class _Chip:
    NAME = ""
    WHO_AM_I_REG = 0
    WHO_AM_I = 0
    DEFAULTS: dict = {}

    def __init__(self, address):
        self.address = address
        self.regs = bytearray(256)
        self._acc = np.zeros((1, 3))
        self._gyro = np.zeros((1, 3))
        self._row = 0
        self.samples_made = 0
        self.exhausted = False
        self._credit = 0.0
        self._prev_acc = None
        self._power_on()

    def _power_on(self):
        self.regs[:] = bytes(256)
        for reg, val in self.DEFAULTS.items():
            self.regs[reg] = val
        self.regs[self.WHO_AM_I_REG] = self.WHO_AM_I
        self._prev_acc = None
        self._raw_a = None
        self._fifo_clear()

    # Physical input ---------------------------------------------------------------
    def load(self, acc_g, gyro_dps=None):
        """Input rows, one per output sample, in the chip's axes; the last row is held."""
        acc = np.asarray(acc_g, dtype=float).reshape(-1, 3)
        gyro = np.zeros_like(acc) if gyro_dps is None else np.asarray(gyro_dps, float).reshape(-1, 3)
        if len(gyro) != len(acc):
            raise ValueError("acc and gyro lengths differ")
        self._acc, self._gyro, self._row, self.exhausted = acc, gyro, 0, False
        self._raw_a = None  # raw values of every row, made when first needed (_LSM6DS)

    def advance(self, seconds):
        rate = self.output_rate_hz()
        if rate <= 0:
            return
        self._credit += seconds * rate
        k = int(self._credit + 1e-9)
        self._credit -= k
        for _ in range(k):
            self._produce()

    def produce(self, n=1):
        """Make exactly `n` samples, whatever the rate (needs a nonzero rate)."""
        if self.output_rate_hz() <= 0:
            raise RuntimeError("%s is powered down: no samples" % self.NAME)
        for _ in range(n):
            self._produce()

    def _produce(self):
        i = self._row
        if i >= len(self._acc):
            i = len(self._acc) - 1
            self.exhausted = True
        else:
            self._row += 1
        self.samples_made += 1
        a = self._sample_row(i)
        self._motion(a)
        self._prev_acc = a

    def _sample_row(self, i):
        """Take input row `i` as the next sample; returns its acceleration."""
        a = self._acc[i]
        self._sample(a, self._gyro[i])
        return a

    # Bus side -------------------------------------------------------------------------
    def read(self, reg, n):
        out = bytearray()
        for _ in range(n):
            out.append(self.read_reg(reg) & 0xFF)
            reg = self.next_addr(reg)
        return out

    def write(self, reg, data):
        for v in data:
            self.write_reg(reg, v)
            reg = self.next_addr(reg)

    def next_addr(self, reg):
        return (reg + 1) & 0xFF

    def read_reg(self, reg):
        return self.regs[reg]

    def write_reg(self, reg, v):
        if reg == self.WHO_AM_I_REG:
            return  # read-only
        self.regs[reg] = v


# ---------------------------------------------------------------------------------
# ST LSM6DS3TR-C / LSM6DSOX
# ---------------------------------------------------------------------------------
_ST_ODR_HZ = {0: 0.0, 1: 12.5, 2: 26.0, 3: 52.0, 4: 104.0, 5: 208.0, 6: 416.0, 7: 833.0,
              8: 1660.0, 9: 3330.0, 10: 6660.0}
# CTRL1_XL FS_XL code -> mg per LSB; CTRL2_G FS_G code -> mdps per LSB.
_ST_XL_SENS = {0: 0.061, 1: 0.488, 2: 0.122, 3: 0.244}
_ST_XL_FS_MG = {0: 2000, 1: 16000, 2: 4000, 3: 8000}
_ST_G_SENS = {0: 8.75, 1: 17.5, 2: 35.0, 3: 70.0}


class _LSM6DS(_Chip):
    WHO_AM_I_REG = 0x0F
    DEFAULTS = {0x12: 0x04}  # CTRL3_C: IF_INC = 1 at reset

    def output_rate_hz(self):
        return _ST_ODR_HZ.get(self.regs[0x10] >> 4, 0.0)

    def gyro_on(self):
        return _ST_ODR_HZ.get(self.regs[0x11] >> 4, 0.0) > 0

    def raw_from_physical(self, a, g):
        c1, c2 = self.regs[0x10], self.regs[0x11]
        xs = _ST_XL_SENS[(c1 >> 2) & 3]
        raw_a = [_q16(v * 1000.0 / xs) for v in a]
        if c2 & 0x02:  # FS_125
            gs = 4.375
        else:
            gs = _ST_G_SENS[(c2 >> 2) & 3]
        raw_g = [_q16(v * 1000.0 / gs) for v in g] if self.gyro_on() else [0, 0, 0]
        return raw_a, raw_g

    def _raw_rows(self):
        """Every input row as raw values at the selected full scales, as raw_from_physical
        gives them one by one (same arithmetic, round half to even, int16 saturation):
        made once per load and full-scale setting (write_reg drops them when CTRL1_XL or
        CTRL2_G changes), so that a sample costs a lookup."""
        c1, c2 = self.regs[0x10], self.regs[0x11]
        xs = _ST_XL_SENS[(c1 >> 2) & 3]
        gs = 4.375 if c2 & 0x02 else _ST_G_SENS[(c2 >> 2) & 3]

        def q(x, sens):
            return np.clip(np.rint(x * 1000.0 / sens), -32768, 32767).astype(np.int64).tolist()
        self._raw_a = q(self._acc, xs)
        self._raw_g = q(self._gyro, gs) if self.gyro_on() else [[0, 0, 0]] * len(self._acc)

    def _sample_row(self, i):
        if self._raw_a is None:
            self._raw_rows()
        self._write_sample(self._raw_a[i], self._raw_g[i])
        return self._acc[i]

    def _sample(self, a, g):
        self._write_sample(*self.raw_from_physical(a, g))

    def _write_sample(self, raw_a, raw_g):
        fmt = ">3h" if self.regs[0x12] & 0x02 else "<3h"  # CTRL3_C.BLE: big-endian data
        struct.pack_into(fmt, self.regs, 0x22, *raw_g)  # OUTX_L_G..
        struct.pack_into(fmt, self.regs, 0x28, *raw_a)  # OUTX_L_XL..
        self._fifo_write(raw_a, raw_g)

    def _motion(self, a):
        # Wake-up: slope (sample-to-sample difference) above WK_THS * FS / 64.
        if not self.regs[0x58] & 0x80 or self._prev_acc is None:
            return
        ths = self.regs[0x5B] & 0x3F
        if ths == 0:
            return
        fs_mg = _ST_XL_FS_MG[(self.regs[0x10] >> 2) & 3]
        slope = np.abs(np.asarray(a) - np.asarray(self._prev_acc)) * 1000.0
        if np.any(slope > ths * fs_mg / 64.0):
            self.regs[0x1B] |= 0x08  # WU_IA

    def read_reg(self, reg):
        if reg == 0x1B:  # WAKE_UP_SRC: the event flag clears when read
            v = self.regs[0x1B]
            self.regs[0x1B] = 0
            return v
        return self.regs[reg]

    def write_reg(self, reg, v):
        if reg == self.WHO_AM_I_REG:
            return
        if reg == 0x12 and v & 0x01:  # CTRL3_C.SW_RESET: registers back to defaults
            self._power_on()
            return
        if reg in (0x10, 0x11) and self.regs[reg] != v:  # a full scale or the gyro changes
            self._raw_a = None
        self.regs[reg] = v
        self._fifo_config_written(reg)

    def next_addr(self, reg):
        if not self.regs[0x12] & 0x04:  # IF_INC = 0: no auto-increment
            return reg
        return self._fifo_next_addr(reg)


class LSM6DS3TRC(_LSM6DS):
    """LSM6DS3TR-C: 16-bit FIFO words, gyro dataset then accel dataset, FIFO_PATTERN."""

    NAME = "LSM6DS3TR-C"
    WHO_AM_I = 0x6A

    def __init__(self, address=0x6A, fifo_words=2048):
        self.fifo_words = fifo_words
        super().__init__(address)

    _positions: dict = {}  # (first position, dataset words) -> the pattern positions it takes

    def _fifo_clear(self):
        self.fifo = deque()  # (16-bit word, pattern position)
        self._wpos = 0
        self._half = False  # FIFO_DATA_OUT_L of the head word already read
        self.over_run = False

    def _fifo_mode(self):
        return self.regs[0x0A] & 0x07

    def _pattern(self):
        """Datasets written per FIFO ODR tick: gyro first, then accel (3 words each)."""
        f3 = self.regs[0x08]
        sets = []
        if (f3 >> 3) & 0x07:
            sets.append("g")
        if f3 & 0x07:
            sets.append("a")
        return sets

    def _fifo_config_written(self, reg):
        if reg == 0x0A and self._fifo_mode() == 0:  # bypass: FIFO emptied
            self._fifo_clear()
        elif reg in (0x08, 0x0A):
            self._wpos = 0 if not self.fifo else self._wpos

    def _fifo_write(self, raw_a, raw_g):
        mode = self._fifo_mode()
        if mode == 0 or (self.regs[0x0A] >> 3) & 0x0F == 0:  # bypass or ODR_FIFO off
            return
        words = []
        for s in self._pattern():
            words.extend(raw_g if s == "g" else raw_a)
        plen = len(words)
        fifo = self.fifo
        if len(fifo) + plen <= self.fifo_words:  # room for the whole dataset: no overwrite
            p0 = self._wpos
            pos = self._positions.get((p0, plen))
            if pos is None:
                pos = self._positions[(p0, plen)] = tuple((p0 + j) % plen for j in range(plen))
            fifo.extend(zip([w & 0xFFFF for w in words], pos))
            return  # _wpos: plen words on, it is where it was
        for w in words:
            if len(self.fifo) >= self.fifo_words:
                if mode == 1:  # FIFO mode: stop when full
                    return
                self.fifo.popleft()  # continuous: the oldest word is overwritten
                self._half = False
                self.over_run = True
            self.fifo.append((w & 0xFFFF, self._wpos))
            self._wpos = (self._wpos + 1) % plen

    def read_reg(self, reg):
        if reg == 0x3A:  # FIFO_STATUS1: DIFF_FIFO[7:0]
            return min(len(self.fifo), 0x7FF) & 0xFF
        if reg == 0x3B:  # FIFO_STATUS2
            n = len(self.fifo)
            fth = self.regs[0x06] | ((self.regs[0x07] & 0x07) << 8)
            v = (min(n, 0x7FF) >> 8) & 0x07
            v |= 0x10 if n == 0 else 0  # FIFO_EMPTY
            v |= 0x20 if n >= self.fifo_words else 0  # FIFO_FULL_SMART
            v |= 0x40 if self.over_run else 0  # OVER_RUN
            v |= 0x80 if fth and n >= fth else 0  # WaterM
            return v
        if reg in (0x3C, 0x3D):  # FIFO_PATTERN of the next word to be read
            pos = self.fifo[0][1] if self.fifo else self._wpos
            return pos & 0xFF if reg == 0x3C else (pos >> 8) & 0x03
        if reg == 0x3E:  # FIFO_DATA_OUT_L
            if not self.fifo:
                return 0
            self._half = True
            return self.fifo[0][0] & 0xFF
        if reg == 0x3F:  # FIFO_DATA_OUT_H: reading it consumes the word
            if not self.fifo:
                return 0
            w = self.fifo.popleft()[0]
            self._half = False
            self.over_run = False  # the FIFO is no longer full
            return (w >> 8) & 0xFF
        return super().read_reg(reg)

    def _fifo_next_addr(self, reg):
        return 0x3E if reg == 0x3F else (reg + 1) & 0xFF  # FIFO reads roll back to 0x3E

    def read(self, reg, n):
        # The driver's drain: a burst of whole words from FIFO_DATA_OUT_L with
        # auto-increment. Word by word, the same bytes read_reg would give (an empty
        # FIFO reads 0), without a call per byte.
        if reg != 0x3E or n & 1 or self._half or not self.regs[0x12] & 0x04:
            return super().read(reg, n)
        fifo = self.fifo
        k = min(n // 2, len(fifo))
        if k:
            self.over_run = False
        words = [fifo.popleft()[0] for _ in range(k)]
        return bytearray(struct.pack("<%dH" % k, *words)) + bytearray(n - 2 * k)


_DSOX_TAG_GYRO = 0x01
_DSOX_TAG_ACCEL = 0x02


def dsox_tag(sensor, cnt):
    """FIFO_DATA_OUT_TAG: TAG_SENSOR[4:0] bits 7:3, TAG_CNT bits 2:1, even parity in bit 0."""
    t = ((sensor & 0x1F) << 3) | ((cnt & 0x03) << 1)
    return t | (bin(t).count("1") & 1)


class LSM6DSOX(_LSM6DS):
    """LSM6DSOX: tagged 7-byte FIFO words, DIFF_FIFO[9:0], latched overrun flag."""

    NAME = "LSM6DSOX"
    WHO_AM_I = 0x6C

    def __init__(self, address=0x6A, fifo_words=512):
        self.fifo_words = fifo_words
        super().__init__(address)

    def _fifo_clear(self):
        self.fifo = deque()  # 7-byte words: tag + X_L X_H Y_L Y_H Z_L Z_H
        self._rd = 0  # bytes of the head word already read
        self._slot = 0  # TAG_CNT of the next time slot
        self.ovr_ia = False
        self.ovr_latched = False

    def _fifo_mode(self):
        return self.regs[0x0A] & 0x07

    def _fifo_config_written(self, reg):
        if reg == 0x0A and self._fifo_mode() == 0:
            self._fifo_clear()

    def _fifo_write(self, raw_a, raw_g):
        mode = self._fifo_mode()
        if mode == 0:
            return
        bdr = self.regs[0x09]
        words = []
        if bdr >> 4 and self.gyro_on():
            words.append((_DSOX_TAG_GYRO, raw_g))
        if bdr & 0x0F:
            words.append((_DSOX_TAG_ACCEL, raw_a))
        for sensor, raw in words:
            data = bytearray([dsox_tag(sensor, self._slot)])
            for v in raw:
                data += bytes((v & 0xFF, (v >> 8) & 0xFF))
            if len(self.fifo) >= self.fifo_words:
                if mode == 1:  # FIFO mode: stop when full
                    break
                self.fifo.popleft()
                self._rd = 0
                self.ovr_ia = self.ovr_latched = True
            self.fifo.append(bytes(data))
        if words:
            self._slot = (self._slot + 1) & 0x03

    def read_reg(self, reg):
        if reg == 0x3A:
            return len(self.fifo) & 0xFF
        if reg == 0x3B:  # FIFO_STATUS2
            n = len(self.fifo)
            wtm = self.regs[0x07] | ((self.regs[0x08] & 0x01) << 8)
            v = (n >> 8) & 0x03
            v |= 0x08 if self.ovr_latched else 0  # FIFO_OVR_LATCHED, reset by this read
            v |= 0x20 if n >= self.fifo_words else 0  # FIFO_FULL_IA
            v |= 0x40 if self.ovr_ia else 0  # FIFO_OVR_IA
            v |= 0x80 if wtm and n >= wtm else 0  # FIFO_WTM_IA
            self.ovr_latched = False
            return v
        if 0x78 <= reg <= 0x7E:
            if not self.fifo:
                return 0
            k = reg - 0x78
            v = self.fifo[0][k]
            if reg == 0x7E:  # last byte of the word: it leaves the FIFO
                self.fifo.popleft()
                self.ovr_ia = False
            return v
        return super().read_reg(reg)

    def _fifo_next_addr(self, reg):
        return 0x78 if reg == 0x7E else (reg + 1) & 0xFF  # FIFO reads roll back to 0x78


# ---------------------------------------------------------------------------------
# InvenSense MPU-6050 / MPU6886
# ---------------------------------------------------------------------------------
_MPU_ACCEL_LSB = {0: 16384.0, 1: 8192.0, 2: 4096.0, 3: 2048.0}  # LSB per g
_MPU_GYRO_LSB = {0: 131.0, 1: 65.5, 2: 32.8, 3: 16.4}  # LSB per deg/s


class _MPU(_Chip):
    WHO_AM_I_REG = 0x75
    FIFO_BYTES = 1024
    TEMP_RAW = 0

    def _fifo_clear(self):
        self.fifo = bytearray()

    def output_rate_hz(self):
        if self.regs[0x6B] & 0x40:  # SLEEP
            return 0.0
        dlpf = self.regs[0x1A] & 0x07
        base = 1000.0 if 1 <= dlpf <= 6 else 8000.0
        return base / (1 + self.regs[0x19])

    def gyro_on(self):
        return (self.regs[0x6C] & 0x07) != 0x07

    def _sample(self, a, g):
        alsb = _MPU_ACCEL_LSB[(self.regs[0x1C] >> 3) & 3]
        glsb = _MPU_GYRO_LSB[(self.regs[0x1B] >> 3) & 3]
        raw_a = [_q16(v * alsb) for v in a]
        raw_g = [_q16(v * glsb) for v in g] if self.gyro_on() else [0, 0, 0]
        raw = raw_a + [self.TEMP_RAW] + raw_g
        for k, v in enumerate(raw):  # ACCEL_XOUT_H (0x3B) .. GYRO_ZOUT_L (0x48), big-endian
            self.regs[0x3B + 2 * k] = (v >> 8) & 0xFF
            self.regs[0x3C + 2 * k] = v & 0xFF
        self.regs[0x3A] |= 0x01 if self.regs[0x38] & 0x01 else 0  # DATA_RDY_INT
        if self.regs[0x6A] & 0x40:  # USER_CTRL.FIFO_EN
            packet = self._packet(raw_a, raw_g)
            if packet:
                self._fifo_push(packet)

    @staticmethod
    def _be(values):
        out = bytearray()
        for v in values:
            out += bytes(((v >> 8) & 0xFF, v & 0xFF))
        return out

    def _fifo_push(self, packet):
        room = self.FIFO_BYTES - len(self.fifo)
        if len(packet) > room:
            if self._fifo_stops_when_full():
                self._set_oflow()
                return
            del self.fifo[: len(packet) - room]  # the oldest bytes are overwritten
            self._set_oflow()
        self.fifo += packet

    def _fifo_stops_when_full(self):
        return False

    def _set_oflow(self):
        if self.regs[0x38] & 0x10:  # FIFO_OFLOW_EN
            self.regs[0x3A] |= 0x10

    def read_reg(self, reg):
        if reg == 0x3A:  # INT_STATUS: cleared by reading it
            v = self.regs[0x3A]
            self.regs[0x3A] = 0
            return v
        if reg == 0x72:
            return (len(self.fifo) >> 8) & 0xFF
        if reg == 0x73:
            return len(self.fifo) & 0xFF
        if reg == 0x74:  # FIFO_R_W
            if not self.fifo:
                return 0xFF
            v = self.fifo[0]
            del self.fifo[0]
            return v
        return self.regs[reg]

    def write_reg(self, reg, v):
        if reg == self.WHO_AM_I_REG:
            return
        if reg == 0x6B and v & 0x80:  # DEVICE_RESET
            self._power_on()
            return
        if reg == 0x6A and v & 0x04:  # USER_CTRL.FIFO_RESET, self-clearing
            self._fifo_clear()
            v &= ~0x04
        self.regs[reg] = v

    def next_addr(self, reg):
        return reg if reg == 0x74 else (reg + 1) & 0xFF  # FIFO_R_W does not increment


class MPU6050(_MPU):
    NAME = "MPU-6050"
    WHO_AM_I = 0x68
    DEFAULTS = {0x6B: 0x40}  # PWR_MGMT_1: asleep at power-up
    TEMP_RAW = _q16((25.0 - 36.53) * 340.0)  # Temp = raw / 340 + 36.53

    def __init__(self, address=0x68):
        super().__init__(address)

    def _packet(self, raw_a, raw_g):
        en = self.regs[0x23]
        vals = []
        if en & 0x08:  # ACCEL_FIFO_EN
            vals += raw_a
        if en & 0x80:  # TEMP_FIFO_EN
            vals.append(self.TEMP_RAW)
        for bit, k in ((0x40, 0), (0x20, 1), (0x10, 2)):  # XG, YG, ZG
            if en & bit:
                vals.append(raw_g[k])
        return self._be(vals)

    def _motion(self, a):
        if not self.regs[0x38] & 0x40 or self._prev_acc is None:  # MOT_EN
            return
        ths_mg = self.regs[0x1F] * 2.0
        if np.any(np.abs(np.asarray(a) - np.asarray(self._prev_acc)) * 1000.0 > ths_mg):
            self.regs[0x3A] |= 0x40  # MOT_INT


class MPU6886(_MPU):
    NAME = "MPU6886"
    WHO_AM_I = 0x19
    DEFAULTS = {0x6B: 0x41}  # PWR_MGMT_1: asleep, CLKSEL 1
    TEMP_RAW = 0  # Temp = raw / 326.8 + 25

    def __init__(self, address=0x68):
        super().__init__(address)

    def _fifo_stops_when_full(self):
        return bool(self.regs[0x1A] & 0x40)  # CONFIG.FIFO_MODE

    def _packet(self, raw_a, raw_g):
        en = self.regs[0x23]
        vals = []
        if en & 0x08:  # ACCEL_FIFO_EN: accel (and temperature)
            vals += raw_a
        if en & 0x18:  # temperature is written with either sensor
            vals.append(self.TEMP_RAW)
        if en & 0x10:  # GYRO_FIFO_EN
            vals += raw_g
        return self._be(vals)

    def _motion(self, a):
        if not self.regs[0x69] & 0x80 or self._prev_acc is None:  # ACCEL_INTEL_EN
            return
        diff = np.abs(np.asarray(a) - np.asarray(self._prev_acc)) * 1000.0
        for k, bit in enumerate((0x80, 0x40, 0x20)):  # WOM_X/Y/Z
            if self.regs[0x38] & bit and diff[k] > self.regs[0x20 + k] * 4.0:
                self.regs[0x3A] |= bit


def chip_for(name, address=None):
    """An emulated chip by the name a board profile uses."""
    cls = {"LSM6DS3TR-C": LSM6DS3TRC, "LSM6DSOX": LSM6DSOX, "MPU-6050": MPU6050,
           "MPU6886": MPU6886}[name]
    return cls() if address is None else cls(address)
