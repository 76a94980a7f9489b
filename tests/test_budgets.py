"""Fixed budgets of the firmware, held as tests: fuel (wasmtime's instruction count,
wasmtime pinned) and heap bytes in MicroPython 1.27 are deterministic counts, not
timings. The budgets are fixed (issue 12), not today's figures: `repband bench` prints
those (docs/firmware.md, docs/algorithm.md).

  core: <= 60 000 fuel and <= 200 B of heap churn per sample, <= 40 KB heap after import
  app:  <= 190 000 fuel per sample; heap after boot <= 60 KB from a ROMFS image

Measured on the recording `repband bench` uses (the simulator's routine: bridges,
clams both sides, stretch holds), so a failure here reads against its figures."""
from __future__ import annotations

import pytest

from repband import micropython as mp
from repband.bench import bench_samples
from repcore import events

CORE_FUEL_PER_SAMPLE = 60_000
CORE_HEAP_CHURN_PER_SAMPLE = 200
CORE_HEAP_AFTER_IMPORT = 40 * 1024
APP_FUEL_PER_SAMPLE = 190_000
APP_HEAP_AFTER_BOOT_ROMFS = 60 * 1024


@pytest.fixture(scope="module")
def samples():
    s, _ = bench_samples()
    return s


def test_core_budget(samples):
    r = mp.bench_core(samples, leg=events.SIDE_RIGHT, placement=events.PLACEMENT_THIGH,
                      mode=events.MODE_AUTO, gyro=True)
    assert r["samples"] == len(samples) > 50_000
    assert r["core_fuel_per_sample"] <= CORE_FUEL_PER_SAMPLE
    assert r["core_heap_bytes_per_sample"] <= CORE_HEAP_CHURN_PER_SAMPLE
    assert r["core_heap_after_import"] <= CORE_HEAP_AFTER_IMPORT


def test_app_budget(samples):
    """The app's drain path (FIFO decode, detector, sessions, records, the GATT service
    on a stand-in radio) and its heap after boot from ROMFS."""
    r = mp.bench_app(samples)
    assert r["app_samples"] == len(samples) and r["app_reps"] > 0
    assert r["app_fuel_per_sample"] <= APP_FUEL_PER_SAMPLE
    rom = mp.bench_app(samples[:1], romfs=True)
    assert rom["app_heap_after_boot"] <= APP_HEAP_AFTER_BOOT_ROMFS
