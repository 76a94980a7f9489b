"""Event and configuration codes shared by the detector, the recorder and the host.

Events are plain tuples so the firmware allocates one small object per event and
nothing per sample. Layouts (all times in integer milliseconds of the sample clock,
angles in tenths of a degree):

  (EV_REP, t_ms, exercise, side, partial, rom_x10, up_ms, top_ms, down_ms)
  (EV_HOLD, t_start_ms, t_end_ms, exercise, side, angle_x10)
  (EV_SET, t_start_ms, t_end_ms, exercise, side, count, n_partial, mean_rom_x10, period_ms)
  (EV_CALIBRATED, t_ms, method)
  (EV_FAULT, t_ms, fault)
"""
from repcore.compat import const

EV_REP = const(1)
EV_HOLD = const(2)
EV_SET = const(3)
EV_CALIBRATED = const(4)
EV_FAULT = const(5)

EX_NONE = const(0)
EX_BRIDGE = const(1)
EX_CLAM = const(2)
EX_STRETCH = const(3)

SIDE_NONE = const(0)
SIDE_LEFT = const(1)
SIDE_RIGHT = const(2)

PLACEMENT_THIGH = const(0)
PLACEMENT_HIP = const(1)

# Detector modes: auto recognises the exercise, the others are the user's choice.
MODE_AUTO = const(0)
MODE_BRIDGE = const(EX_BRIDGE)
MODE_CLAM = const(EX_CLAM)
MODE_STRETCH = const(EX_STRETCH)

CAL_STANDING = const(1)  # automatic: still and upright next to walking
CAL_USER = const(2)  # the user asked for it and stood still
CAL_FLEXION = const(3)  # the first deep hip flexion told which way is forward
CAL_WALKING = const(4)  # automatic: the thigh's mean direction and swing over a walk
CAL_SET = const(5)  # automatic: the shape of a set of bridges or clams (detector._frame_from_set)

FAULT_BAD_SAMPLE = const(1)  # zeros or impossible values, dropped
FAULT_GAP = const(2)  # samples missing for longer than the filters tolerate
FAULT_UNCALIBRATED = const(3)  # a set began that the uncalibrated band cannot name yet
# Faults the app raises (firmware/app), in EV_FAULT events and fault records.
FAULT_CONFIG_CORRUPT = const(16)
FAULT_CONFIG_VERSION = const(17)
FAULT_CONFIG_VALUE = const(18)
FAULT_SENSOR = const(19)  # the IMU stopped answering (SensorFault) or is not there
FAULT_FIFO_OVERFLOW = const(20)  # samples lost: the FIFO was not drained in time
FAULT_STORAGE_FULL = const(21)
FAULT_LOW_BATTERY = const(22)
FAULT_STORAGE = const(23)  # the session log could not be opened
FAULT_SENSOR_OK = const(24)  # the IMU answers again after FAULT_SENSOR
