"""Device backends for the BLE commands: a real band through bleak, or the virtual band
in this process.

    async with open_device(spec) as client:      # spec: address, name, None or "virtual"
        await check_version(client)               # repband.link works on `client`
    found = await scan(spec=None, timeout=5.0)    # [Found(address, name, rssi, ...)]

`client` satisfies the GATT client interface of `repband.link` (read, write,
start_notify, stop_notify, is_connected) and adds `address`, `name`, `virtual`,
`pair()` and `disconnect()`.

- **bleak** (any other spec): the device is looked up by address (or by advertised name;
  no spec: the first band advertising the repband service), connected with
  bleak-retry-connector's `establish_connection` (retries with backoff) and wrapped in
  `repband.link.GattAdapter`.
- **virtual**: `VIRTUAL_FACTORY(state_dir)` builds the band (default
  `make_virtual_band`: the firmware's `BandService` on the emulated `bluetooth` module,
  over a `SessionLog` in the per-user state dir), a `Central` connects to it and an
  `Air` pumps the radio while the device is open. The factory is the one place to
  point at a fuller virtual device; what it must return is in `make_virtual_band`.

Every failure of the Bluetooth stack becomes a `DeviceError` whose message says what
to do; `exit_code` is 2 for a machine that cannot do Bluetooth right now (adapter off
or missing, no permission, BlueZ not running) and 1 for the rest (band not found,
connection failed). `explain(exc)` does the mapping.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repband.firmware import import_firmware
from repcore import protocol as P

VIRTUAL = "virtual"
EXIT_BLUETOOTH = 2  # the computer cannot do Bluetooth now: the user must fix something
EXIT_FAILED = 1  # the band was not found / could not be reached

STATE_ENV = "REPBAND_STATE_DIR"  # overrides the per-user state folder
DEVICE_ENV = "REPBAND_DEVICE"  # default for --device
SPEED_ENV = "REPBAND_VIRTUAL_SPEED"  # virtual band time per real time; "fast": no pacing


# ---------------------------------------------------------------------------- errors


class DeviceError(Exception):
    """A clear, one-line failure with its remedy."""

    exit_code = EXIT_FAILED


class BluetoothUnavailable(DeviceError):
    """Bluetooth is off, missing, not permitted or its service is not running."""

    exit_code = EXIT_BLUETOOTH


class DeviceNotFound(DeviceError):
    pass


class ConnectFailed(DeviceError):
    pass


OFF = ("Bluetooth is turned off: turn it on (system settings, or `bluetoothctl power on`; "
       "check `rfkill list` for a blocked adapter) and try again")
NO_ADAPTER = ("no Bluetooth adapter found: plug in or enable a Bluetooth LE adapter "
              "(`bluetoothctl list` shows none) and try again")
NO_PERMISSION = ("no permission to use Bluetooth: allow this terminal to use Bluetooth "
                 "(macOS: System Settings > Privacy & Security > Bluetooth; Linux: run as a user "
                 "in the `bluetooth` group or allowed by the D-Bus policy) and try again")
NO_SERVICE = ("the Bluetooth service is not running: start it (`sudo systemctl start bluetooth`) "
              "and try again")
NOT_FOUND = ("no repband band found{what}: wake the band (press its button), keep it within a few "
             "metres, check it shows up in `repband scan`, then try again (or use --device virtual)")


def _not_found(spec=None) -> DeviceNotFound:
    return DeviceNotFound(NOT_FOUND.format(what=f" at '{spec}'" if spec else ""))


def explain(exc: BaseException, spec: str | None = None) -> DeviceError:
    """The DeviceError for a failure of bleak / BlueZ / CoreBluetooth / the OS."""
    if isinstance(exc, DeviceError):
        return exc
    name = type(exc).__name__
    text = str(exc)
    low = text.lower()
    dbus = (getattr(exc, "dbus_error", None) or "") if name == "BleakDBusError" else ""
    reason = getattr(getattr(exc, "reason", None), "name", "") if name == "BleakBluetoothNotAvailableError" else ""
    if reason == "POWERED_OFF":
        return BluetoothUnavailable(OFF)
    if reason.startswith("DENIED"):
        return BluetoothUnavailable(NO_PERMISSION)
    if reason in ("NO_BLUETOOTH", "NO_BLE_CENTRAL_ROLE"):
        return BluetoothUnavailable(NO_ADAPTER)
    if dbus in ("org.bluez.Error.NotReady",) or "not ready" in low and "bluez" in low \
            or "turned off" in low or "powered off" in low or "no powered bluetooth adapters" in low:
        return BluetoothUnavailable(OFF)
    if dbus in ("org.freedesktop.DBus.Error.AccessDenied", "org.bluez.Error.NotPermitted",
                "org.bluez.Error.NotAuthorized", "org.freedesktop.DBus.Error.AuthFailed") \
            or isinstance(exc, PermissionError) or "unauthorized" in low or "not authorized" in low \
            or "access denied" in low or "permission" in low:
        return BluetoothUnavailable(NO_PERMISSION)
    if dbus in ("org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NoServer") \
            or (isinstance(exc, (FileNotFoundError, ConnectionRefusedError)) and "dbus" in low) \
            or "system_bus_socket" in low or "org.bluez was not provided" in low:
        return BluetoothUnavailable(NO_SERVICE)
    if "no bluetooth adapter" in low or ("adapter" in low and "not found" in low) \
            or "bluetooth is unsupported" in low or dbus == "org.bluez.Error.NoSuchAdapter":
        return BluetoothUnavailable(NO_ADAPTER)
    if name in ("BleakDeviceNotFoundError", "BleakNotFoundError") or dbus == "org.freedesktop.DBus.Error.UnknownObject":
        return _not_found(spec)
    if dbus in ("org.bluez.Error.AuthenticationFailed", "org.bluez.Error.AuthenticationRejected",
                "org.bluez.Error.AuthenticationCanceled") or "pairing" in low or "bond" in low:
        return ConnectFailed(f"pairing with the band failed ({text}): remove the old pairing "
                             f"(`bluetoothctl remove {spec or 'ADDRESS'}`), then `repband pair` again")
    if isinstance(exc, asyncio.TimeoutError) or name in ("BleakConnectionError", "BleakAbortedError",
                                                        "BleakOutOfConnectionSlotsError"):
        return ConnectFailed(f"could not connect to the band{f' {spec}' if spec else ''} "
                             f"({text or name}): bring it closer, make sure no other phone or computer "
                             f"is connected to it, and try again")
    return ConnectFailed(f"Bluetooth error: {text or name}")


# ---------------------------------------------------------------------------- state dir


def state_dir() -> Path:
    """Where repband keeps host-side state (bonds of the virtual band, last settings
    written to each band, the virtual band itself): $REPBAND_STATE_DIR or platformdirs."""
    env = os.environ.get(STATE_ENV)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_state_dir("repband", appauthor=False))


def _load_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _save_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def remember_settings(address: str, changes: dict) -> dict:
    """Settings this computer wrote to a band (protocol 1.0 cannot read them back)."""
    path = state_dir() / "band-settings.json"
    data = _load_json(path)
    cur = dict(data.get(address) or {})
    cur.update(changes)
    cur["written_ms"] = int(time.time() * 1000)
    data[address] = cur
    _save_json(path, data)
    return cur


def remembered_settings(address: str) -> dict:
    return dict(_load_json(state_dir() / "band-settings.json").get(address) or {})


# ---------------------------------------------------------------------------- scanning


@dataclass
class Found:
    address: str
    name: str | None
    rssi: int | None
    repband: bool  # advertises the repband service
    virtual: bool = False

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _adv_name(data: bytes) -> str | None:
    i = 0
    while i + 1 < len(data):
        n = data[i]
        if n == 0:
            break
        if data[i + 1] in (0x08, 0x09):
            return bytes(data[i + 2:i + 1 + n]).decode("utf-8", "replace")
        i += 1 + n
    return None


async def _bleak_discover(timeout: float):
    """[(address, name, rssi, service uuids)] of what advertises nearby (bleak)."""
    from bleak import BleakScanner

    found = await BleakScanner.discover(timeout=timeout, return_adv=True)
    out = []
    for d, adv in found.values():
        out.append((d.address, adv.local_name or d.name, adv.rssi, [u.lower() for u in adv.service_uuids]))
    return out


async def scan(spec: str | None = None, timeout: float = 5.0, all_devices: bool = False) -> list[Found]:
    """Bands advertising nearby (everything with `all_devices`). spec "virtual": the
    virtual band only."""
    if spec == VIRTUAL:
        band = virtual_band()
        adv = band.ble.adv
        if adv is None:  # connected to another central: not advertising
            return []
        return [Found(band.address, _adv_name(adv[2]) or _adv_name(adv[1]) or band.name, -42, True, True)]
    try:
        seen = await _bleak_discover(timeout)
    except Exception as exc:
        raise explain(exc) from None
    svc = P.SERVICE_UUID.lower()
    out = []
    for address, name, rssi, uuids in seen:
        is_band = svc in uuids or (name or "").lower().startswith("repband")
        if is_band or all_devices:
            out.append(Found(address, name, rssi, is_band))
    out.sort(key=lambda f: (not f.repband, -(f.rssi if f.rssi is not None else -999)))
    return out


# ---------------------------------------------------------------------------- bleak


def _looks_like_address(spec: str) -> bool:
    s = spec.replace("-", ":")
    parts = s.split(":")
    if len(parts) == 6 and all(len(p) == 2 for p in parts):
        return all(c in "0123456789abcdefABCDEF" for c in "".join(parts))
    return len(spec) == 36 and spec.count("-") == 4  # a CoreBluetooth UUID


async def _bleak_find(spec: str | None, timeout: float):
    """The BLEDevice for spec (address, name, or None: the first repband band), or None."""
    from bleak import BleakScanner

    if spec and _looks_like_address(spec):
        return await BleakScanner.find_device_by_address(spec, timeout=timeout)
    svc = P.SERVICE_UUID.lower()

    def match(d, adv):
        name = adv.local_name or d.name or ""
        if spec:
            return name == spec
        return svc in [u.lower() for u in adv.service_uuids] or name.lower().startswith("repband")

    return await BleakScanner.find_device_by_filter(match, timeout=timeout)


async def _bleak_connect(device, attempts: int, disconnected_callback=None):
    """A connected bleak client, with retries and backoff (bleak-retry-connector)."""
    try:
        from bleak_retry_connector import BleakClientWithServiceCache, establish_connection
    except ImportError:  # pragma: no cover - the dependency is declared; keep a fallback
        establish_connection = None
    if establish_connection is not None:
        return await establish_connection(BleakClientWithServiceCache, device, device.name or device.address,
                                          disconnected_callback=disconnected_callback,
                                          max_attempts=max(1, attempts))
    from bleak import BleakClient  # pragma: no cover

    delay = 0.25  # pragma: no cover
    for i in range(max(1, attempts)):  # pragma: no cover
        client = BleakClient(device, disconnected_callback=disconnected_callback)
        try:
            await client.connect()
            return client
        except Exception:
            if i + 1 >= attempts:
                raise
            await asyncio.sleep(delay)
            delay *= 2


class BleakDevice:
    """A connected band over bleak: repband.link's client interface plus pairing."""

    virtual = False
    protocol_version = ""  # set by the commands after check_version

    def __init__(self, client, address: str, name: str | None):
        from repband.link import GattAdapter

        self._adapter = GattAdapter(client)
        self.client = client
        self.address = address
        self.name = name

    @property
    def is_connected(self):
        return self.client.is_connected

    @property
    def mtu(self):
        return getattr(self.client, "mtu_size", 23)

    async def read(self, uuid):
        return await self._adapter.read(uuid)

    async def write(self, uuid, data, response=True):
        await self._adapter.write(uuid, data, response)

    async def start_notify(self, uuid, callback):
        await self._adapter.start_notify(uuid, callback)

    async def stop_notify(self, uuid):
        await self._adapter.stop_notify(uuid)

    async def pair(self):
        try:
            await self.client.pair()
        except NotImplementedError:  # macOS pairs on demand
            pass
        except Exception as exc:
            raise explain(exc, self.address) from None

    async def disconnect(self):
        with contextlib.suppress(Exception):
            await self.client.disconnect()


@contextlib.asynccontextmanager
async def _open_bleak(spec, timeout, attempts):
    try:
        dev = await _bleak_find(spec, timeout)
    except Exception as exc:
        raise explain(exc, spec) from None
    if dev is None:
        raise _not_found(spec)
    try:
        client = await _bleak_connect(dev, attempts)
    except Exception as exc:
        raise explain(exc, spec or dev.address) from None
    band = BleakDevice(client, dev.address, dev.name)
    try:
        yield band
    finally:
        await band.disconnect()


# ---------------------------------------------------------------------------- virtual


def _shift(ev, dt):
    """An event tuple (repcore.events) with its times moved by dt ms."""
    ev = list(ev)
    k = ev[0]
    ev[1] += dt
    if k in (2, 3):  # hold, set: (t_start, t_end)
        ev[2] += dt
    return tuple(ev)


def _due(ev):
    return ev[2] if ev[0] in (2, 3) else ev[1]


def _start_of(ev):
    if ev[0] == 1:
        return ev[1] - ev[6] - ev[7] - ev[8]
    return ev[1]


SCENARIO = "routine"
RAW_PERIOD_10US = 962  # 104 Hz


def simulated_session(seed: int = 1, leg: str = "right", placement: str = "thigh"):
    """(int sample rows (t_ms, mg x3, 0.1 deg/s x3), detector events) of a simulated
    routine (repband.sim through repcore.detector.Detector)."""
    from repband import sim
    from repband.recording import to_samples
    from repband.replay import LEGS, PLACEMENTS, run_events

    rec = sim.simulate(SCENARIO, seed=seed, leg=leg, placement=placement, mount="nominal",
                       rate_hz=104.0, gyro=True)[0]
    rows = to_samples(rec)
    events = run_events(rows, LEGS[leg], PLACEMENTS[placement], 0, True)
    return rows, events


class VirtualBand:
    """A band in this process: `BandService` (firmware/app/ble.py) on the emulated
    `bluetooth` module over a `SessionLog` in `root`, with the wearer's motion from a
    simulated routine. Each instance is one boot of the band. Settings (config.json),
    bond keys (secrets.json) and the log persist in `root`.

    What the commands need of a virtual device (and what a replacement factory must
    give): `ble` (repband.virtual.bluetooth.BLE), `pumps` (callables run every
    connection interval: the firmware's poll and anything else), `address`, `name`,
    `close()`.
    """

    def __init__(self, root: Path, seed: int = 1):
        import_firmware()
        from app import config as cfgmod
        from app.ble import BandService, Secrets
        from app.session import Sessions
        from repcore.store import SessionLog

        from repband.virtual import bluetooth as bt

        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.seed = seed
        self.cfgmod = cfgmod
        self.cfg, _fault = cfgmod.load(str(self.root / "config.json"))
        self.log = SessionLog(str(self.root / "log"), capacity=256 * 1024, segment_size=4096)
        self.ble = bt.BLE()
        self.address = ":".join(f"{b:02X}" for b in self.ble.addr)
        self.name = "repband-virtual"
        self.epoch_s = 0
        self.controls: list = []
        self.central_faults: dict | None = None  # test hook: faults for the next connection
        self.svc = BandService(self.ble, self.log, bt=bt, uptime_ms=self.ble.now_ms, on_control=self._control,
                               on_time=self._on_time, name=self.name, model="virtual",
                               firmware="virtual-1", secrets=Secrets(str(self.root / "secrets.json")))
        self.sessions = Sessions(_EpochLog(self), target_reps=self.cfg["target_reps"])
        self._rows = None
        self._events = None
        self._motion_t0 = None  # band ms at which the motion playback started
        self._skip = 0  # recording ms that band ms _motion_t0 corresponds to
        self._ev_i = 0
        self._raw_i = 0
        self._raw_t0 = 0
        if not (self.root / "filled").exists():
            self._fill()
        self.svc.set_battery(87)
        self.svc.start()
        self.pumps = [self.svc.poll, self._motion]

    # -- the simulated wearer --------------------------------------------------------

    def _timeline(self):
        if self._events is None:
            cache = self.root / f"events-{self.seed}-{self.cfg['leg']}-{self.cfg['placement']}.json"
            data = _load_json(cache)
            if data.get("events"):
                self._events = [tuple(e) for e in data["events"]]
            else:
                self._rows, events = simulated_session(self.seed, self.cfg["leg"], self.cfg["placement"])
                self._events = [tuple(int(x) for x in e) for e in events]
                _save_json(cache, {"events": [list(e) for e in self._events]})
        return self._events

    def _samples(self):
        if self._rows is None:
            self._rows, _ev = simulated_session(self.seed, self.cfg["leg"], self.cfg["placement"])
        return self._rows

    def _fill(self):
        """A first, already finished session on the band, as if worn before (records
        with a wall clock: the session ended about five minutes ago)."""
        events = self._timeline()
        t_end = max(_due(e) for e in events) + 1000
        self.epoch_s = int(time.time()) - t_end // 1000 - 300
        s = self.sessions
        leg, placement, mode = self.cfgmod.codes(self.cfg)
        s.start(max(0, _start_of(events[0]) - 1000), mode, placement, leg, self.cfg["target_hold_s"])
        for ev in events:
            s.event(ev, mode, placement, leg, self.cfg["target_hold_s"])
        s.end(t_end, 1)  # END_IDLE
        self.epoch_s = 0  # this boot's clock is not set until a host sets it
        (self.root / "filled").write_text("1\n")

    def _start_motion(self, now):
        events = self._timeline()
        first = min(_start_of(e) for e in events if e[0] in (1, 2))
        self._skip = max(0, first - 5000)
        self._motion_t0 = now
        self._ev_i = 0
        self._raw_i = None

    def _motion(self):
        """Pump: the wearer's motion, from the simulated routine, while a session runs
        (detector events into the session and the live state) or the raw stream is on."""
        if self._motion_t0 is None:
            return
        now = self.ble.now_ms()
        rec_now = self._skip + (now - self._motion_t0)
        dt = self._motion_t0 - self._skip
        s = self.sessions
        if s.active:
            events = self._events
            leg, placement, mode = self.cfgmod.codes(self.cfg)
            while self._ev_i < len(events) and _due(events[self._ev_i]) <= rec_now:
                ev = events[self._ev_i]
                self._ev_i += 1
                if _start_of(ev) < self._skip and ev[0] != 4:
                    continue
                ev = _shift(ev, dt) if ev[0] != 4 else (4, max(now, 0), ev[2])
                s.event(ev, mode, placement, leg, self.cfg["target_hold_s"])
                self.svc.on_event(ev)
            if self._ev_i >= len(events):
                self._end_session(now, 1)
        if self.svc.raw_on:
            rows = self._samples()
            if self._raw_i is None:
                self._raw_i = int(rows[:, 0].searchsorted(self._skip))
                self._raw_t0 = now
                self._raw_n = 0
            while self._raw_i < len(rows):
                t = self._raw_t0 + (self._raw_n * RAW_PERIOD_10US) // 100
                if t > now:
                    break
                r = rows[self._raw_i]
                self.svc.push_raw(t, [int(x) for x in r[1:7]], 1)
                self._raw_i += 1
                self._raw_n += 1
        if not s.active and not self.svc.raw_on:
            self._motion_t0 = None

    def _end_session(self, now, reason):
        s = self.sessions
        if s.active:
            sid = s.sid
            s.end(now, reason)
            self.svc.on_event(("session_end", sid, now, reason))

    # -- the firmware's hooks ----------------------------------------------------------

    def _on_time(self, epoch_s):
        self.epoch_s = epoch_s

    def _control(self, op, params):
        self.controls.append((op, params))
        now = self.ble.now_ms()
        cfg = self.cfg
        changes = {}
        if op == P.CTRL_START:
            s = self.sessions
            if not s.active:
                leg, placement, mode = self.cfgmod.codes(cfg)
                s.start(now, mode, placement, leg, cfg["target_hold_s"])
                self.svc.on_event(("session_start", s.sid, now))
                self._start_motion(now)
            return None
        if op == P.CTRL_STOP:
            self._end_session(now, 3)  # END_HOST
            return None
        if op == P.CTRL_RAW:
            if params and params[0] and self._motion_t0 is None:
                self._start_motion(now)
            self._raw_i = None
            return None
        if op in (P.CTRL_CALIBRATE, P.CTRL_IDENTIFY):
            return None
        if op == P.CTRL_MODE:
            changes["mode"] = {v: k for k, v in self.cfgmod.MODES.items()}.get(params[0])
        elif op == P.CTRL_LEG:
            changes["leg"] = {v: k for k, v in self.cfgmod.LEGS.items()}.get(params[0])
        elif op == P.CTRL_PLACEMENT:
            changes["placement"] = {v: k for k, v in self.cfgmod.PLACEMENTS.items()}.get(params[0])
        elif op == P.CTRL_TARGETS:
            changes["target_reps"], changes["target_hold_s"] = params
        else:
            return P.RESULT_NOT_SUPPORTED
        if any(not self.cfgmod.check(k, v) for k, v in changes.items()):
            return P.RESULT_INVALID
        cfg.update(changes)
        self.sessions.target_reps = cfg["target_reps"]
        self.cfgmod.save(str(self.root / "config.json"), cfg)
        return None

    def close(self):
        with contextlib.suppress(Exception):
            self.svc.stop()
        with contextlib.suppress(Exception):
            self.log.close()


class _EpochLog:
    """The log as app.session.Sessions sees it, stamping the band's wall clock."""

    def __init__(self, band):
        self.band = band

    @property
    def next_seq(self):
        return self.band.log.next_seq

    def append_event(self, rec, session_id):
        return self.band.log.append_event(rec, session_id, self.band.epoch_s)


def make_virtual_band(root: Path) -> VirtualBand:
    """The factory behind `--device virtual`: one band whose state lives in `root`."""
    return VirtualBand(root)


VIRTUAL_FACTORY = make_virtual_band
_bands: dict[str, Any] = {}


def virtual_band(root: Path | None = None):
    """The virtual band of this process for `root` (default: <state dir>/virtual-band):
    made once per process, so reconnects within a command reach the same boot."""
    root = Path(root) if root is not None else state_dir() / "virtual-band"
    key = str(root.resolve())
    band = _bands.get(key)
    if band is None:
        band = _bands[key] = VIRTUAL_FACTORY(root)
    return band


def forget_virtual_bands() -> None:
    """Close the virtual bands of this process (the next use boots them again)."""
    for band in list(_bands.values()):
        with contextlib.suppress(Exception):
            band.close()
    _bands.clear()


class _Pacer:
    """Runs the band's radio: every connection interval, the pumps then the link.
    speed None: as fast as the event loop turns (virtual time); else band time runs
    `speed` times real time."""

    def __init__(self, ble, pumps, speed):
        self.ble = ble
        self.pumps = list(pumps)
        self.speed = speed
        self._task: asyncio.Future | None = None

    def _tick(self):
        for p in self.pumps:
            p()
        self.ble.step()

    async def _run(self):
        if self.speed is None:
            while True:
                self._tick()
                await asyncio.sleep(0)
        t0 = time.monotonic()
        v0 = self.ble.now_us
        step = self.ble.interval_us
        while True:
            due = v0 + (time.monotonic() - t0) * self.speed * 1e6
            n = 0
            while self.ble.now_us + step <= due and n < 1000:
                self._tick()
                n += 1
            await asyncio.sleep(step / 1e6 / self.speed / 2)

    async def __aenter__(self):
        self._task = asyncio.ensure_future(self._run())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc):
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return False


def _speed():
    v = os.environ.get(SPEED_ENV, "1").strip().lower()
    if v in ("fast", "0", ""):
        return None
    try:
        return max(0.01, float(v))
    except ValueError:
        return 1.0


class VirtualDevice:
    """A host connected to the virtual band through the emulation's Central."""

    virtual = True
    protocol_version = ""

    def __init__(self, band, central, bonds_path: Path):
        self.band = band
        self.central = central
        self.address = band.address
        self.name = band.name
        self._bonds = bonds_path

    @property
    def is_connected(self):
        return self.central.is_connected

    @property
    def mtu(self):
        return self.central.mtu

    async def read(self, uuid):
        return await self.central.read(uuid)

    async def write(self, uuid, data, response=True):
        await self.central.write(uuid, data, response)

    async def start_notify(self, uuid, callback):
        await self.central.start_notify(uuid, callback)

    async def stop_notify(self, uuid):
        await self.central.stop_notify(uuid)

    async def pair(self):
        await self.central.pair()
        bonds = _load_json(self._bonds)
        if self.central._ltk is not None:
            bonds[self.address] = self.central._ltk.hex()
            _save_json(self._bonds, bonds)

    async def disconnect(self):
        await self.central.disconnect()


@contextlib.asynccontextmanager
async def _open_virtual(attempts: int, encrypt: bool = True):
    from repband.virtual import bluetooth as bt

    band = virtual_band()
    bonds_path = state_dir() / "virtual-bonds.json"
    central = bt.Central(band.ble, mtu=247)
    key = _load_json(bonds_path).get(band.address)
    if key:
        central._ltk = bytes.fromhex(key)  # this computer's half of an earlier bond
    async with _Pacer(band.ble, band.pumps, _speed()):
        delay = 0.05
        for i in range(max(1, attempts)):
            try:
                await central.connect()
                break
            except bt.Disconnected as exc:  # not advertising (yet): back off and retry
                if i + 1 >= attempts:
                    raise ConnectFailed(f"could not connect to the virtual band ({exc}); try again") from None
                await asyncio.sleep(delay)
                delay *= 2
        faults = getattr(band, "central_faults", None)
        if faults:  # test hook: one-shot faults for this connection
            band.central_faults = None
            central.faults(**faults)
        try:
            await central.exchange_mtu(247)  # BlueZ and CoreBluetooth do this on connect
            if key and encrypt:
                try:
                    await central.encrypt()
                except bt.PairingError:
                    raise ConnectFailed("the band no longer knows this computer (it was reset or "
                                        "forgot its pairings): pair again with `repband pair`") from None
            yield VirtualDevice(band, central, bonds_path)
        finally:
            await central.disconnect()
            for pump in band.pumps:  # the band goes on after the host left (saves its bond keys)
                pump()


# ---------------------------------------------------------------------------- entry point


def resolve_spec(spec: str | None) -> str | None:
    """--device, else $REPBAND_DEVICE, else None (the first band found)."""
    if spec:
        return spec
    return os.environ.get(DEVICE_ENV) or None


@contextlib.asynccontextmanager
async def open_device(spec: str | None, *, timeout: float = 10.0, attempts: int = 3, encrypt: bool = True):
    """Connect to the band `spec` (address, advertised name, None: the first band
    found, "virtual": the in-process virtual band); yields the connected client and
    disconnects at the end. Raises DeviceError with a clear message. `encrypt=False`:
    do not resume an earlier bond (before `pair()`; bleak's stacks decide themselves)."""
    spec = resolve_spec(spec)
    if spec == VIRTUAL:
        async with _open_virtual(attempts, encrypt) as dev:
            yield dev
        return
    async with _open_bleak(spec, timeout, attempts) as dev:
        yield dev
