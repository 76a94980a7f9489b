"""Fixed budgets of the firmware, held as tests: fuel (wasmtime's instruction count,
wasmtime pinned) and heap bytes in MicroPython 1.27 are deterministic counts, not
timings. The budgets are fixed (issue 12), not today's figures: `repband bench` prints
those (docs/firmware.md, docs/algorithm.md).

  core: <= 60 000 fuel and <= 200 B of heap churn per sample, <= 40 KB heap after import
  app:  <= 190 000 fuel per sample; heap after boot <= 60 KB from a ROMFS image and
        <= 90 KB as .mpy files

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
APP_HEAP_AFTER_BOOT_FILES = 90 * 1024


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
    assert r["app_heap_after_boot"] <= APP_HEAP_AFTER_BOOT_FILES  # the firmware as .mpy files
    rom = mp.bench_app(samples[:1], romfs=True)
    assert rom["app_heap_after_boot"] <= APP_HEAP_AFTER_BOOT_ROMFS


def test_app_as_it_runs_wakes_only_for_work(samples):
    """Every task of the app on MicroPython with a central connected and notifying
    (repband.micropython.bench_app_live), and asyncio's loop for each wake-up: what it
    costs per sample stays in the app's budget, and idle tasks do not wake to poll (before: the buttons and the BLE task
    each woke 33 times a second, 12 400 and 71 000 fuel a wake-up)."""
    r = mp.bench_app_live(samples[: 104 * 90])
    assert r["live_samples"] == 104 * 90 and r["live_notifications"] > 0
    wake = {k: v["wakeups_per_s"] for k, v in r["live_tasks"].items()}
    # asyncio's own loop for each of those wake-ups (its C task queue and poller,
    # measured in MicroPython: repband.micropython.bench_asyncio_loop) is in the budget
    loop = mp.bench_asyncio_loop()["asyncio_loop_fuel_per_wakeup"]
    assert 5_000 < loop < 40_000
    per_sample = sum(wake.values()) * r["live_seconds"] / r["live_samples"]
    assert r["live_tasks_fuel_per_sample"] + per_sample * loop <= APP_FUEL_PER_SAMPLE
    assert wake["buttons"] < 0.1  # no press: asleep on the pins' IRQ
    assert wake["ble"] < 2  # woken by the radio and the app's changes only
    assert wake["power"] <= 1.01 and wake["supervisor"] <= 1.01
    assert 19 < wake["sampling"] < 21  # a drain every 50 ms while a central is connected
