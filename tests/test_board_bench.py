"""`repband bench --port`: the app bench run on a board over mpremote, here on the
emulated board (repband.emulators.board: a real MicroPython behind a pseudo-terminal)
with the firmware flashed by `repband flash`."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from repband import micropython as mp
from repband.board_bench import DATA_DIR, FIFO_FILE, bench_board
from repband.cli import main
from repband.emulators.board import EmulatedBoard
from repband.flash import FlashError
from repband.recording import to_samples
from repband.sim import simulate

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _firmware(monkeypatch, tmp_path_factory):
    dst = tmp_path_factory.mktemp("fw") / "firmware"
    shutil.copytree(ROOT / "firmware", dst, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setenv("REPBAND_FIRMWARE", str(dst))


@pytest.fixture(scope="module")
def bridges():
    rec, _ = simulate("bridges", seed=2, rate_hz=104.0)
    return np.asarray(to_samples(rec), dtype=np.int64)[: 208 * 45]


def _user_files(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "data").rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("romfs", [False, True], ids=["files", "romfs"])
def test_bench_on_a_board_runs_its_installed_firmware(tmp_path, bridges, romfs):
    """The board counts what the WASI bench counts on the same samples, its own data
    is untouched, nothing of the bench is left on it."""
    root = tmp_path / "board"
    (root / "data" / "log").mkdir(parents=True)
    (root / "data" / "config.json").write_text('{"schema": 1, "leg": "left"}')
    (root / "data" / "log" / "seg00001.bin").write_bytes(bytes(range(256)))
    before = _user_files(root)
    with EmulatedBoard(root, romfs_bytes=256 * 1024 if romfs else 0) as board:
        flags = ["--romfs"] if romfs else []
        assert main(["flash", "--port", board.port, "--board", "m5stickc_plus2", *flags]) == 0
        res = bench_board(board.port, bridges)
    wasi = mp.bench_app(bridges)
    assert res["board_samples"] == wasi["app_samples"] == len(bridges)
    assert res["board_reps"] == wasi["app_reps"] > 0
    assert res["board_records_written"] == wasi["app_records_written"]
    assert res["board_us_per_sample"] > 0 and res["board_heap_after_boot"] > 0
    assert res["board_firmware"].startswith("/rom/") == romfs
    assert res["board_cpu_hz"] == 0  # the emulated board's `machine` has no freq()
    assert _user_files(root) == before
    assert not (root / FIFO_FILE.lstrip("/")).exists()
    assert not (root / DATA_DIR.lstrip("/")).exists()


def test_bench_cli_json_and_a_board_without_firmware(tmp_path, capsys):
    with EmulatedBoard(tmp_path / "bare") as board:
        with pytest.raises(FlashError, match="no repband firmware on the board.*repband flash"):
            bench_board(board.port, np.zeros((26, 7), dtype=np.int64))
        assert main(["bench", "--port", board.port]) == 2
        assert "no repband firmware" in capsys.readouterr().err
        assert main(["flash", "--port", board.port, "--board", "devkit_mpu6050"]) == 0
        capsys.readouterr()
        assert main(["bench", "--port", board.port, "--seconds", "8", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["board_samples"] == 8 * 104 // 208 * 208
    assert got["board_us_per_sample"] > 0 and got["source"]
