"""The user's settings, persisted as JSON on flash with a schema version.

    {"schema": 1, "leg": "right", "placement": "thigh", "mode": "auto",
     "target_reps": 10, "target_hold_s": 30, "session_idle_s": 180, ...}

Reading it happens once, at boot (app.startup.load_config, dropped from RAM after):
it never fails: a missing file gives the defaults; a corrupt file, a wrong schema
version or a bad value gives the defaults (per file or per key) and a fault code for
the app to log. `save` writes a temporary file and renames it over the old one, so
a power cut leaves either the old or the new file. Names, not codes, are stored so the
file reads well; `codes(cfg)` turns them into the core's codes.
"""
import json
import os

from repcore.compat import const

# repcore.events' values (folded here: tests/test_app_constants.py ties them).
_MODE_AUTO = const(0)
_MODE_BRIDGE = const(1)
_MODE_CLAM = const(2)
_MODE_STRETCH = const(3)
_PLACEMENT_HIP = const(1)
_PLACEMENT_THIGH = const(0)
_SIDE_LEFT = const(1)
_SIDE_RIGHT = const(2)

_SCHEMA = const(1)

LEGS = {"left": _SIDE_LEFT, "right": _SIDE_RIGHT}
PLACEMENTS = {"thigh": _PLACEMENT_THIGH, "hip": _PLACEMENT_HIP}
MODES = {"auto": _MODE_AUTO, "bridge": _MODE_BRIDGE, "clam": _MODE_CLAM, "stretch": _MODE_STRETCH}

# key: (default, low, high) for numbers, (default, choices) for names, (default,) for bools
_SPEC = {
    "leg": ("right", LEGS),
    "placement": ("thigh", PLACEMENTS),
    "mode": ("auto", MODES),
    "target_reps": (10, 1, 100),  # the routine's sets are 10-20 reps: signal at 10
    "target_hold_s": (30, 5, 300),
    "session_idle_s": (180, 30, 3600),  # no rep or hold this long ends the session
    "sleep_idle_s": (120, 10, 3600),  # still, no session, this long: sleep
    "odr_hz": (104, 26, 208),
    "gyro": (True,),
    "vibration": (True,),
    "buzzer": (True,),
    "led": (True,),
    "low_battery_pct": (10, 0, 50),
}


def defaults():
    cfg = {"schema": _SCHEMA}
    for key in _SPEC:
        cfg[key] = _SPEC[key][0]
    return cfg


def check(key, value):
    """True if `value` is acceptable for `key`."""
    spec = _SPEC.get(key)
    if spec is None:
        return False
    if len(spec) == 1:
        return value is True or value is False
    if len(spec) == 2:
        return isinstance(value, str) and value in spec[1]
    return isinstance(value, int) and not isinstance(value, bool) and spec[1] <= value <= spec[2]


def save(path, cfg):
    tmp = path + ".tmp"
    f = open(tmp, "w")
    try:
        f.write(json.dumps(cfg))
    finally:
        f.close()
    try:
        os.rename(tmp, path)  # littlefs and POSIX replace the old file atomically
    except OSError:
        os.remove(path)  # FAT refuses to rename over a file
        os.rename(tmp, path)


def codes(cfg):
    """(leg, placement, mode) codes of the core."""
    return LEGS[cfg["leg"]], PLACEMENTS[cfg["placement"]], MODES[cfg["mode"]]


def update(cfg, changes):
    """Apply the valid changes; return the keys refused."""
    bad = []
    for key in changes:
        if check(key, changes[key]):
            cfg[key] = changes[key]
        else:
            bad.append(key)
    return bad
