"""``repband bench --port PORT``: the app's cost measured on a real board.

`repband bench` measures the firmware in the WASI build of MicroPython, in wasmtime
fuel. This runs the same measurement (repband.micropython.APP_BENCH_DRIVER: the real
App and IMU driver, a stand-in bus serving an LSM6DS3TR-C FIFO stream, a stand-in
radio) on the board itself, over mpremote's raw REPL, against the firmware already
installed there (`repband flash`, as files or from ROMFS). The clock is the board's
``time.ticks_us``, so the figures are microseconds of its CPU, not an estimate, with
the CPU at the app's own clock (``app.hal.CPU_HZ``, 80 MHz; the raw REPL does not run
main.py, so the bench sets it).

The board's own settings and session log are never touched: the app under test keeps
its config and log in ``/bench_data``, and the FIFO stream goes to
``/bench_fifo.bin``; both are removed afterwards, and the board is soft-reset so its
own app starts again.
"""
from __future__ import annotations

import contextlib
import sys

import numpy as np

from repband.flash import FlashError
from repband.mpremote_link import BoardLink
from repband.micropython import APP_BENCH_DRIVER, lsm6ds3_fifo_stream

__all__ = ["bench_board", "cmd_bench_board"]

BENCH_BOARD = "xiao_esp32s3_lsm6ds3"  # the stand-in bus speaks this profile's chip
FIFO_FILE = "/bench_fifo.bin"
DATA_DIR = "/bench_data"
DRAIN = 26  # samples per FIFO read: a 250 ms drain at 104 Hz
CHUNK = 208  # samples per measured chunk (a collection after each)
SILENCE_S = 120  # the longest the board may stay silent (it prints after each chunk)

def _prelude(cpu_hz: int) -> str:
    """The driver's board prelude: paths, the board's microsecond clock, and the CPU
    clock the app runs at (app.hal.CPU_HZ: the raw REPL does not run main.py, which
    would set it). ``cpu_hz`` printed is what the board reports, 0 where `machine` has
    no ``freq`` (the WASI build behind the emulated board)."""
    return f"""
import gc, sys, time
ROOT = {DATA_DIR!r}
FIFO = {FIFO_FILE!r}
rom_bytes = 0
cost = time.ticks_us

def spent(a, b):
    return time.ticks_diff(b, a)

try:
    import machine
    machine.freq({int(cpu_hz)})
    print('R cpu_hz', machine.freq())
except (ImportError, AttributeError):  # a port whose machine has no clock control
    print('R cpu_hz', 0)
"""

_PROBE = """
try:
    import app.app, drivers.lsm6ds3trc
    print(repr(app.app.__file__))
except ImportError as e:
    print(repr('missing: %s' % e))
"""

def _cpu_hz() -> int:
    """The clock the firmware's app runs at (app.hal.CPU_HZ)."""
    from repband.firmware import import_firmware

    import_firmware()
    from app.hal import CPU_HZ

    return CPU_HZ


def _remove(dev: BoardLink, path: str) -> None:
    """Remove ``path`` from the board's filesystem, a directory with all it holds;
    nothing when it is not there (mpremote's file calls)."""
    t = dev.transport
    if not t.fs_exists(path):
        return
    if t.fs_isdir(path):
        for entry in t.fs_listdir(path):
            _remove(dev, path + "/" + entry.name)
        t.fs_rmdir(path)
    else:
        t.fs_rmfile(path)


def _clean(dev: BoardLink) -> None:
    _remove(dev, FIFO_FILE)
    _remove(dev, DATA_DIR)


def bench_board(port: str | None, samples, out=None) -> dict:
    """Run the app bench on the board at ``port`` with ``samples`` ((N, 7) ints at
    104 Hz); returns the figures (see the module docstring). Raises FlashError with a
    one-line reason when the board cannot be measured."""
    out = out or sys.stdout
    arr = np.asarray(samples)
    stream = lsm6ds3_fifo_stream(arr)
    dev = BoardLink(port, out)
    try:
        where = dev.eval_repr(_PROBE)
        if where.startswith("missing"):
            raise FlashError(f"no repband firmware on the board ({where}): run `repband flash` "
                             "first")
        how = "from ROMFS (/rom)" if where.startswith("/rom/") else "as files"
        print(f"board on {dev.port}: firmware {how}; sending {len(stream)} bytes of FIFO "
              f"data ({len(arr)} samples)", file=out)
        try:
            _clean(dev)
            dev.transport.fs_mkdir(DATA_DIR)
            dev.transport.fs_writefile(FIFO_FILE, stream, chunk_size=1024)
            code = (f"CHUNK = {CHUNK}\nDRAIN = {DRAIN}\nDRAIN_MS = 250\nTICKS0 = 0\n"
                    f"BOARD = {BENCH_BOARD!r}\nROMFS = False\n" + _prelude(_cpu_hz())
                    + APP_BENCH_DRIVER)
            got, err = dev.transport.exec_raw(code, timeout=SILENCE_S)
        finally:
            with contextlib.suppress(Exception):
                _clean(dev)
        text = got.decode("utf-8", "replace")
        if err:
            raise FlashError("the bench failed on the board: "
                             + err.decode("utf-8", "replace").strip().splitlines()[-1])
    except FlashError:
        raise
    except Exception as exc:  # TransportError, OSError: the link went
        raise FlashError(f"the board stopped answering during the bench ({type(exc).__name__}: "
                         f"{str(exc).strip()[:200]})", 1) from None
    finally:
        dev.close(restart=True)
    raw = {}
    for line in text.splitlines():
        if line.startswith("R "):
            _, key, value = line.split()
            raw[key] = int(value)
    if "DONE" not in text.splitlines():
        raise FlashError(f"the bench did not finish on the board: {text[-300:]!r}", 1)
    n = max(raw["samples"], 1)
    us = raw["app_cost"] / n
    return {
        "board_us_per_sample": us,
        "board_us_per_sample_with_gc": (raw["app_cost"] + raw["gc_cost"]) / n,
        "board_cpu_percent_at_104hz": us * 104.0 / 1e4,
        "board_heap_after_boot": raw["heap_after_boot"],
        "board_samples": raw["samples"],
        "board_reps": raw["reps"],
        "board_records_written": raw["written"],
        "board_firmware": where,
        "board_cpu_hz": raw["cpu_hz"],
    }


def cmd_bench_board(port: str | None, as_json: bool, seconds: float) -> int:
    """``repband bench --port``: print the board's figures (or JSON)."""
    import json

    from repband.bench import FS_HZ, bench_samples

    samples, source = bench_samples()
    samples = samples[: max(DRAIN, int(seconds * FS_HZ) // CHUNK * CHUNK)]
    try:
        res = bench_board(port, samples, out=sys.stderr if as_json else sys.stdout)
    except FlashError as exc:
        print(f"repband: bench: {exc}", file=sys.stderr)
        return exc.status
    res["source"] = source
    if as_json:
        print(json.dumps(res, sort_keys=True))
        return 0
    print(f"on the board ({res['board_samples']} samples of {source}, {res['board_reps']} reps "
          f"counted, {res['board_records_written']} records written):")
    print(f"  board_us_per_sample         {res['board_us_per_sample']:10.1f}"
          f"  ({res['board_cpu_percent_at_104hz']:.1f} % CPU at 104 Hz; with GC "
          f"{res['board_us_per_sample_with_gc']:.1f})")
    print(f"  board_heap_after_boot       {res['board_heap_after_boot']:10d}"
          f"  (firmware from {res['board_firmware']})")
    clock = res["board_cpu_hz"]
    print(f"  board_cpu_hz                {clock:10d}"
          + ("  (the app's clock, set for the bench)" if clock else "  (no machine.freq: unknown)"))
    return 0
