"""The app's boot (App.boot), run once and dropped from RAM after (app.unload): power
latch, config (read from flash: app.config's file), session log (and the session a reset cut short, app.recovery), the
GATT service on the radio (with the band's identity, app.identity), the detector, the
IMU.
"""
# pyright: reportAttributeAccessIssue=false
# (App's attributes, set in App.__init__ and its mixins)
import json
import os

from repcore.compat import const
from repcore.store import StoreError

from app import config as cfgmod
from app import unload
from app.session import Sessions

_ST_RUN = const(1)  # app.app.ST_RUN
_ST_FAULT = const(4)  # app.app.ST_FAULT
_SCHEMA = const(1)  # app.config's
# What reading config.json found (index of _CFG_FAULTS: the fault it records).
_CFG_OK = const(0)
_CFG_CORRUPT = const(1)  # not JSON, not an object
_CFG_VERSION = const(2)  # another schema version
_CFG_VALUE = const(3)  # a key with a bad value (that key falls back to its default)
_FIRMWARE = const("1.0")  # Device Information firmware revision
_IDENTITY_FILE = const("identity")  # under hal.root, with config.json, bonds.json and log/
_BONDS_FILE = const("bonds.json")
# repcore.events' values (folded here: tests/test_app_constants.py ties them), the
# faults of _CFG_* (index) and of a log that cannot be opened.
_FAULT_CONFIG_CORRUPT = const(16)
_FAULT_CONFIG_VERSION = const(17)
_FAULT_CONFIG_VALUE = const(18)
_FAULT_STORAGE = const(23)
_CFG_FAULTS = const((0, _FAULT_CONFIG_CORRUPT, _FAULT_CONFIG_VERSION, _FAULT_CONFIG_VALUE))


def boot(app):
    hal = app.hal
    hal.power_hold(True)  # first: a latch board switches off when the button is let go
    app._t0 = hal.ticks_ms()
    app._up = 0
    path = hal.root + "/config.json"
    _mkdir(hal.root)
    cfg, fault = load_config(path)
    app.cfg = cfg
    if fault:
        _set_file_aside(path)
    if fault or not _exists(path):
        try:
            cfgmod.save(path, cfg)
        except OSError as e:
            hal.log("config: cannot save: %r" % (e,))
    try:
        app.log = app._make_log(hal.root + "/log", app.log_capacity)
    except (StoreError, OSError, ValueError) as e:
        hal.log("session log unusable: %r" % (e,))
        app.log = None
    app.sessions = Sessions(app.log, cfg["session_idle_s"] * 1000, cfg["target_reps"])
    if app.log is not None:
        try:
            from app.recovery import recover

            sid = recover(app.log)
            if sid:
                hal.log("closed session %d cut short before this boot" % sid)
        except Exception as e:  # a damaged log must not stop the boot
            hal.log("session recovery failed: %r" % (e,))
        unload("app.recovery")
    else:
        app._app_fault(_FAULT_STORAGE)
    app.feedback.configure(cfg)
    if fault:
        hal.log("config: fault %d, using defaults" % fault)
        app._app_fault(_CFG_FAULTS[fault])
        app.feedback.play("config_fault")
    if app.radio is not None:
        start_ble(app)
    app._new_detector(None)
    app._open_imu()
    app.state = _ST_RUN if app.imu is not None else _ST_FAULT
    app._last_active = app.uptime()


def start_ble(app):
    """The GATT service on `app.radio`; the app runs without it if the radio fails."""
    from app import identity
    from app.ble import BandService, Secrets

    hal = app.hal
    try:
        ident, made = identity.load(hal.root + "/" + _IDENTITY_FILE)
        if made:
            hal.log("identity: a new one (first boot, or the flash was wiped)")
    except OSError as e:
        hal.log("identity: cannot save: %r" % (e,))
        ident = None
    unload("app.identity")
    svc = BandService(app.radio, app.log, bt=app.bt, on_control=app._on_control,
                      on_time=app._on_time, ticks_ms=hal.ticks_ms, ticks_diff=hal.ticks_diff,
                      uptime_s=app.uptime_s, wake=hal.flag(),
                      model=getattr(app.board, "NAME", "repband"), firmware=_FIRMWARE,
                      secrets=Secrets(hal.root + "/" + _BONDS_FILE), identity=ident)
    try:
        svc.start()
    except (OSError, ValueError) as e:
        hal.log("ble: cannot start: %r" % (e,))
        return
    app.svc = svc
    app._publish_settings()
    app._hook(svc.on_event)  # no closure here: it would keep this module in RAM


def load_config(path):
    """(config dict, fault code). Never raises for a bad or missing file."""
    cfg = cfgmod.defaults()
    try:
        f = open(path)
    except OSError:
        return cfg, _CFG_OK  # first boot
    try:
        try:
            data = json.loads(f.read())
        finally:
            f.close()
    except (ValueError, OSError, UnicodeError):
        return cfg, _CFG_CORRUPT
    if not isinstance(data, dict):
        return cfg, _CFG_CORRUPT
    if data.get("schema") != _SCHEMA:
        return cfg, _CFG_VERSION
    fault = _CFG_OK
    for key in cfg:
        if key != "schema" and key in data:
            if cfgmod.check(key, data[key]):
                cfg[key] = data[key]
            else:
                fault = _CFG_VALUE
    return cfg, fault


def _set_file_aside(path):
    """Keep a bad file as `path.bad` for diagnosis; its place gets the defaults."""
    try:
        try:
            os.remove(path + ".bad")
        except OSError:
            pass
        os.rename(path, path + ".bad")
    except OSError:
        pass


def _exists(path):
    import os

    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _mkdir(path):
    try:
        os.mkdir(path)
    except OSError:
        pass
