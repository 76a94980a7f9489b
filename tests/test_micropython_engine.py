"""The firmware core inside a real MicroPython (WASI build, wasmtime): same events as
under CPython, and the cost figures of `repband bench` are sane."""
from __future__ import annotations

import numpy as np
import pytest

from repband import micropython as mp
from repband.bench import synthetic_samples
from repband.replay import run_events
from repcore import events


def _sim_samples():
    """A short simulated session when the simulator is available, else synthetic."""
    try:
        from repband.recording import to_samples
        from repband.sim import simulate
    except ImportError:
        return synthetic_samples(minutes=2.0)
    rec = simulate(seed=3, rate_hz=104.0)[0]
    return np.asarray(to_samples(rec), dtype=np.int64)


@pytest.fixture(scope="module")
def samples():
    s = _sim_samples()
    return s[: 104 * 240]  # at most 4 minutes


def _cpython(samples, **kw):
    return run_events(samples, engine="cpython", **kw)


def _assert_same(mpy, cpy):
    """The same event tuples, field for field: one implementation, two interpreters."""
    assert len(mpy) == len(cpy), f"{len(mpy)} events in MicroPython, {len(cpy)} in CPython"
    for a, b in zip(mpy, cpy):
        assert a == b


@pytest.mark.parametrize(
    "kw",
    [
        dict(leg=events.SIDE_RIGHT, placement=events.PLACEMENT_THIGH, mode=events.MODE_AUTO, gyro=True),
        dict(leg=events.SIDE_LEFT, placement=events.PLACEMENT_THIGH, mode=events.MODE_BRIDGE, gyro=False),
    ],
    ids=["auto-gyro", "bridge-accel-only"],
)
def test_same_events_as_cpython(samples, kw):
    s = samples.copy()
    if not kw["gyro"]:
        s[:, 4:7] = 0
    mpy = mp.run_core(s, **kw)
    cpy = _cpython(s, **kw)
    assert sum(e[0] == events.EV_REP for e in cpy) > 0  # something to compare
    _assert_same(mpy, cpy)
    assert all(isinstance(e, tuple) for e in mpy)


def test_synthetic_reps_same_events():
    s = synthetic_samples(minutes=1.5, seed=7)
    kw = dict(leg=events.SIDE_RIGHT, placement=events.PLACEMENT_THIGH, mode=events.MODE_BRIDGE, gyro=True)
    _assert_same(mp.run_core(s, **kw), _cpython(s, **kw))


def test_empty_and_tiny_inputs():
    kw = dict(leg=events.SIDE_RIGHT, placement=events.PLACEMENT_THIGH, mode=events.MODE_AUTO, gyro=True)
    empty = np.zeros((0, 7), dtype=np.int64)
    assert mp.run_core(empty, **kw) == _cpython(empty, **kw)
    one = np.array([[0, 0, 0, 1000, 0, 0, 0]], dtype=np.int64)
    assert mp.run_core(one, **kw) == _cpython(one, **kw)


def test_bad_input_rejected():
    kw = dict(leg=1, placement=0, mode=0, gyro=True)
    with pytest.raises(ValueError):
        mp.run_core(np.zeros((5, 6), dtype=np.int64), **kw)
    with pytest.raises(ValueError):
        mp.run_core(np.array([[0, 2**31, 0, 0, 0, 0, 0]], dtype=np.int64), **kw)


def test_guest_errors_are_reported(tmp_path):
    with pytest.raises(mp.MicroPythonError, match="ZeroDivisionError"):
        mp.run_guest("x = 1 // 0")
    # a core whose push raises: the message carries the guest's traceback
    pkg = tmp_path / "repcore"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "detector.py").write_text(
        "class Detector:\n"
        "    def __init__(self, sink, leg=0, placement=0, mode=0, gyro=True):\n"
        "        pass\n"
        "    def push(self, t, ax, ay, az, gx, gy, gz):\n"
        "        raise ValueError('boom %d' % t)\n"
        "    def finish(self, t):\n"
        "        pass\n"
    )
    s = np.array([[5, 0, 0, 1000, 0, 0, 0]], dtype=np.int64)
    with pytest.raises(mp.MicroPythonError, match="boom 5"):
        mp.run_core(s, 1, 0, 0, True, src=pkg)


def test_wasmtime_is_the_pinned_version():
    """Fuel is wasmtime's instruction count: budgets and figures compare only on the
    version pyproject.toml pins."""
    import importlib.metadata as md
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    pinned = re.search(r'"wasmtime==([^"]+)"', text)
    assert pinned, "pyproject.toml does not pin wasmtime"
    assert md.version("wasmtime") == pinned.group(1)


def test_guest_is_micropython():
    out = mp.run_guest("import sys\nprint(sys.implementation.name, sys.implementation.version[:2])")
    assert out.stdout.split() == ["micropython", "(1,", "27)"]
    assert out.fuel_used > 0


def test_bench_numbers_are_sane(samples):
    kw = dict(leg=events.SIDE_RIGHT, placement=events.PLACEMENT_THIGH, mode=events.MODE_AUTO, gyro=True)
    s = samples[: 104 * 60]
    r = mp.bench_core(s, **kw)
    assert r["samples"] == len(s)
    # the driver loop alone is a few thousand fuel (7 array reads and a method call)
    assert 500 < r["loop_fuel_per_sample"] < 20_000
    assert r["loop_heap_bytes_per_sample"] == 0
    assert r["loop_fuel_per_sample"] < r["core_fuel_per_sample"] < 2_000_000
    assert r["core_fuel_per_sample"] <= r["core_fuel_per_sample_worst_chunk"]
    assert 0 < r["core_fuel_per_sample_with_gc"] < 2_000_000
    assert 0 <= r["core_heap_bytes_per_sample"] < 100_000
    assert 0 < r["core_heap_after_import"] < 200_000
    assert r["detector_heap_bytes"] > 0
    # deterministic: wasmtime fuel is an instruction count
    again = mp.bench_core(s, **kw)
    assert again["core_fuel_per_sample"] == r["core_fuel_per_sample"]
    assert again["core_heap_bytes_per_sample"] == r["core_heap_bytes_per_sample"]


def test_run_bench_json(capsys):
    import json

    from repband.bench import run_bench

    assert run_bench(as_json=True, minutes=1.0) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    res = json.loads(out[0])
    for key in ("core_fuel_per_sample", "core_heap_bytes_per_sample", "core_heap_after_import",
                "cpython_samples_per_s", "loop_fuel_per_sample", "csv_rows_per_s", "virtual_speedup"):
        assert isinstance(res[key], (int, float)) and res[key] >= 0, key
    assert res["cpython_samples_per_s"] > 1000


@pytest.mark.parametrize(
    "scenario, kw",
    [
        ("clams", dict(leg="left", mount="arbitrary")),
        ("hard", dict(gyro=False)),
        ("stretch", dict(mount="loose")),
        ("bridges", dict(placement="hip")),
    ],
    ids=["clams-left-arbitrary", "hard-accel-only", "stretch-loose", "bridges-hip"],
)
def test_replay_engines_agree_on_recordings(scenario, kw):
    """`replay --engine micropython` gives the CPython counts, times within a sample,
    on several kinds of recording (auto mode, whatever the mount, leg or placement)."""
    from repband.replay import detect
    from repband.sim import simulate

    rec, _ = simulate(scenario, seed=5, rate_hz=104.0, **kw)
    keep = rec.t < rec.t[0] + 200.0  # enough for calibration and a set, fast to run
    rec.t, rec.acc = rec.t[keep], rec.acc[keep]
    if rec.gyro is not None:
        rec.gyro = rec.gyro[keep]
    py = detect(rec)
    mpy = detect(rec, engine="micropython")
    assert py["counts"]["total"] + py["counts"]["holds"] > 0  # something to compare
    assert {k: v for k, v in mpy.items() if k != "engine"} == {k: v for k, v in py.items() if k != "engine"}


def test_app_runs_from_a_romfs_image():
    """The firmware as `repband flash` builds it (.mpy files) and as a ROMFS image of
    them boots and counts the same; from the image the bytecode runs in place, so the
    heap holds less. Either way the board loads none of the host's modules."""
    from repband.recording import to_samples
    from repband.sim import simulate

    part = np.asarray(to_samples(simulate("bridges", seed=2, rate_hz=104.0)[0]), dtype=np.int64)
    part = part[: 104 * 90]
    from_py = mp.bench_app(part)
    from_rom = mp.bench_app(part, romfs=True)
    assert from_rom["app_reps"] == from_py["app_reps"] > 0
    assert from_rom["app_records_written"] == from_py["app_records_written"]
    assert from_rom["app_heap_after_boot"] < from_py["app_heap_after_boot"]
    for run in (from_py, from_rom):
        assert {"app.app", "app.ble", "repcore.detector", "repcore.protocol",
                "drivers.lsm6ds3trc"} <= set(run["app_modules"])
        # Host-side decoders and the other boards' chips cost the board no RAM.
        for name in ("repcore.protocol_host", "repcore.recdecode", "drivers.mpu6xxx",
                     "drivers.lsm6dsox", "boards.m5stickc_plus2"):
            assert name not in run["app_modules"]
