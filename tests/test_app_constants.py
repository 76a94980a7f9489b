"""The firmware app and the detector inline constants defined elsewhere (`_NAME =
const(...)`: the MicroPython compiler folds them, so they cost no RAM, where an imported
name costs a slot in the module's dictionary and a lookup at every use): the protocol's
values (private there too), the core's event codes and record kinds, `App.state` values
(each mixin inlines those it uses), the `bluetooth` module's IRQ codes, and the same
private constant in several modules. Each is tied here to its definition."""
import ast
import re
import sys
from importlib import import_module
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "firmware" / "app"
DETECTOR = ROOT / "firmware" / "repcore" / "detector.py"
for p in (ROOT / "firmware", ROOT / "host"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from repband.virtual import bluetooth as emulated_bt  # noqa: E402
from repcore import events, protocol, records  # noqa: E402

_PRIVATE_CONST = re.compile(r"^(_[A-Z][A-Z0-9_]*) = const\(", re.M)


def _inlined():
    """(module name, constant name, value) of every private const() in firmware/app and
    of the event codes the detector folds (its other constants are its own)."""
    out = []
    for path in sorted(APP.glob("*.py")):
        mod = import_module(f"app.{path.stem}")
        for name in _PRIVATE_CONST.findall(path.read_text()):
            out.append((mod.__name__, name, getattr(mod, name)))
    detector = import_module("repcore.detector")
    for name in _PRIVATE_CONST.findall(DETECTOR.read_text()):
        if hasattr(events, name[1:]):
            out.append((detector.__name__, name, getattr(detector, name)))
    return out


# App constants several app modules fold: the module that owns each (a private const
# there too). The others' copies say whose they are.
_OWNERS = {"_FRAME_MAX": "ble", "_BUSY_MS": "ble", "_PAIR_WINDOW_MS": "security",
           "_REBASE_MS": "clock", "_SUPERVISE_MS": "power", "_MAX_SAMPLES": "sampling",
           "_RETRY_MIN_MS": "sampling", "_SCHEMA": "config", "_IDENTITY_FILE": "startup", "_BONDS_FILE": "startup"}


def _definition(name):
    """Where an inlined constant is defined, and its value there (None: app-private)."""
    from app import app as fw_app
    from app import ble, clock, hal, safeboot

    public = name[1:]
    if name.startswith("_ST_"):
        return "app.app", getattr(fw_app, name)
    if name.startswith("_IRQ_"):
        return "repband.virtual.bluetooth (MicroPython's codes)", getattr(emulated_bt, name)
    if hasattr(protocol, name):  # the band's protocol values are private there too
        return "repcore.protocol", getattr(protocol, name)
    if name == "_SAMPLE_WORDS":
        import drivers
        return "drivers", drivers.SAMPLE_WORDS
    for mod in (events, records):  # the core's codes: events, record kinds, end reasons
        if hasattr(mod, public):
            return mod.__name__, getattr(mod, public)
    if name in _OWNERS:
        owner = import_module("app." + _OWNERS[name])
        return owner.__name__, getattr(owner, name)
    for mod in (ble, safeboot, hal, clock):
        if hasattr(mod, public):
            return mod.__name__, getattr(mod, public)
    return None


def test_inlined_constants_equal_their_definitions():
    tied = set()
    for module, name, value in _inlined():
        found = _definition(name)
        if found is None:
            continue
        where, expected = found
        assert value == expected, f"{module}.{name} = {value!r}, but {where} says {expected!r}"
        tied.add(name)
    # Not vacuous: the protocol values the app inlines, the states and the IRQ codes.
    assert {"_CTRL_START", "_CTRL_IDENTIFY", "_RESULT_INVALID", "_LIVE_STORAGE_FULL",
            "_LIVE_SENSOR_FAULT", "_LIVE_HOLD", "_RC_BUSY", "_RAW_SAMPLE", "_STATUS_UUID16",
            "_DIS_SOFTWARE", "_ST_RUN", "_ST_SLEEP", "_FRAME_MAX", "_PAIR_WINDOW_MS",
            "_REBASE_MS", "_SUPERVISE_MS", "_MAX_SAMPLES", "_SCHEMA", "_SAMPLE_WORDS",
            "_BONDS_FILE", "_EV_REP", "_FAULT_SENSOR", "_MODE_CLAM", "_SIDE_LEFT", "_K_SESSION_END",
            "_END_HOST",
            "_IRQ_GATTS_WRITE", "_IRQ_SET_SECRET", "_BUSY_MS", "_HEALTHY_MS", "_OUT_LED"} <= tied


def test_the_detector_imports_no_event_code():
    """The detector folds every code of repcore.events it uses (≈ 1.4 KB of heap less on
    the board than importing them), each tied to its definition above."""
    imported = {node.module for node in ast.walk(ast.parse(DETECTOR.read_text()))
                if isinstance(node, ast.ImportFrom)}
    assert "repcore.events" not in imported
    folded = {n for m, n, _ in _inlined() if m == "repcore.detector"}
    assert {"_EV_REP", "_EV_SET", "_EX_CLAM", "_SIDE_RIGHT", "_CAL_WALKING",
            "_FAULT_UNCALIBRATED", "_MODE_AUTO", "_PLACEMENT_HIP"} <= folded


def test_a_private_constant_has_one_value_across_modules():
    seen = {}
    for module, name, value in _inlined():
        seen.setdefault(name, set()).add((value, module))
    for name, defs in seen.items():
        assert len({v for v, _ in defs}) == 1, f"{name} differs between modules: {sorted(defs)}"
