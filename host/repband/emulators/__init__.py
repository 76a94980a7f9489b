"""Register-level emulators of the hardware the firmware talks to.

They model the chips from their datasheets (identity, configuration, output and FIFO
registers, byte order, scaling, overflow) rather than from the drivers, so driver
tests catch misreadings of the datasheet and the virtual device gets realistic data.
"""
from repband.emulators.imu import (  # noqa: F401
    LSM6DS3TRC,
    LSM6DSOX,
    MPU6050,
    MPU6886,
    I2CBus,
    chip_for,
)
