"""``repband bench``: what the firmware core costs, on MicroPython and on CPython.

Builds a realistic 104 Hz recording (``repband.sim.simulate`` when available,
else a synthetic one made here), then reports:

* MicroPython (WASI build, wasmtime fuel): fuel per pushed sample, the empty
  loop's share, heap bytes allocated per sample and heap kept by the import;
* CPython: samples per second pushed through the same ``Detector``.
"""
from __future__ import annotations

import json as _json
import math
import sys
import time

import numpy as np

from repband import exits
from repband.micropython import (FUEL_PER_US_ESP32, bench_app, bench_app_live, bench_asyncio_loop,
                                 bench_core)

FS_HZ = 104.0


def synthetic_samples(
    minutes: float = 3.0,
    fs: float = FS_HZ,
    period_s: float = 6.0,
    angle_deg: float = 25.0,
    seed: int = 1,
    gyro: bool = True,
) -> np.ndarray:
    """A thigh lying still, tilting ~``angle_deg`` about its y axis every ``period_s``.

    Returns (N, 7) int64: t_ms, ax, ay, az (mg), gx, gy, gz (0.1 deg/s). Each rep:
    1.5 s up, 2 s held, 1.5 s down, then rest; random per-rep amplitude and tempo,
    sensor noise and a small bias; the first 10 s are still.
    """
    rng = np.random.default_rng(seed)
    n = int(minutes * 60 * fs)
    t = np.arange(n) / fs
    theta = np.zeros(n)  # degrees
    start = 10.0
    while start + period_s < t[-1]:
        gap = period_s * rng.uniform(0.85, 1.15)
        amp = angle_deg * rng.uniform(0.7, 1.3)
        up, hold, down = rng.uniform(0.7, 1.3, 3) * np.array([1.5, 2.0, 1.5])
        scale = min(1.0, 0.8 * gap / (up + hold + down))  # each rep ends before the next
        up, hold, down = up * scale, hold * scale, down * scale
        tt = t - start
        rise = (tt >= 0) & (tt < up)
        theta[rise] = amp * 0.5 * (1 - np.cos(np.pi * tt[rise] / up))
        top = (tt >= up) & (tt < up + hold)
        theta[top] = amp
        fall = (tt >= up + hold) & (tt < up + hold + down)
        theta[fall] = amp * 0.5 * (1 + np.cos(np.pi * (tt[fall] - up - hold) / down))
        start += gap
    rad = np.radians(theta)
    # Gravity in the sensor frame, rotating about y: lying flat => z up.
    ax = -np.sin(rad) * 1000.0
    ay = np.zeros(n)
    az = np.cos(rad) * 1000.0
    acc = np.stack([ax, ay, az], axis=1) + rng.normal(0, 8.0, (n, 3)) + np.array([20.0, -15.0, 10.0])
    if gyro:
        rate = np.gradient(theta, 1 / fs)  # deg/s
        g = np.zeros((n, 3))
        g[:, 1] = rate
        g += rng.normal(0, 0.3, (n, 3)) + np.array([1.5, -0.8, 0.5])
        g = g * 10.0
    else:
        g = np.zeros((n, 3))
    t_ms = np.round(t * 1000.0)
    return np.column_stack([t_ms, np.round(acc), np.round(g)]).astype(np.int64)


def _samples_from_sim(minutes: float) -> np.ndarray | None:
    """``repband.sim.simulate``'s routine at 104 Hz as int samples; None if unavailable."""
    try:
        from repband.sim import simulate
    except ImportError:
        return None
    try:
        out = simulate(seed=1, rate_hz=FS_HZ)
    except TypeError:
        out = simulate()
    rec = out[0] if isinstance(out, tuple) else out
    try:
        from repband.recording import to_samples

        return np.asarray(to_samples(rec), dtype=np.int64)
    except ImportError:
        return recording_to_samples(rec)


def recording_to_samples(rec) -> np.ndarray | None:
    """A ``repband.recording.Recording`` (s, g, deg/s) -> (N, 7) int samples."""
    t = getattr(rec, "t", None)
    acc = getattr(rec, "acc", None)
    if t is None or acc is None:
        return None
    t = np.asarray(t, dtype=float)
    acc = np.asarray(acc, dtype=float)
    gyro = getattr(rec, "gyro", None)
    g = np.zeros_like(acc) if gyro is None else np.asarray(gyro, dtype=float) * 10.0
    return np.column_stack(
        [np.round((t - t[0]) * 1000.0), np.round(acc * 1000.0), np.round(g)]
    ).astype(np.int64)


def bench_samples(minutes: float = 3.0) -> tuple[np.ndarray, str]:
    """The simulator's routine session (its own length), else ``minutes`` of synthetic data."""
    samples = _samples_from_sim(minutes)
    if samples is not None and len(samples) > 0:
        return samples, "repband.sim.simulate"
    return synthetic_samples(minutes=minutes), "synthetic"


def cpython_rate(samples: np.ndarray, leg: int, placement: int, mode: int, gyro: bool,
                 min_seconds: float = 0.5) -> float:
    """Samples per second pushed through the Detector under this CPython."""
    from repcore.detector import Detector

    rows = [tuple(r) for r in samples.tolist()]
    best = 0.0
    elapsed_total = 0.0
    while elapsed_total < min_seconds or best == 0.0:
        out: list = []
        det = Detector(out.append, leg=leg, placement=placement, mode=mode, gyro=gyro)
        push = det.push
        t0 = time.perf_counter()
        for r in rows:
            push(*r)
        dt = time.perf_counter() - t0
        det.finish(rows[-1][0])
        elapsed_total += dt
        best = max(best, len(rows) / dt if dt > 0 else float("inf"))
    return best


def host_rates() -> dict:
    """Host-side speeds, figures here rather than timed tests: a 35 000-row recording
    CSV read and converted to samples (rows per second), and the virtual band running
    a simulated set of bridges (simulated seconds per wall second)."""
    import tempfile
    from pathlib import Path

    from repband.recording import Recording, read_csv, to_samples, write_csv
    from repband.sim import simulate
    from repband.virtual import run_virtual

    n = 35000
    rng = np.random.default_rng(2)
    rec = Recording(t=np.arange(n) / 104.0 + 3.0, acc=rng.normal(0, 1, (n, 3)),
                    gyro=rng.normal(0, 30, (n, 3)), meta={"rate_hz": "104"})
    with tempfile.TemporaryDirectory(prefix="repband-bench-") as tmp:
        path = Path(tmp) / "big.csv"
        write_csv(path, rec)
        t0 = time.perf_counter()
        to_samples(read_csv(path))
        csv_s = time.perf_counter() - t0
    sim, _ = simulate("bridges", seed=1)
    t0 = time.perf_counter()
    dev = run_virtual(sim)
    wall = time.perf_counter() - t0
    simulated = dev.now_s
    dev.close()
    return {"csv_rows_per_s": n / csv_s, "virtual_speedup": simulated / wall}


def collect(minutes: float = 3.0, bar=None) -> dict:
    from repcore import events

    step = bar.update if bar is not None else (lambda n: None)
    samples, source = bench_samples(minutes)
    kw = dict(leg=events.SIDE_RIGHT, placement=events.PLACEMENT_THIGH, mode=events.MODE_AUTO,
              gyro=bool(np.any(samples[:, 4:7])))
    t0 = time.perf_counter()
    res = bench_core(samples, **kw)
    mpy_wall = time.perf_counter() - t0
    step(1)
    res["cpython_samples_per_s"] = cpython_rate(samples, **kw)
    step(1)
    # The firmware app's whole per-sample path (FIFO decode -> detector -> recorder).
    res.update(bench_app(samples))
    step(1)
    # The same boot with the firmware as a ROMFS image (bytecode in place, in flash).
    res["app_heap_after_boot_romfs"] = bench_app(samples[:1], romfs=True)["app_heap_after_boot"]
    step(1)
    # The BLE link: a month of sessions synced over the modelled link, and the live
    # count latency on the virtual band (both in modelled / virtual time).
    from repband.sync_bench import bench_sync
    from repband.virtual.device import bench_live_latency

    res.update({f"sync_{k}": v for k, v in bench_sync().items()})
    step(1)
    res.update(bench_live_latency())
    step(1)
    res.update(host_rates())
    step(1)
    res["source"] = source
    res["duration_s"] = (int(samples[-1, 0]) - int(samples[0, 0])) / 1000.0
    res["micropython_wall_s"] = mpy_wall
    res["fuel_per_us_esp32"] = FUEL_PER_US_ESP32
    # The firmware runs the CPU at 80 MHz (app.hal.CPU_HZ), not 240: a third of the
    # fuel per microsecond, if it scales with the clock (flash-cache waits do not, so
    # the +-40 % of the conversion is a floor on the uncertainty).
    per_us_80 = FUEL_PER_US_ESP32 * 80 / 240
    pct = res["app_fuel_per_sample"] / per_us_80 * FS_HZ / 1e4
    res["app_cpu_percent_at_80mhz"] = pct
    res["app_cpu_percent_at_80mhz_range"] = [pct / 1.4, pct / 0.6]
    # The app as it runs: every task, a central connected and notifying (the scheduler
    # is a stand-in for asyncio's, which the WASI build lacks: reported apart).
    live = bench_app_live(samples)
    step(1)
    res.update(live)
    pct = live["live_tasks_fuel_per_sample"] / per_us_80 * FS_HZ / 1e4
    res["live_cpu_percent_at_80mhz"] = pct
    res["live_cpu_percent_at_80mhz_range"] = [pct / 1.4, pct / 0.6]
    res["live_scheduler_cpu_percent_at_80mhz"] = live["live_scheduler_fuel_per_s"] / per_us_80 / 1e4
    # asyncio's own loop, measured on its C task queue and poller, for every wake-up the
    # tasks had (the stand-in's figure above is its own loop's, an upper bound).
    res.update(bench_asyncio_loop())
    wakeups_per_s = sum(t["wakeups_per_s"] for t in live["live_tasks"].values())
    res["live_wakeups_per_s"] = wakeups_per_s
    res["live_asyncio_fuel_per_sample"] = (wakeups_per_s * res["asyncio_loop_fuel_per_wakeup"]
                                           * live["live_seconds"] / max(live["live_samples"], 1))
    res["live_asyncio_cpu_percent_at_80mhz"] = (wakeups_per_s * res["asyncio_loop_fuel_per_wakeup"]
                                                / per_us_80 / 1e4)
    return res


def run_bench(as_json: bool = False, minutes: float = 3.0) -> int:
    from repband import progress

    try:
        with progress.bar(8, "bench", unit="step", quiet=as_json) as bar:
            res = collect(minutes, bar)
    except Exception as exc:  # a clear message, not a traceback, for the CLI
        print(f"repband bench: {type(exc).__name__}: {exc}", file=sys.stderr)
        return exits.FAILED
    if as_json:
        print(_json.dumps(res, sort_keys=True))
        return 0
    n = res["samples"]
    print(f"recording: {res['source']}, {n} samples, {res['duration_s']:.0f} s at {FS_HZ:g} Hz")
    print("MicroPython 1.27 (WASI, wasmtime fuel):")
    print(f"  core_fuel_per_sample        {res['core_fuel_per_sample']:10.0f}"
          f"  (of which the driver loop {res['loop_fuel_per_sample']:.0f};"
          f" worst {res['core_fuel_per_sample_worst_chunk']:.0f} over a chunk)")
    print(f"  with GC every {res['gc_every_samples']} samples ({res['gc_garbage_bytes'] // 1024} KB"
          f" of garbage, {res['heap_bytes'] // 1024} KB heap), collections included:"
          f" {res['core_fuel_per_sample_with_gc']:.0f}")
    print(f"  core_heap_bytes_per_sample  {res['core_heap_bytes_per_sample']:10.1f}"
          f"  (driver loop {res['loop_heap_bytes_per_sample']:.1f})")
    print(f"  core_heap_after_import      {res['core_heap_after_import']:10d}")
    print(f"  detector_heap_bytes         {res['detector_heap_bytes']:10d}")
    print(f"  ESP32 estimate at 240 MHz (~{FUEL_PER_US_ESP32:g} fuel/us, +-40 %; x3 at 80 MHz):"
          f" {res['est_esp32_us_per_sample']:.0f} us/sample,"
          f" {res['est_esp32_cpu_percent_at_104hz']:.1f} % CPU at 104 Hz")
    print(f"  app_fuel_per_sample         {res['app_fuel_per_sample']:10.0f}"
          f"  (FIFO decode + detector + recorder; with GC {res['app_fuel_per_sample_with_gc']:.0f})")
    lo, hi = res["app_cpu_percent_at_80mhz_range"]
    print(f"  app_cpu_percent_at_80mhz    {res['app_cpu_percent_at_80mhz']:10.1f}"
          f"  (the firmware's clock; {lo:.0f}-{hi:.0f} % for fuel/us +-40 %)")
    lo, hi = res["live_cpu_percent_at_80mhz_range"]
    print(f"  live_fuel_per_sample        {res['live_tasks_fuel_per_sample']:10.0f}"
          f"  (every task, a central connected and notifying: {res['live_notifications']}"
          f" notifications, {res['live_reps']} reps)")
    print(f"  live_cpu_percent_at_80mhz   {res['live_cpu_percent_at_80mhz']:10.1f}"
          f"  ({lo:.0f}-{hi:.0f} %; the scheduler stand-in adds"
          f" {res['live_scheduler_cpu_percent_at_80mhz']:.1f} %)")
    print(f"  asyncio_loop_fuel_per_wakeup {res['asyncio_loop_fuel_per_wakeup']:9.0f}"
          f"  (its C task queue and poller; {res['live_wakeups_per_s']:.1f} wake-ups/s:"
          f" + {res['live_asyncio_fuel_per_sample']:.0f} fuel per sample,"
          f" + {res['live_asyncio_cpu_percent_at_80mhz']:.2f} % CPU at 80 MHz)")
    print(f"  app_heap_after_boot         {res['app_heap_after_boot']:10d}"
          f"  (as a ROMFS image, bytecode in flash: {res['app_heap_after_boot_romfs']})")
    print("CPython:")
    print(f"  cpython_samples_per_s       {res['cpython_samples_per_s']:10.0f}"
          f"  ({res['cpython_samples_per_s'] / FS_HZ / 3600:.1f} h of 104 Hz data per s)")
    print(f"  csv_rows_per_s              {res['csv_rows_per_s']:10.0f}  (recording CSV read + to samples)")
    print(f"  virtual_speedup             {res['virtual_speedup']:10.0f}  (the virtual band: simulated s per wall s)")
    print("BLE link (modelled: MTU 185, 15 ms interval, 4 packets per interval):")
    print(f"  sync of {res['sync_sessions']} sessions ({res['sync_records']} records):"
          f" {res['sync_model_link_s']:.2f} s on the link (target <= {res['sync_target_link_s']:g} s),"
          f" {100 * res['sync_capacity_use']:.0f} % of capacity; {res['sync_wall_s']:.2f} s on this host")
    print(f"  live count latency: median {res['live_latency_ms_median']} ms, max"
          f" {res['live_latency_ms_max']} ms (budget {res['live_latency_budget_ms']:g} ms)")
    if not math.isfinite(res["core_fuel_per_sample"]):
        return exits.FAILED
    return 0


if __name__ == "__main__":
    raise SystemExit(run_bench(as_json="--json" in sys.argv[1:]))
