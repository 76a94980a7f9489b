"""The virtual device: the firmware app (firmware/app) running unchanged under CPython on
emulated hardware, in simulated time.

    from repband.sim import simulate
    from repband.virtual import run_virtual
    rec, truth = simulate("routine", seed=1)
    dev = run_virtual(rec)              # the routine, then idle until the session ends
    dev.events, dev.feedback_log, dev.records(), dev.flash_dir

See repband.virtual.hardware and docs/firmware.md.
"""
from repband.virtual.hardware import (  # noqa: F401
    VirtualClock,
    VirtualDevice,
    VirtualHal,
    VirtualI2C,
    VirtualLoop,
    VirtualWatchdog,
    firmware_dir,
    run_virtual,
)

__all__ = ["VirtualClock", "VirtualDevice", "VirtualHal", "VirtualI2C", "VirtualLoop",
           "VirtualWatchdog", "firmware_dir", "run_virtual"]
