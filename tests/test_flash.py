"""`repband flash` end to end: mpremote talks over a pseudo-terminal to an emulated
board (repband.emulators.board), whose raw REPL runs every block in a real MicroPython
1.27 interpreter (WASI build) with a host directory as its filesystem."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from repband import flash, mpremote_link
from repband.cli import main
from repband.emulators.board import EmulatedBoard, mpy_version_for

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"
BOARD = "m5stickc_plus2"


@pytest.fixture(scope="session")
def firmware(tmp_path_factory) -> Path:
    """A snapshot of firmware/, so that the build the test expects is the one flashed."""
    dst = tmp_path_factory.mktemp("fw") / "firmware"
    shutil.copytree(FIRMWARE, dst, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


@pytest.fixture(autouse=True)
def _firmware(monkeypatch, firmware):
    monkeypatch.setenv("REPBAND_FIRMWARE", str(firmware))


def _user_data(root: Path) -> None:
    """What a board in use holds: settings, a session log, bond keys and the band's
    identity (its host knows it by it) that the flash must keep."""
    (root / "data" / "log").mkdir(parents=True)
    (root / "data" / "config.json").write_text('{"schema": 1, "leg": "left"}')
    (root / "data" / "identity").write_bytes(bytes(range(16)) + bytes(4) + bytes(range(16)) + bytes(4))
    (root / "data" / "bonds.json").write_text("[]")
    (root / "data" / "log" / "seg00001.bin").write_bytes(bytes(range(256)) * 4)
    (root / "config.json").write_text('{"hand-made": true}')
    (root / "log").mkdir()
    (root / "log" / "old.txt").write_text("an old log")


def _snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


def _user_snapshot(root: Path) -> dict:
    return {k: v for k, v in _snapshot(root).items()
            if k.split("/")[0] in ("data", "config.json", "log")}


def _expected_files(firmware: Path, tmp_path: Path) -> dict:
    """The build, as flash.compile_firmware makes it (the firmware folder changes as
    the project grows, so the test does not list files itself)."""
    return dict(flash.compile_firmware(firmware, BOARD, tmp_path / "build"))


def _loaded(board) -> str:
    """What the board's MicroPython imports the firmware from (its board profile, the
    files of the detector and the app), as one line."""
    r = _mpremote(board.port, "exec",
                  "import boards, repcore.detector, app.app\n"
                  "b = boards.load(open('/board').read().strip())\n"
                  "print('LOADED', b.NAME, repcore.detector.__file__, app.app.__file__)")
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.strip().splitlines()[-1]


def _mpremote(port: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mpremote", "connect", port, *args],
                          capture_output=True, text=True, timeout=60)


def test_flash_fresh_board_end_to_end(tmp_path, firmware):
    root = tmp_path / "board"
    _user_data(root)
    # Left-overs of a hand install: a source file that would shadow its .mpy, a module
    # that is no longer part of the firmware.
    (root / "repcore").mkdir()
    (root / "repcore" / "detector.py").write_text("raise ImportError('stale')\n")
    (root / "repcore" / "gone.mpy").write_bytes(b"M\x06\x00\x1f")
    user_before = _user_snapshot(root)
    expected = _expected_files(firmware, tmp_path)

    # The band's app runs: the flash's Ctrl-C restarts it in safe boot (app.safeboot),
    # where no watchdog runs to reset it in the middle of the flash.
    with EmulatedBoard(root, running_app=True) as board:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
        res = subprocess.run(
            [sys.executable, "-m", "repband.cli", "flash", "--port", board.port,
             "--board", BOARD, "--verify"],
            capture_output=True, text=True, timeout=120, env=env)
        assert res.returncode == 0, res.stdout + res.stderr
        assert board.hard_resets == 1
        assert "MicroPython 1.27.0 on esp32" in res.stdout
        assert f"verify: all {len(expected)} firmware files match" in res.stdout
        assert "remove /repcore/detector.py" in res.stdout
        assert "remove /repcore/gone.mpy" in res.stdout

        # Every file landed, byte for byte; compiled modules carry the .mpy header of
        # the board's .mpy version (major 6, bytecode only, 31-bit small ints).
        major = mpy_version_for((1, 27, 0)) & 0xFF
        for path, data in expected.items():
            on_board = root / path.lstrip("/")
            assert on_board.read_bytes() == data, path
            if path.endswith(".mpy"):
                assert data[:4] == bytes((ord("M"), major, 0, 31)), path
        assert (root / "board").read_text() == BOARD + "\n"
        assert (root / "boards" / f"{BOARD}.mpy").is_file()
        for name in flash.KEEP_SOURCE:  # the board runs these by name: kept as source
            if (firmware / name).is_file():
                assert expected["/" + name] == (firmware / name).read_bytes()
        assert not (root / "repcore" / "detector.py").exists()
        assert not (root / "repcore" / "gone.mpy").exists()
        assert not list(root.rglob("*.new"))
        # The user's settings and session log are untouched (contents and mtimes).
        assert _user_snapshot(root) == user_before

        # The flashed .mpy files load in the board's MicroPython.
        assert _loaded(board) == f"LOADED {BOARD} repcore/detector.mpy app/app.mpy"

        # Flashing again: the board's hashes match, nothing is written; the board name
        # comes from /board when --board is not given.
        blocks = len(board.blocks)
        assert main(["flash", "--port", board.port, "--verify"]) == 0
        writes = [b for b in board.blocks[blocks:] if b.startswith(b"f=open(")]
        assert writes == []
    assert _user_snapshot(root) == user_before


def test_verify_detects_a_corrupted_file(tmp_path, capsys):
    root = tmp_path / "board"
    _user_data(root)
    target = root / "repcore" / "detector.mpy"
    done = []

    def bad_flash_cell(board_root: Path):
        # Once the module is in place, flip one byte of it (a failing flash block).
        if target.is_file() and not done:
            data = bytearray(target.read_bytes())
            data[len(data) // 2] ^= 0x40
            target.write_bytes(bytes(data))
            done.append(True)

    with EmulatedBoard(root, after_block=bad_flash_cell) as board:
        rc = main(["flash", "--port", board.port, "--board", BOARD, "--verify"])
    err = capsys.readouterr().err
    assert rc == 1
    assert done
    assert "verify failed" in err and "/repcore/detector.mpy" in err
    assert err.count("\n") == 1  # one line


def test_dry_run_changes_nothing(tmp_path, capsys):
    root = tmp_path / "board"
    _user_data(root)
    before = _snapshot(root)
    with EmulatedBoard(root) as board:
        assert main(["flash", "--port", board.port, "--board", BOARD, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run" in out
    assert "write  /repcore/detector.mpy" in out
    assert "untouched: /config.json, /data/, /log/" in out
    assert _snapshot(root) == before


def test_no_bluetooth_is_refused(tmp_path, capsys):
    root = tmp_path / "board"
    _user_data(root)
    before = _snapshot(root)
    with EmulatedBoard(root, bluetooth=False) as board:
        rc = main(["flash", "--port", board.port, "--board", BOARD])
        writes = [b for b in board.blocks if b"open(" in b and b"'wb'" in b]
    err = capsys.readouterr().err
    assert rc == 2
    assert "no 'bluetooth' module" in err and err.count("\n") == 1
    assert writes == []
    assert _snapshot(root) == before


@pytest.mark.parametrize("version, mpy, words", [
    ((1, 18, 0), None, "too old"),  # .mpy 5: cannot load our .mpy 6 files
    ((1, 20, 0), None, "too old"),  # .mpy 6.1 but older than MIN_MICROPYTHON
    ((2, 0, 0), 7 | (10 << 10), "newer than"),  # a future .mpy 7
])
def test_wrong_micropython_version_is_refused(tmp_path, capsys, version, mpy, words):
    root = tmp_path / "board"
    _user_data(root)
    before = _snapshot(root)
    with EmulatedBoard(root, version=version, mpy=mpy) as board:
        rc = main(["flash", "--port", board.port, "--board", BOARD])
    err = capsys.readouterr().err
    assert rc == 2
    assert words in err and err.count("\n") == 1
    assert _snapshot(root) == before


def test_bad_ports(tmp_path, capsys, monkeypatch):
    missing = str(tmp_path / "ttyUSB9")
    assert main(["flash", "--port", missing, "--board", BOARD]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and err.count("\n") == 1

    # A serial port with no MicroPython behind it (nobody answers).
    monkeypatch.setattr(mpremote_link, "CONNECT_TIMEOUT", 0.5)
    master, slave = os.openpty()
    try:
        assert main(["flash", "--port", os.ttyname(slave), "--board", BOARD]) == 2
    finally:
        os.close(master)
        os.close(slave)
    captured = capsys.readouterr()
    assert "did not answer as a MicroPython board" in captured.err
    assert captured.err.count("\n") == 1

    assert main(["flash", "--port", missing, "--board", "nonesuch"]) == 2
    assert "unknown board 'nonesuch'" in capsys.readouterr().err


def test_auto_detect(tmp_path, capsys, monkeypatch):
    import serial.tools.list_ports
    from serial.tools.list_ports_common import ListPortInfo

    monkeypatch.setattr(serial.tools.list_ports, "comports", lambda *a, **k: [])
    assert main(["flash", "--board", BOARD, "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "no board found" in err and "--port" in err

    root = tmp_path / "board"
    with EmulatedBoard(root) as board:
        info = ListPortInfo(board.port, skip_link_detection=True)
        info.vid, info.pid = 0x303A, 0x1001  # Espressif USB JTAG/serial
        monkeypatch.setattr(serial.tools.list_ports, "comports", lambda *a, **k: [info])
        assert main(["flash", "--board", BOARD, "--dry-run"]) == 0
    assert f"board on {board.port}" in capsys.readouterr().out


# --------------------------------------------------------------------------------------
# --romfs: the firmware's .mpy files in a ROMFS image, run in place from /rom

ROMFS_BYTES = 256 * 1024


def _image(firmware: Path, tmp_path: Path) -> bytes:
    """The ROMFS image `flash --romfs` deploys (same build, same builder)."""
    files = flash.compile_firmware(firmware, BOARD, tmp_path / "build-rom")
    _, in_rom = flash.split_romfs(files)
    return flash.build_romfs_image(in_rom, tmp_path / "staging")


def _install_files(root: Path, expected: dict) -> None:
    """A files install (what `repband flash` without --romfs leaves), put in place
    directly: quicker than flashing it."""
    for path, data in expected.items():
        dst = root / path.lstrip("/")
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(data)


def _rom_writes(board: EmulatedBoard, since: int = 0) -> list[bytes]:
    return [b for b in board.blocks[since:]
            if b.startswith(b"f=open(") or b"rom_ioctl(3," in b or b"rom_ioctl(4," in b]


def test_flash_romfs_end_to_end(tmp_path, firmware, capsys):
    root = tmp_path / "board"
    _user_data(root)
    user_before = _user_snapshot(root)
    expected = _expected_files(firmware, tmp_path)
    image = _image(firmware, tmp_path)

    # A files install first (as today), then the same board moves to ROMFS.
    _install_files(root, expected)
    with EmulatedBoard(root, romfs_bytes=ROMFS_BYTES) as board:
        assert main(["flash", "--port", board.port, "--romfs", "--verify"]) == 0
        out = capsys.readouterr().out
        assert f"ROMFS image: {len(image)} bytes" in out and f"of {ROMFS_BYTES} bytes" in out
        assert "ROMFS image deployed" in out
        assert f"verify: the ROMFS image matches ({len(image)} bytes, sha256" in out
        assert "remove /repcore/detector.mpy  (in the ROMFS image now)" in out
        assert "rmdir  /repcore/" in out

        # The partition holds the image, byte for byte; the filesystem keeps only what
        # the board runs by name, and the user's data.
        assert board.romfs_file.read_bytes()[:len(image)] == image
        assert (root / "main.py").read_bytes() == expected["/main.py"]
        assert (root / "board").read_text() == BOARD + "\n"
        assert list(root.rglob("*.mpy")) == []
        for d in ("repcore", "drivers", "app", "boards"):
            assert not (root / d).exists(), d
        assert _user_snapshot(root) == user_before

        # After a soft reset the board mounts the image at /rom and imports from there.
        assert _loaded(board) == f"LOADED {BOARD} /rom/repcore/detector.mpy /rom/app/app.mpy"

        # Again: the image on the board is identical, nothing is written.
        blocks = len(board.blocks)
        assert main(["flash", "--port", board.port, "--romfs", "--verify"]) == 0
        assert _rom_writes(board, blocks) == []
        assert "ROMFS image deployed" not in capsys.readouterr().out

        # Back to files: they are written and the old image is erased, so the files
        # flashed are the files that run (nothing stale left importable from /rom).
        assert main(["flash", "--port", board.port, "--files", "--verify"]) == 0
        out = capsys.readouterr().out
        assert "erase  ROMFS0" in out and "erased the older repband image" in out
        for path, data in expected.items():
            assert (root / path.lstrip("/")).read_bytes() == data, path
        assert not board.romfs_file.read_bytes().startswith(b"\xd2\xcd\x31")
        r = _mpremote(board.port, "romfs", "query")
        assert "Not a valid ROMFS" in r.stdout, r.stdout + r.stderr
        r = _mpremote(board.port, "exec",
                      "import sys, vfs, repcore.detector\n"
                      "print('PATH', '/rom' in sys.path, len(vfs.mount()),"
                      " repcore.detector.__file__)")
        assert "PATH False 1 repcore/detector.mpy" in r.stdout, r.stdout + r.stderr
    assert _user_snapshot(root) == user_before


def test_flash_picks_romfs_when_the_board_has_a_free_partition(tmp_path, firmware, capsys):
    """Without --romfs or --files: ROMFS when the partition is empty (or repband's),
    files when it holds another image, which is left alone."""
    from mpremote.romfs import make_romfs

    root = tmp_path / "board"
    with EmulatedBoard(root, romfs_bytes=ROMFS_BYTES) as board:
        assert main(["flash", "--port", board.port, "--board", BOARD]) == 0
        assert "installing to ROMFS" in capsys.readouterr().out
        assert _loaded(board) == f"LOADED {BOARD} /rom/repcore/detector.mpy /rom/app/app.mpy"

    other = tmp_path / "other"
    (other / "widgets").mkdir(parents=True)
    (other / "widgets" / "__init__.py").write_text("X = 1\n")
    foreign = make_romfs(str(other), mpy_cross=False)
    root2 = tmp_path / "board2"
    with EmulatedBoard(root2, romfs_bytes=ROMFS_BYTES) as board:
        board.romfs_file.write_bytes(foreign + b"\xff" * (ROMFS_BYTES - len(foreign)))
        assert main(["flash", "--port", board.port, "--board", BOARD]) == 0
        out = capsys.readouterr().out
        assert "installing files" in out and "left alone" in out
        assert board.romfs_file.read_bytes()[:len(foreign)] == foreign
        assert _loaded(board) == f"LOADED {BOARD} repcore/detector.mpy app/app.mpy"


def test_romfs_refused_without_romfs(tmp_path, capsys):
    root = tmp_path / "board"
    _user_data(root)
    before = _snapshot(root)
    with EmulatedBoard(root) as board:  # a standard build: no ROMFS
        rc = main(["flash", "--port", board.port, "--board", BOARD, "--romfs"])
        writes = _rom_writes(board)
    err = capsys.readouterr().err
    assert rc == 2
    assert "has no ROMFS partition" in err and "without --romfs" in err
    assert "docs/flashing.md" in err
    assert err.count("\n") == 1
    assert writes == []
    assert _snapshot(root) == before


def test_romfs_image_too_big_is_refused(tmp_path, capsys):
    root = tmp_path / "board"
    _user_data(root)
    before = _snapshot(root)
    with EmulatedBoard(root, romfs_bytes=4096) as board:
        rc = main(["flash", "--port", board.port, "--board", BOARD, "--romfs"])
        writes = _rom_writes(board)
        partition = board.romfs_file.read_bytes()
    err = capsys.readouterr().err
    assert rc == 2
    assert "larger than the board's ROMFS partition (4096 bytes)" in err
    assert err.count("\n") == 1
    assert writes == []
    assert partition == b"\xff" * 4096
    assert _snapshot(root) == before


def test_romfs_dry_run_changes_nothing(tmp_path, capsys):
    root = tmp_path / "board"
    _user_data(root)
    before = _snapshot(root)
    with EmulatedBoard(root, romfs_bytes=ROMFS_BYTES) as board:
        assert main(["flash", "--port", board.port, "--board", BOARD, "--romfs",
                     "--dry-run"]) == 0
        writes = _rom_writes(board)
        partition = board.romfs_file.read_bytes()
    out = capsys.readouterr().out
    assert "dry run" in out and "deploy ROMFS0" in out and "write  /main.py" in out
    assert "untouched: /config.json, /data/, /log/" in out
    assert writes == []
    assert partition == b"\xff" * ROMFS_BYTES
    assert _snapshot(root) == before


@pytest.mark.parametrize("verify", [True, False], ids=["verify", "deploy-check"])
def test_romfs_verify_detects_a_corrupted_image(tmp_path, firmware, capsys, verify):
    """A deployed image is checked (sha256 on the board) before the files it replaces
    go, with or without --verify."""
    root = tmp_path / "board"
    _user_data(root)
    expected = _expected_files(firmware, tmp_path)
    _install_files(root, expected)
    done, holder = [], []

    def bad_flash_cell(board_root: Path):
        # Once the image is written (mpremote's final rom_ioctl(5)), flip a byte of it.
        board = holder[0]
        if not done and board.blocks and b"rom_ioctl(5," in board.blocks[-1]:
            data = bytearray(board.romfs_file.read_bytes())
            size = flash.RomInfo(1, len(data), bytes(data[:12]), None).image_size
            data[size // 2] ^= 0x40
            board.romfs_file.write_bytes(bytes(data))
            done.append(True)

    with EmulatedBoard(root, romfs_bytes=ROMFS_BYTES, after_block=bad_flash_cell) as board:
        holder.append(board)
        rc = main(["flash", "--port", board.port, "--board", BOARD, "--romfs",
                   *(["--verify"] if verify else [])])
        err = capsys.readouterr().err
        assert rc == 1
        assert done
        assert "verify failed" in err and "ROMFS image" in err and err.count("\n") == 1
        # The bad image was erased before the filesystem was touched: the files install
        # is still there and is what the board runs.
        assert not board.romfs_file.read_bytes().startswith(b"\xd2\xcd\x31")
        for path, data in expected.items():
            assert (root / path.lstrip("/")).read_bytes() == data, path
        r = _mpremote(board.port, "exec", "import repcore.detector\n"
                      "print('FROM', repcore.detector.__file__)")
        assert "FROM repcore/detector.mpy" in r.stdout, r.stdout + r.stderr
