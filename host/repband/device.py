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
- **virtual**: the in-process virtual band (repband.virtual.device: the firmware app
  on emulated hardware and radio), persistent in the per-user state folder
  (`$REPBAND_STATE_DIR` overrides it). A command hands its coroutine to the band's
  own event loop with `run_virtual(coro_fn)`; inside it `open_device("virtual")`
  connects a `VirtualClient` (this computer's bond keys kept in the state folder
  too) and `scan("virtual")` sees the band's advertising.

Every failure of the Bluetooth stack becomes a `DeviceError` whose message says what
to do; `exit_code` is repband.exits.FIX (2) for a machine that cannot do Bluetooth right
now (adapter off or missing, no permission, BlueZ or D-Bus not running) and FAILED (1)
for the rest (band not found, connection failed, not paired). `explain(exc)` does the
mapping, with each platform's remedy.
"""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from repcore import protocol_host as P

from repband import exits

VIRTUAL = "virtual"
STATE_ENV = "REPBAND_STATE_DIR"  # overrides the per-user state folder
DEVICE_ENV = "REPBAND_DEVICE"  # default for --device
SPEED_ENV = "REPBAND_VIRTUAL_SPEED"  # virtual band time per real time; "fast": no pacing


# ---------------------------------------------------------------------------- errors


class DeviceError(Exception):
    """A clear, one-line failure with its remedy."""

    exit_code = exits.FAILED


class BluetoothUnavailable(DeviceError):
    """Bluetooth is off, missing, not permitted or its service is not running."""

    exit_code = exits.FIX


class DeviceNotFound(DeviceError):
    pass


class ConnectFailed(DeviceError):
    pass


def _platform() -> str:
    """'linux', 'darwin' or 'win32' (what the remedies are written for; tests inject it)."""
    return "darwin" if sys.platform == "darwin" else "win32" if sys.platform.startswith("win") else "linux"


# What is missing, and how to fix it, on each platform bleak runs on. bleak reports the
# first four as BleakBluetoothNotAvailableError with a reason (BlueZ, CoreBluetooth,
# WinRT); on Linux the system D-Bus itself may be missing, before bleak says anything.
_REMEDY = {
    "off": {"linux": "turn it on (`bluetoothctl power on`, or the Bluetooth settings; `rfkill list` shows a "
                     "blocked adapter)",
            "darwin": "turn it on (Control Centre > Bluetooth, or System Settings > Bluetooth)",
            "win32": "turn it on (Settings > Bluetooth & devices > Bluetooth, and Airplane mode off)"},
    "permission": {"linux": "run repband as a user BlueZ's D-Bus policy allows (on most systems: add yourself to "
                            "the `bluetooth` group, then log in again)",
                   "darwin": "allow your terminal app under System Settings > Privacy & Security > Bluetooth, "
                             "then start the terminal again",
                   "win32": "allow apps to use Bluetooth under Settings > Privacy & security > Radios"},
    "adapter": {"linux": "plug in or enable a Bluetooth LE adapter (`bluetoothctl list` shows none; `rfkill list` "
                         "shows a blocked one)",
                "darwin": "this Mac reports no Bluetooth: check System Information > Bluetooth",
                "win32": "plug in or enable a Bluetooth LE adapter (Device Manager > Bluetooth shows none)"},
    "central": {"linux": "use a Bluetooth 4.0 (LE) adapter: this one cannot connect to LE devices",
                "darwin": "this Mac's Bluetooth cannot connect to LE devices",
                "win32": "use a Bluetooth 4.0 (LE) adapter: this one cannot connect to LE devices"},
}
NO_SERVICE = ("the Bluetooth service is not running: start it (`sudo systemctl start bluetooth`; "
              "`systemctl status bluetooth` says why it stopped) and try again")
NO_DBUS = ("the Bluetooth service cannot be reached: this computer's system D-Bus is not running "
           "(no /run/dbus/system_bus_socket), so BlueZ is not either: start them (`sudo systemctl start dbus "
           "bluetooth`; in a container, give it the host's /run/dbus) and try again")
NOT_READY = ("Bluetooth is not ready (the system's Bluetooth is starting or restarting): wait a few "
             "seconds and try again; switch Bluetooth off and on if it stays so")
NOT_FOUND = ("no repband band found{what}: wake the band (press its button), keep it within a few "
             "metres, check it shows up in `repband scan`, then try again (or use --device virtual)")


def unavailable(what: str) -> "BluetoothUnavailable":
    """This computer cannot do Bluetooth now: `what` is off, permission, adapter or central."""
    head = {"off": "Bluetooth is turned off", "permission": "no permission to use Bluetooth",
            "adapter": "no Bluetooth adapter found",
            "central": "this Bluetooth adapter cannot connect to Bluetooth LE devices"}[what]
    return BluetoothUnavailable(f"{head}: {_REMEDY[what][_platform()]}, and try again")


def _not_found(spec=None) -> DeviceNotFound:
    return DeviceNotFound(NOT_FOUND.format(what=f" at '{spec}'" if spec else ""))


def explain(exc: BaseException, spec: str | None = None) -> DeviceError:
    """The DeviceError for a failure of bleak / BlueZ / CoreBluetooth / the OS."""
    from repband.link import NOT_PAIRED

    if isinstance(exc, DeviceError):
        return exc
    name = type(exc).__name__
    text = str(exc)
    low = text.lower()
    dbus = (getattr(exc, "dbus_error", None) or "") if name == "BleakDBusError" else ""
    reason = getattr(getattr(exc, "reason", None), "name", "") if name == "BleakBluetoothNotAvailableError" else ""
    if reason == "POWERED_OFF":
        return unavailable("off")
    if reason.startswith("DENIED"):
        return unavailable("permission")
    if reason == "NO_BLUETOOTH":
        return unavailable("adapter")
    if reason == "NO_BLE_CENTRAL_ROLE":
        return unavailable("central")
    if reason == "UNKNOWN":
        return BluetoothUnavailable(NOT_READY)
    if dbus == "org.bluez.Error.NotPermitted" and "not paired" in low:
        return ConnectFailed(NOT_PAIRED)
    if dbus in ("org.bluez.Error.NotReady",) or "not ready" in low and "bluez" in low \
            or "turned off" in low or "powered off" in low or "no powered bluetooth adapters" in low:
        return unavailable("off")
    if dbus in ("org.freedesktop.DBus.Error.AccessDenied", "org.bluez.Error.NotPermitted",
                "org.bluez.Error.NotAuthorized", "org.freedesktop.DBus.Error.AuthFailed") \
            or isinstance(exc, PermissionError) or "unauthorized" in low or "not authorized" in low \
            or "access denied" in low or "permission" in low:
        return unavailable("permission")
    if isinstance(exc, (FileNotFoundError, ConnectionRefusedError)) and _platform() == "linux":
        # bleak's D-Bus connection: the socket is missing (no filename in the error)
        return BluetoothUnavailable(NO_DBUS)
    if dbus in ("org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NoServer") \
            or "org.bluez was not provided" in low:
        return BluetoothUnavailable(NO_SERVICE)
    if "no bluetooth adapter" in low or ("adapter" in low and "not found" in low) \
            or "bluetooth is unsupported" in low or dbus == "org.bluez.Error.NoSuchAdapter":
        return unavailable("adapter")
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
    """Settings this computer wrote to a band: what `config` shows for a band whose
    firmware (protocol 1.0) cannot report its own."""
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
        from repband.virtual.bluez import parse_adv

        client = _virtual_client()
        radio = client.band.radio
        adv = radio.adv if radio.active() else None
        if adv is None:  # asleep, or connected to another central: not advertising
            return []
        name = parse_adv(adv[2])["name"] or parse_adv(adv[1])["name"] or client.name
        return [Found(client.address, name, -42, True, True)]
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

_virtual: contextvars.ContextVar = contextvars.ContextVar("repband_virtual_client", default=None)


def virtual_dir() -> Path:
    """The flash of this user's virtual band (config, session log, its bond keys)."""
    return state_dir() / "virtual-band"


def virtual_speed(default: float | None = None) -> float | None:
    """The virtual band's time per real time: $REPBAND_VIRTUAL_SPEED ("fast": as fast as
    it goes, a number: that many times real time), else `default` (None: fast)."""
    v = os.environ.get(SPEED_ENV, "").strip().lower()
    if not v:
        return default
    if v in ("fast", "0"):
        return None
    try:
        return max(0.01, float(v))
    except ValueError:
        return default


def run_virtual(coro_fn, *, play: bool = False, realtime: bool = False):
    """Run `await coro_fn()` with this user's virtual band (repband.virtual.device: the
    firmware app on emulated hardware and radio; its flash in virtual_dir(), kept
    between commands; a new one has first recorded a simulated routine). The band
    boots for the call and `coro_fn` runs on its own event loop, where
    `open_device("virtual")` and `scan("virtual")` reach it; time there is the band's
    (the loop's time()). `play`: the band is worn through the routine meanwhile, else
    it lies still. `realtime`: its time runs at real time (a live view), else as fast
    as it goes; $REPBAND_VIRTUAL_SPEED overrides both."""
    from repband.virtual.device import run_with_virtual

    async def go(client):
        token = _virtual.set(client)
        try:
            return await coro_fn()
        finally:
            _virtual.reset(token)

    bonds = state_dir() / "virtual-bonds.json"  # this computer's half of the bond
    keys = _load_json(bonds)
    before = dict(keys)
    try:
        return run_with_virtual(go, state_dir=virtual_dir(), connect=False, play=play, mtu=247, pair=False,
                                keys=keys, horizon_s=24 * 3600.0, speed=virtual_speed(1.0 if realtime else None))
    finally:
        if keys != before:
            _save_json(bonds, keys)


def _virtual_client():
    client = _virtual.get()
    if client is None:
        raise DeviceError("the virtual band runs on its own event loop: run the command through "
                          "repband.device.run_virtual")
    return client


@contextlib.asynccontextmanager
async def _open_virtual(timeout: float, encrypt: bool = True):
    from repband.virtual import bluetooth as vbt

    client = _virtual_client()
    try:
        await client.connect(timeout=timeout, encrypt=encrypt)
    except vbt.PairingError:
        await client.disconnect()
        raise ConnectFailed("the band no longer knows this computer (it was reset or forgot its "
                            "pairings): pair again with `repband pair --device virtual`") from None
    except vbt.Disconnected as exc:
        raise ConnectFailed(f"could not connect to the virtual band ({exc}); try again") from None
    try:
        yield client
    finally:
        await client.disconnect()


# ---------------------------------------------------------------------------- entry point


def resolve_spec(spec: str | None) -> str | None:
    """--device, else $REPBAND_DEVICE, else None (the first band found)."""
    if spec:
        return spec
    return os.environ.get(DEVICE_ENV) or None


@contextlib.asynccontextmanager
async def open_device(spec: str | None, *, timeout: float = 10.0, attempts: int = 3, encrypt: bool = True):
    """Connect to the band `spec` (address, advertised name, None: the first band
    found, "virtual": the in-process virtual band, from inside run_virtual, waiting up
    to `timeout` of its seconds for it to advertise); yields the connected client and
    disconnects at the end. Raises DeviceError with a clear message. `encrypt=False`:
    do not resume an earlier bond (before `pair()`; bleak's stacks decide themselves)."""
    spec = resolve_spec(spec)
    if spec == VIRTUAL:
        async with _open_virtual(timeout, encrypt) as dev:
            yield dev
        return
    async with _open_bleak(spec, timeout, attempts) as dev:
        yield dev
