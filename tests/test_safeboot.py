"""Crash loops and safe boot (issue 12): main.py's boot (app.safeboot.run) keeps every
crash's traceback on flash, counts crashes in a row (a watchdog reset too), and after
3 of them, or with the board's SAFE_BUTTON held at power-up, leaves the app off so the
REPL and `repband flash` work; `repband crash-log` reads it over USB and `repband
flash` clears the count. The firmware side runs in MicroPython (the WASI build)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from repband import crashlog
from repband.emulators.board import EMULATED_RESTART_LINE, EmulatedBoard
from repband.mpremote_link import RESTART_LINE
from repband.micropython import run_guest

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"

# A stand-in board for main.py's boot: buttons, outputs, reset, the watchdog's mark.
_GUEST = """
import sys
sys.path.insert(0, '/w')
from app import safeboot
import boards

class Hal:
    root = '/w/data'
    def __init__(self, wdt=False, pressed=False):
        self.resets = 0
        self.wdt = wdt
        self.pressed = pressed
        self.out = []
    def watchdog_reset(self):
        return self.wdt
    def button(self, k):
        return self.pressed and board.BUTTONS[k][0] == board.SAFE_BUTTON
    def output(self, mask, on):
        self.out.append((mask, on))
    def reset(self):
        self.resets += 1

board = boards.load(BOARD)
started = []

def crash():
    started.append(1)
    raise ValueError('boot bug %d' % len(started))

def boot(hal, start=crash):
    why = safeboot.run(hal, board, start)
    print('BOOT', repr(why), len(started), hal.resets, safeboot.crashes(hal.root), hal.out)
"""


def _guest(tmp_path, body, board="m5stickc_plus2"):
    for pkg in ("app", "repcore", "boards"):
        shutil.copytree(FIRMWARE / pkg, tmp_path / pkg, dirs_exist_ok=True)
    (tmp_path / "data").mkdir(exist_ok=True)
    out = run_guest(f"BOARD = {board!r}\n" + _GUEST + body, tmp_path).stdout
    return [line for line in out.splitlines() if line.startswith("BOOT")]


def test_a_crash_at_boot_is_kept_counted_and_resets(tmp_path):
    boots = _guest(tmp_path, "boot(Hal())\nboot(Hal())\n")
    assert boots == ["BOOT None 1 1 1 []", "BOOT None 2 1 2 []"]
    log = (tmp_path / "data" / "crash.txt").read_text()
    assert log.startswith("crash 2 in a row\n")
    assert "Traceback" in log and "ValueError: boot bug 2" in log and "crash" in log


def test_three_crashes_in_a_row_boot_safe_until_cleared(tmp_path):
    boots = _guest(tmp_path, "for _ in range(4):\n    boot(Hal())\n"
                             "safeboot.healthy(Hal.root)\nboot(Hal())\n")
    assert boots[:3] == ["BOOT None 1 1 1 []", "BOOT None 2 1 2 []", "BOOT None 3 1 3 []"]
    # the 4th boot: the app is not started, nothing resets, the LED says "on, not counting"
    assert boots[3] == "BOOT '3 crashes in a row' 3 0 3 [(1, True)]"
    assert boots[4] == "BOOT None 4 1 1 []"  # count cleared: the app runs again


def test_watchdog_resets_count_as_crashes(tmp_path):
    boots = _guest(tmp_path, "for _ in range(3):\n    boot(Hal(wdt=True), start=lambda: None)\n")
    assert boots == ["BOOT None 0 0 1 []", "BOOT None 0 0 2 []",
                     "BOOT '3 crashes in a row' 0 0 3 [(1, True)]"]
    assert "watchdog reset" in (tmp_path / "data" / "crash.txt").read_text()


def test_an_interrupt_from_usb_restarts_once_in_safe_boot(tmp_path):
    """Ctrl-C from a host at the USB port (mpremote, `repband flash`) stops the app but
    not its watchdog (machine.WDT cannot be stopped; the REPL does not feed it): the
    board would reset within 10 s, in the middle of a long flash. So the band restarts at
    once in safe boot, once (no watchdog: the REPL for as long as the host needs); the
    boot after runs the app. An interrupt is no crash."""
    boots = _guest(tmp_path, "def ctrl_c():\n    started.append(1)\n    raise KeyboardInterrupt\n"
                             "boot(Hal(), start=ctrl_c)\nboot(Hal(), start=ctrl_c)\n"
                             "boot(Hal(), start=lambda: None)\n")
    assert boots == ["BOOT None 1 1 0 []",
                     "BOOT 'interrupted from USB' 1 0 0 [(1, True)]",
                     "BOOT None 1 0 0 []"]
    assert not (tmp_path / "data" / "crash.txt").exists()


@pytest.mark.parametrize("board", ["m5stickc_plus2", "xiao_esp32s3_lsm6ds3", "devkit_mpu6050"])
def test_safe_button_held_at_power_up(tmp_path, board):
    boots = _guest(tmp_path, "boot(Hal(pressed=True), start=lambda: None)\n"
                             "boot(Hal(), start=lambda: None)\n", board=board)
    assert boots == ["BOOT 'button A held' 0 0 0 [(1, True)]", "BOOT None 0 0 0 []"]


@pytest.mark.parametrize("board", ["m5stickc_plus2", "xiao_esp32s3_lsm6ds3", "devkit_mpu6050"])
def test_safe_button_is_no_strapping_pin(board):
    sys.path.insert(0, str(FIRMWARE))
    import boards

    b = boards.load(board)
    gpio = {name: pin for name, pin, _low in b.BUTTONS}[b.SAFE_BUTTON]
    strapping = {0, 3, 45, 46} if b.MCU == "ESP32-S3" else {0, 2, 5, 12, 15}
    assert gpio not in strapping


def test_host_constants_are_the_firmware_s():
    sys.path.insert(0, str(FIRMWARE))
    from app import safeboot

    assert crashlog.CRASH_COUNT == crashlog.DATA + safeboot.COUNT
    assert crashlog.CRASH_LOG == crashlog.DATA + safeboot.LOG
    assert crashlog.SAFE_AFTER == safeboot.SAFE_AFTER


def _cli(*args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run([sys.executable, "-m", "repband.cli", *args], capture_output=True,
                          text=True, timeout=120, env=env)


def test_crash_log_reads_and_clears_the_band_s(tmp_path):
    root = tmp_path / "board"
    (root / "data").mkdir(parents=True)
    with EmulatedBoard(root) as board:
        res = _cli("crash-log", "--port", board.port)
        assert res.returncode == 0 and res.stdout == "no crash recorded on the band\n"
        (root / "data" / "crash.txt").write_text(
            "crash 3 in a row\nTraceback (most recent call last):\nValueError: boot bug\n")
        (root / "data" / "crashes").write_text("3")
        res = _cli("crash-log", "--port", board.port)
        assert res.returncode == 0
        assert "ValueError: boot bug" in res.stdout and "safe boot: 3 crashes in a row" in res.stdout
        res = _cli("crash-log", "--port", board.port, "--clear")
        assert res.returncode == 0 and "cleared" in res.stdout
        assert not (root / "data" / "crashes").exists() and not (root / "data" / "crash.txt").exists()


def test_crash_log_reads_a_band_whose_app_runs(tmp_path):
    """With the band's app running, the host's Ctrl-C restarts it in safe boot (above):
    crash-log waits until it is back and reads, at once, not after a timeout."""
    root = tmp_path / "board"
    (root / "data").mkdir(parents=True)
    (root / "data" / "crash.txt").write_text("crash 1 in a row\nValueError: once\n")
    with EmulatedBoard(root, running_app=True) as board:
        res = _cli("crash-log", "--port", board.port)
        assert res.returncode == 0, res.stderr
        assert "ValueError: once" in res.stdout and board.hard_resets == 1


def test_the_emulated_band_restarts_as_the_firmware_says():
    source = (FIRMWARE / "app" / "safeboot.py").read_text()
    assert '"' + EMULATED_RESTART_LINE[:60] in source  # the line app.safeboot prints
    assert RESTART_LINE.decode() in EMULATED_RESTART_LINE  # what the host waits for


def test_crash_log_without_a_board_says_so(tmp_path):
    res = _cli("crash-log", "--port", str(tmp_path / "ttyNONE"))
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.startswith("repband: crash-log: port ") and "does not exist" in res.stderr


def test_flash_clears_the_crash_count_and_keeps_the_log(tmp_path, monkeypatch):
    monkeypatch.setenv("REPBAND_FIRMWARE", str(FIRMWARE))
    root = tmp_path / "board"
    (root / "data").mkdir(parents=True)
    (root / "data" / "crash.txt").write_text("crash 3 in a row\nValueError: boot bug\n")
    (root / "data" / "crashes").write_text("3")
    with EmulatedBoard(root) as board:
        res = _cli("flash", "--port", board.port, "--board", "m5stickc_plus2")
        assert res.returncode == 0, res.stdout + res.stderr
    assert not (root / "data" / "crashes").exists()
    assert (root / "data" / "crash.txt").read_text().endswith("boot bug\n")
