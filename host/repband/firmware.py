"""Where the firmware tree is: the files the board runs, used unchanged on the host.

A wheel carries `firmware/` as the package data `repband/_firmware` (see pyproject);
an editable install or a checkout uses `firmware/` itself. `$REPBAND_FIRMWARE` points
elsewhere (a tree being developed, a snapshot under test).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path


class FirmwareNotFound(RuntimeError):
    pass


def _is_firmware(path: Path) -> bool:
    return (path / "repcore").is_dir() and (path / "app").is_dir() and (path / "boards").is_dir()


def firmware_root() -> Path:
    """The firmware tree (folder holding repcore/, drivers/, app/, boards/, main.py)."""
    env = os.environ.get("REPBAND_FIRMWARE")
    if env:
        if not _is_firmware(Path(env)):
            raise FirmwareNotFound(f"REPBAND_FIRMWARE={env} is not a firmware folder "
                                   "(it needs repcore/, app/ and boards/)")
        return Path(env)
    here = Path(__file__).resolve().parent
    for cand in (here / "_firmware", here.parents[1] / "firmware"):
        if _is_firmware(cand):
            return cand
    raise FirmwareNotFound("cannot find the firmware folder: reinstall repband, or set "
                           "REPBAND_FIRMWARE to a checkout's firmware/")


def import_firmware() -> Path:
    """Make the firmware's top-level packages (app, drivers, boards) importable here,
    for the virtual device and the emulators. `repcore` is the installed package."""
    root = firmware_root()
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return root
