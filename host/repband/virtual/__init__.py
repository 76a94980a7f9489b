"""The virtual device: the firmware app (firmware/app) running unchanged under CPython on
emulated hardware, in simulated time.

    from repband.sim import simulate
    from repband.virtual import run_virtual
    rec, truth = simulate("routine", seed=1)
    dev = run_virtual(rec)              # the routine, then idle until the session ends
    dev.events, dev.feedback_log, dev.records(), dev.flash_dir

The whole band with its BLE service on the emulated radio, and host code on the same
virtual clock (repband.virtual.device):

    from repband.virtual import VirtualBand, run_with_virtual
    band = VirtualBand(rec); band.run_host(band.with_client(async_fn_of_client))
    run_with_virtual(async_fn_of_client, state_dir=None)   # what `--device virtual` uses

The same band behind a BlueZ-compatible D-Bus service, in real time, for bleak
(repband.virtual.bluez, `repband virtual-device --bluez`).

See repband.virtual.hardware, repband.virtual.device and docs/firmware.md.
"""
from repband.virtual.hardware import (  # noqa: F401
    VirtualClock,
    VirtualDevice,
    VirtualHal,
    VirtualI2C,
    VirtualLoop,
    VirtualWatchdog,
    run_virtual,
)
from repband.virtual.device import (  # noqa: F401
    VirtualBand,
    VirtualClient,
    bench_live_latency,
    open_band,
    run_with_virtual,
)

__all__ = ["VirtualClock", "VirtualDevice", "VirtualHal", "VirtualI2C", "VirtualLoop",
           "VirtualWatchdog", "run_virtual", "VirtualBand", "VirtualClient",
           "bench_live_latency", "open_band", "run_with_virtual"]
