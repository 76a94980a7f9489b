"""IMU drivers on a `machine.I2C`-like bus, shared by every chip.

A bus object needs `readfrom_mem_into(addr, reg, buf)`, `readfrom_mem(addr, reg, n)`
and `writeto_mem(addr, reg, buf)`: `machine.I2C`/`SoftI2C` on the board, the
register-level emulators in `repband.emulators` on the host. Nothing here imports
`machine`, so the same code runs under CPython in the tests.

Units handed to the core are integers: acceleration in mg, angular rate in
0.1 deg/s, already rotated into the mount frame (+x down the thigh toward the knee,
+z away from the leg). A FIFO read fills a caller-owned `array('h')` laid out as
[ax, ay, az, gx, gy, gz] per sample, so draining the FIFO allocates nothing per
sample.
"""
from repcore.compat import const

# Words in one decoded sample of the output array.
SAMPLE_WORDS = const(6)


class IMUError(Exception):
    """The IMU is not what the board profile says, or was asked for the impossible."""


class SensorFault(IMUError):
    """The bus kept failing after retries and a bus reset. The app logs a fault,
    keeps running and tries again later; it never dies of this."""


try:  # MicroPython
    from time import sleep_ms  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    from time import sleep as _sleep

    def sleep_ms(ms):
        _sleep(ms / 1000)


class RegisterDevice:
    """Register access with retries. Every driver inherits this.

    An I2C error (OSError: NACK, timeout, arbitration lost) is retried `retries`
    times; then the `bus_reset` hook (if the app gave one: toggling SCL, re-creating
    the I2C object) is called and the transaction tried once more; then
    SensorFault is raised. The counters let the app report bus health.
    """

    def __init__(self, i2c, address, retries=2, bus_reset=None):
        self.i2c = i2c
        self.address = address
        self.retries = retries
        self.bus_reset = bus_reset
        self.bus_errors = 0  # every failed transaction, recovered or not
        self.bus_resets = 0
        self._b1 = bytearray(1)  # one-byte scratch: register writes allocate nothing

    def _fault(self, what, reg, err):
        return SensorFault(
            "I2C %s failed at 0x%02X reg 0x%02X after %d retries and a bus reset: %r"
            % (what, self.address, reg, self.retries, err)
        )

    def _transfer(self, write, reg, buf):
        """One register transfer: retried, then the bus reset, then a SensorFault."""
        err = None
        for attempt in range(self.retries + 2):
            if attempt == self.retries + 1:
                if self.bus_reset is None:
                    break
                self.bus_resets += 1
                try:
                    self.bus_reset()
                except OSError:
                    break
            try:
                if write:
                    self.i2c.writeto_mem(self.address, reg, buf)
                else:
                    self.i2c.readfrom_mem_into(self.address, reg, buf)
                return
            except OSError as e:
                self.bus_errors += 1
                err = e
        raise self._fault("write" if write else "read", reg, err)

    def read_into(self, reg, buf):
        self._transfer(False, reg, buf)

    def read_u8(self, reg):
        self._transfer(False, reg, self._b1)
        return self._b1[0]

    def write_u8(self, reg, value):
        self._b1[0] = value & 0xFF
        self._transfer(True, reg, self._b1)

    def update_u8(self, reg, mask, value):
        """Read-modify-write of the bits in `mask`."""
        old = self.read_u8(reg)
        self.write_u8(reg, (old & ~mask) | (value & mask))

    def check_id(self, reg, expected, name):
        try:
            got = self.read_u8(reg)
        except SensorFault as e:
            raise SensorFault("no %s answering at 0x%02X: %s" % (name, self.address, e))
        if got != expected:
            raise IMUError(
                "expected %s id 0x%02X at 0x%02X, read 0x%02X" % (name, expected, self.address, got)
            )


def remap_table(remap):
    """Check a board's axis remap and flatten it to (src0, sign0, src1, sign1, src2, sign2).

    `remap` has one (chip_axis, sign) pair per mount axis x, y, z: mount x = sign *
    chip[chip_axis]. It must be a signed permutation, i.e. a proper rotation or a
    reflection; a reflection (det -1) would make a left-handed frame, so it is refused.
    """
    if remap is None:
        remap = ((0, 1), (1, 1), (2, 1))
    if len(remap) != 3:
        raise IMUError("axis remap needs 3 entries, got %d" % len(remap))
    # Loops, not comprehensions: each of those would keep code of its own in RAM.
    axes = []
    signs = []
    for r in remap:
        axes.append(r[0])
        signs.append(r[1])
    if sorted(axes) != [0, 1, 2] or signs.count(1) + signs.count(-1) != 3:
        raise IMUError("axis remap must be a signed permutation of chip axes: %r" % (remap,))
    # Determinant of a signed permutation = sign of the permutation * product of signs.
    det = signs[0] * signs[1] * signs[2]
    for i in range(2):
        for j in range(i + 1, 3):
            if axes[i] > axes[j]:
                det = -det  # an inversion
    if det != 1:
        raise IMUError("axis remap %r is a reflection, not a rotation" % (remap,))
    return (axes[0], signs[0], axes[1], signs[1], axes[2], signs[2])


def open_imu(i2c, board, bus_reset=None, max_samples=64):
    """The driver for a board profile module (see firmware/boards/)."""
    chip = board.IMU_CHIP
    # Only the board's chip is imported: its code is all the RAM a driver costs.
    if chip == "LSM6DS3TR-C":
        from drivers.lsm6ds3trc import LSM6DS3TRC

        cls = LSM6DS3TRC
    elif chip == "LSM6DSOX":
        from drivers.lsm6dsox import LSM6DSOX

        cls = LSM6DSOX
    elif chip in ("MPU-6050", "MPU6886"):
        from drivers.mpu6xxx import MPU6050, MPU6886

        cls = MPU6050 if chip == "MPU-6050" else MPU6886
    else:
        raise IMUError("no driver for IMU chip %r" % (chip,))
    return cls(
        i2c,
        address=board.IMU_ADDR,
        remap=board.IMU_REMAP,
        bus_reset=bus_reset,
        max_samples=max_samples,
    )
