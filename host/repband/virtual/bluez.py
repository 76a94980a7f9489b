"""The virtual band behind a BlueZ-compatible D-Bus service, so that the *unmodified*
bleak BlueZ backend (or any BlueZ client) talks to it as if it were a real band seen
through a real Bluetooth adapter.

    from repband.virtual.bluez import PrivateBus, VirtualBlueZ
    with PrivateBus() as bus:                 # a dbus-daemon of our own (unix socket)
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = bus.address   # before bleak connects
        async with VirtualBlueZ(bus.address, devices=1) as bluez:
            ... BleakScanner / BleakClient as usual ...
            bluez.devices[0].band.log          # what the band holds
            bluez.disconnect(0)                # inject a link loss

By hand: ``repband virtual-device --bluez [--devices N]`` prints the bus address.

The service plays the host's Bluetooth controller and bluetoothd: D-Bus method calls
become operations of the emulation's `Central` (repband.virtual.bluetooth) on the
band's emulated radio (`BLE`, where firmware/app/ble.py's `BandService` runs), and
what the Central receives becomes D-Bus signals. Each band is the whole virtual band
(repband.virtual.device: the firmware app on emulated hardware and radio; a new one
has been worn through a simulated routine) running in real time: an asyncio task
brings it up to the time of day every few ms (`poll`) and runs the connection events
due (`BLE.sync`).

Object tree and the BlueZ behaviour reproduced (see docs/virtual-device.md):

- ``/org/bluez/hci0``: org.bluez.Adapter1 (StartDiscovery, StopDiscovery,
  SetDiscoveryFilter, GetDiscoveryFilters, RemoveDevice; Powered, Discovering, ...).
  Discovery sessions are per D-Bus client (and end when the client leaves the bus).
- ``/org/bluez/hci0/dev_XX_XX_XX_XX_XX_XX``: org.bluez.Device1, exported when its
  advertising is first seen during discovery (Name, UUIDs, ManufacturerData,
  ServiceData, AdvertisingFlags, RSSI from the band's advertising and scan response
  data); Connect, Disconnect, Pair, CancelPairing; Connected, ServicesResolved,
  Paired, Bonded, Trusted. Connect runs the ATT MTU exchange (the host's preferred
  MTU, `mtu`), re-encrypts with the stored key when the device is bonded, exports the
  GATT objects and only then sets ServicesResolved. Devices that are neither
  connected, paired nor trusted are removed `temporary_timeout` s after discovery
  stopped, as bluetoothd does.
- ``.../serviceXXXX`` (GattService1), ``.../serviceXXXX/charXXXX``
  (GattCharacteristic1: ReadValue, WriteValue, StartNotify, StopNotify; UUID,
  Service, Value, Notifying, Flags, MTU), ``.../charXXXX/descXXXX`` (the CCCD, a
  GattDescriptor1), named by attribute handle as BlueZ names them. They are removed
  (InterfacesRemoved) when the link goes down.
- Notifications and indications set ``Value`` and emit PropertiesChanged (every time,
  also for a repeated value); a ReadValue does too (BlueZ writes the read value to
  its cache, so a subscribed client sees a read twice).
- A read or write answered "insufficient encryption" raises the link's security once
  and is sent again, as bluetoothd does: re-encryption with the stored key, or (no
  key) a pairing the band may refuse. Only then does the error come back.
- ATT errors map to BlueZ's D-Bus errors (insufficient encryption ->
  ``org.bluez.Error.NotPermitted: Not paired``; read / write not permitted ->
  ``NotPermitted: Read|Write not permitted``; others -> ``org.bluez.Error.Failed:
  Operation failed with ATT error: 0x..``), which bleak turns into its exceptions.

Fault injection: `disconnect(i, by="link"|"band"|"host")`, and the Central's own
`faults(...)` (drop, duplicate, disconnect after N notifications) through
`devices[i].central`.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

from repband import exits

try:  # bleak's own D-Bus library; installed on Linux only
    from dbus_fast import Message, MessageType, Variant
    from dbus_fast.aio import MessageBus
    from dbus_fast.constants import NameFlag, RequestNameReply
except ImportError:  # pragma: no cover - not Linux: the command says so
    Message = MessageType = Variant = MessageBus = NameFlag = RequestNameReply = None  # type: ignore

BLUEZ = "org.bluez"
OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"
PROPERTIES = "org.freedesktop.DBus.Properties"
INTROSPECTABLE = "org.freedesktop.DBus.Introspectable"
ADAPTER = "org.bluez.Adapter1"
DEVICE = "org.bluez.Device1"
GATT_SERVICE = "org.bluez.GattService1"
GATT_CHAR = "org.bluez.GattCharacteristic1"
GATT_DESC = "org.bluez.GattDescriptor1"

E_FAILED = "org.bluez.Error.Failed"
E_IN_PROGRESS = "org.bluez.Error.InProgress"
E_NOT_PERMITTED = "org.bluez.Error.NotPermitted"
E_NOT_SUPPORTED = "org.bluez.Error.NotSupported"
E_NOT_CONNECTED = "org.bluez.Error.NotConnected"
E_NOT_READY = "org.bluez.Error.NotReady"
E_ALREADY_EXISTS = "org.bluez.Error.AlreadyExists"
E_DOES_NOT_EXIST = "org.bluez.Error.DoesNotExist"
E_INVALID_ARGS = "org.bluez.Error.InvalidArguments"
E_AUTH_FAILED = "org.bluez.Error.AuthenticationFailed"
E_NOT_AUTHORIZED = "org.bluez.Error.NotAuthorized"
E_UNKNOWN_OBJECT = "org.freedesktop.DBus.Error.UnknownObject"
E_UNKNOWN_METHOD = "org.freedesktop.DBus.Error.UnknownMethod"
E_UNKNOWN_INTERFACE = "org.freedesktop.DBus.Error.UnknownInterface"
E_UNKNOWN_PROPERTY = "org.freedesktop.DBus.Error.UnknownProperty"
E_READ_ONLY = "org.freedesktop.DBus.Error.PropertyReadOnly"
E_DBUS_INVALID_ARGS = "org.freedesktop.DBus.Error.InvalidArgs"

CCCD_UUID = "00002902-0000-1000-8000-00805f9b34fb"
BLUEZ_DEFAULT_MTU = 517  # bluetoothd's ExchangeMTU default (main.conf [GATT])
DEFAULT_MTU = 185  # the host MTU of repband's link model (docs/protocol.md)
ADAPTER_ADDRESS = "00:1A:7D:DA:71:0E"
DAEMON_HINT = ("dbus-daemon was not found on PATH: install Debian's 'dbus' package "
               "(apt-get install -y dbus) or your system's equivalent")


class DBusDaemonError(RuntimeError):
    """The private dbus-daemon could not be started (missing, or it failed)."""


class BlueZError(Exception):
    """A D-Bus error reply: `name` (org.bluez.Error.*) and a message."""

    def __init__(self, name: str, text: str = ""):
        super().__init__(f"{name}: {text}")
        self.name = name
        self.text = text


# ------------------------------------------------------------------------ private bus


_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
    <allow user="*"/>
  </policy>
</busconfig>
"""


def _short_tmpdir() -> str:
    """A fresh directory whose socket path fits sun_path (108 bytes)."""
    d = tempfile.mkdtemp(prefix="repband-bluez-")
    if len(os.path.join(d, "bus")) < 100:
        return d
    shutil.rmtree(d, ignore_errors=True)
    return tempfile.mkdtemp(prefix="repband-bluez-", dir="/tmp")


class PrivateBus:
    """A dbus-daemon of our own: a session-style config written to a temp dir,
    listening on ``unix:path=<dir>/bus``. `address` is what DBUS_SYSTEM_BUS_ADDRESS
    takes. Use as a context manager, or start()/stop()."""

    def __init__(self, daemon: str | None = None, timeout: float = 10.0):
        self.daemon = daemon
        self.timeout = timeout
        self.dir: str | None = None
        self.socket: str | None = None
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        if self.socket is None:
            raise DBusDaemonError("the private bus is not running")
        return f"unix:path={self.socket}"

    def start(self) -> str:
        exe = self.daemon or shutil.which("dbus-daemon")
        if not exe or not os.access(exe, os.X_OK):
            raise DBusDaemonError(DAEMON_HINT)
        self.dir = _short_tmpdir()
        self.socket = os.path.join(self.dir, "bus")
        conf = os.path.join(self.dir, "bus.conf")
        with open(conf, "w") as f:
            f.write(_CONFIG.format(socket=self.socket))
        try:
            self.proc = subprocess.Popen([exe, f"--config-file={conf}", "--nofork", "--nopidfile",
                                          "--print-address=1"],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True)
        except OSError as e:
            self._cleanup()
            raise DBusDaemonError(f"cannot run {exe}: {e}") from e
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # printed once it listens
        if not line.strip() or not os.path.exists(self.socket):
            err = ""
            try:
                self.proc.kill()
                _out, err = self.proc.communicate(timeout=self.timeout)
            except Exception:
                pass
            self.proc = None
            self._cleanup()
            raise DBusDaemonError(f"dbus-daemon did not start: {(err or '').strip() or 'no address printed'}")
        return self.address

    def stop(self) -> None:
        p, self.proc = self.proc, None
        if p is not None:
            p.terminate()
            try:
                p.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            for s in (p.stdout, p.stderr):
                if s is not None:
                    s.close()
        self._cleanup()

    def _cleanup(self):
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None
        self.socket = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


# ------------------------------------------------------------------------- the band


class RealClock:
    """Microseconds since creation, in real time (the emulation's external clock)."""

    def __init__(self):
        self._t0 = time.monotonic()

    @property
    def us(self) -> int:
        return int((time.monotonic() - self._t0) * 1_000_000)

    def advance(self, us):  # BLE.step() would call this; real time advances by itself
        pass


class RealTimeBand:
    """The default band behind the D-Bus service: the whole virtual band
    (repband.virtual.device.VirtualBand: the firmware app with its GATT service on
    emulated hardware and radio, on its own virtual clock), kept in step with the
    service's real-time `clock` at every poll() (VirtualBand.advance). Everything else
    is the VirtualBand's (`app`, `ledger`, `records()`, ...); `log` and `svc` are its
    app's session log and app.ble.BandService.

    Any band factory ``factory(index, workdir, clock) -> band`` works if the band has
    `ble` (a repband.virtual.bluetooth.BLE), `poll()` (called every few ms of real
    time: run the band up to now), and optionally `log` and `close()`."""

    def __init__(self, band, clock):
        self.band = band
        self.ble = band.radio
        self._clock = clock
        self._r0 = clock.us
        self._v0 = band.clock.us

    def __getattr__(self, name):
        if name == "band":
            raise AttributeError(name)
        return getattr(self.band, name)

    @property
    def log(self):
        return self.band.app.log

    @property
    def svc(self):
        return self.band.service

    def poll(self):
        self.band.advance((self._v0 + self._clock.us - self._r0) / 1e6)

    def close(self):
        self.band.close()


def real_band(index: int, workdir: str, clock) -> RealTimeBand:
    """The default band factory: the virtual band with its flash in `workdir` (a new
    one has been worn through a simulated routine, so a sync has something to read),
    address 0A:0B:0C:0D:0E:<index + 1>, awake for an hour on the desk before it sleeps
    (as a real band, it then needs moving: a new service)."""
    from repband.virtual.device import DEFAULT_ADDR, open_band

    fresh = not os.path.exists(os.path.join(workdir, "config.json"))
    band = open_band(workdir, addr=DEFAULT_ADDR[:-1] + bytes(((index + 1) & 0xFF,)),
                     config={"sleep_idle_s": 3600} if fresh else None)
    return RealTimeBand(band, clock)


# ------------------------------------------------------------------ D-Bus values


def _addr_str(addr: bytes) -> str:
    return ":".join("%02X" % b for b in addr)


def parse_adv(data: bytes) -> dict:
    """AD structures -> {'name', 'uuids', 'manufacturer', 'service_data', 'flags', 'tx'}."""
    from repband.virtual.bluetooth import uuid_str

    out: dict[str, Any] = {"name": None, "uuids": [], "manufacturer": {}, "service_data": {},
                           "flags": None, "tx": None}
    i = 0
    while i < len(data):
        n = data[i]
        if n == 0 or i + 1 + n > len(data):
            break
        t, v = data[i + 1], bytes(data[i + 2:i + 1 + n])
        i += 1 + n
        if t == 0x01 and v:
            out["flags"] = v
        elif t in (0x08, 0x09):
            if t == 0x09 or out["name"] is None:
                out["name"] = v.decode("utf-8", "replace")
        elif t in (0x02, 0x03):
            out["uuids"] += [uuid_str(v[j:j + 2]) for j in range(0, len(v) - 1, 2)]
        elif t in (0x04, 0x05):
            out["uuids"] += ["%08x-0000-1000-8000-00805f9b34fb" % int.from_bytes(v[j:j + 4], "little")
                             for j in range(0, len(v) - 3, 4)]
        elif t in (0x06, 0x07):
            out["uuids"] += [uuid_str(v[j:j + 16]) for j in range(0, len(v) - 15, 16)]
        elif t == 0xFF and len(v) >= 2:
            out["manufacturer"][int.from_bytes(v[:2], "little")] = v[2:]
        elif t == 0x16 and len(v) >= 2:
            out["service_data"][uuid_str(v[:2])] = v[2:]
        elif t == 0x21 and len(v) >= 16:
            out["service_data"][uuid_str(v[:16])] = v[16:]
        elif t == 0x0A and v:
            out["tx"] = int.from_bytes(v[:1], "little", signed=True)
    return out


def _char_flags(flags: int) -> list[str]:
    """The characteristic properties a GATT client sees (server-side permissions such
    as 'encrypted read' are not visible remotely)."""
    from repband.virtual import bluetooth as bt

    names = []
    for bit, name in ((bt.FLAG_BROADCAST, "broadcast"), (bt.FLAG_READ, "read"),
                      (bt.FLAG_WRITE_NO_RESPONSE, "write-without-response"), (bt.FLAG_WRITE, "write"),
                      (bt.FLAG_NOTIFY, "notify"), (bt.FLAG_INDICATE, "indicate"),
                      (bt.FLAG_AUTHENTICATED_SIGNED_WRITE, "authenticated-signed-writes")):
        if flags & bit:
            names.append(name)
    return names


def _att_error(e: Exception) -> BlueZError:
    """An emulation error as bluetoothd reports it (create_gatt_dbus_error)."""
    from repband.virtual import bluetooth as bt

    if isinstance(e, bt.Disconnected):
        return BlueZError(E_FAILED, "Not connected")
    code = getattr(e, "code", None)
    if code == bt.ATT_READ_NOT_PERMITTED:
        return BlueZError(E_NOT_PERMITTED, "Read not permitted")
    if code == bt.ATT_WRITE_NOT_PERMITTED:
        return BlueZError(E_NOT_PERMITTED, "Write not permitted")
    if code in (0x05, 0x0C, bt.ATT_INSUFFICIENT_ENCRYPTION):
        return BlueZError(E_NOT_PERMITTED, "Not paired")
    if code == 0x08:
        return BlueZError(E_NOT_AUTHORIZED, "Not authorized")
    if code == bt.ATT_REQUEST_NOT_SUPPORTED:
        return BlueZError(E_NOT_SUPPORTED, "Operation is not supported")
    if code == 0x07:
        return BlueZError(E_INVALID_ARGS, "Invalid offset")
    if code == 0x0D:
        return BlueZError(E_INVALID_ARGS, "Invalid Length")
    if isinstance(code, int):
        return BlueZError(E_FAILED, "Operation failed with ATT error: 0x%02x" % code)
    return BlueZError(E_FAILED, str(e) or type(e).__name__)


# ------------------------------------------------------------------------- objects


class _Char:
    def __init__(self, path, uuid, handle, flags, service_path):
        self.path = path
        self.uuid = uuid
        self.handle = handle  # value handle
        self.flags = flags
        self.service_path = service_path
        self.cccd_path: str | None = None
        self.sessions: set[str] = set()  # D-Bus senders with a notify session


class BlueZDevice:
    """One band as bluetoothd sees it: its D-Bus object, its link (`central`)."""

    def __init__(self, owner: "VirtualBlueZ", index: int, band):
        from repband.virtual import bluetooth as bt

        self.owner = owner
        self.index = index
        self.band = band
        self.ble = band.ble
        self.address = _addr_str(self.ble.addr)
        self.path = f"{owner.adapter_path}/dev_{self.address.replace(':', '_')}"
        self.central = bt.Central(self.ble, addr=bytes(int(x, 16) for x in ADAPTER_ADDRESS.split(":")),
                                  mtu=owner.mtu, bond=True, disconnected_callback=self._link_lost)
        self.exported = False
        self.connected = False
        self.connecting = False
        self.pairing = False
        self.paired = False
        self.trusted = False
        self.resolved = False
        self.chars: dict[str, _Char] = {}
        self.gatt_paths: list[str] = []  # children first order for removal
        self.next_adv = 0.0
        self.last_seen = 0.0
        self.adv_uuids: list[str] = []
        self.disconnects = 0

    @property
    def bonded(self) -> bool:
        return self.central._ltk is not None

    # -- advertising ----------------------------------------------------------------

    def advertising(self) -> tuple | None:
        ble = self.ble
        if not ble.active() or ble.adv is None or self.connected:
            return None
        return ble.adv

    def adv_props(self) -> dict[str, Variant]:
        adv = self.ble.adv
        d = parse_adv(adv[1])
        r = parse_adv(adv[2])
        name = r["name"] or d["name"]
        uuids = list(dict.fromkeys(d["uuids"] + r["uuids"]))
        props = {"UUIDs": Variant("as", uuids)}
        if name is not None:
            props["Name"] = Variant("s", name)
            props["Alias"] = Variant("s", name)
        manu = {**d["manufacturer"], **r["manufacturer"]}
        if manu:
            props["ManufacturerData"] = Variant("a{qv}", {k: Variant("ay", v) for k, v in manu.items()})
        sd = {**d["service_data"], **r["service_data"]}
        if sd:
            props["ServiceData"] = Variant("a{sv}", {k: Variant("ay", v) for k, v in sd.items()})
        if d["flags"] is not None:
            props["AdvertisingFlags"] = Variant("ay", d["flags"])
        tx = d["tx"] if d["tx"] is not None else r["tx"]
        if tx is not None:
            props["TxPower"] = Variant("n", tx)
        return props

    def device_props(self) -> dict[str, Variant]:
        props = {
            "Address": Variant("s", self.address),
            "AddressType": Variant("s", "public"),
            "Alias": Variant("s", self.address.replace(":", "-")),
            "Paired": Variant("b", self.paired),
            "Bonded": Variant("b", self.paired and self.bonded),
            "Trusted": Variant("b", self.trusted),
            "Blocked": Variant("b", False),
            "LegacyPairing": Variant("b", False),
            "Connected": Variant("b", self.connected),
            "UUIDs": Variant("as", []),
            "Adapter": Variant("o", self.owner.adapter_path),
            "ServicesResolved": Variant("b", self.resolved),
        }
        props.update(self.adv_props())
        props["RSSI"] = Variant("n", self.owner.rssi)
        return props

    # -- link -----------------------------------------------------------------------

    def _link_lost(self, _central):
        """The emulation's link went down (any side): what bluetoothd does."""
        o = self.owner
        self.disconnects += 1
        was_resolved = self.resolved
        self.resolved = False
        self.connected = False
        for ch in self.chars.values():
            ch.sessions.clear()
        changed = {}
        if was_resolved:
            changed["ServicesResolved"] = Variant("b", False)
        if changed:
            o._set(self.path, DEVICE, changed)
        for p in self.gatt_paths:
            o._remove(p)
        self.gatt_paths = []
        self.chars = {}
        after = {"Connected": Variant("b", False)}
        if self.paired and not self.bonded:
            self.paired = False  # a pairing without bonding lasts one connection
            after["Paired"] = Variant("b", False)
        o._set(self.path, DEVICE, after)
        self.next_adv = 0.0

    def export_gatt(self):
        """The band's GATT database as BlueZ objects, named by attribute handle."""
        o = self.owner
        by_service: dict[str, list] = {}
        for ci in self.ble.characteristics():
            by_service.setdefault(ci.service_uuid, []).append(ci)
        from repband.virtual import bluetooth as bt

        paths: list[str] = []
        mtu = self.central.mtu
        for s_uuid, chars in by_service.items():
            s_handle = min(c.handle for c in chars) - 2
            s_path = f"{self.path}/service{s_handle:04x}"
            o._add(s_path, {GATT_SERVICE: {
                "UUID": Variant("s", s_uuid), "Device": Variant("o", self.path),
                "Primary": Variant("b", True), "Includes": Variant("ao", [])}})
            for ci in chars:
                c_path = f"{s_path}/char{ci.handle - 1:04x}"
                ch = _Char(c_path, ci.uuid, ci.handle, ci.flags, s_path)
                self.chars[c_path] = ch
                o._add(c_path, {GATT_CHAR: {
                    "UUID": Variant("s", ci.uuid), "Service": Variant("o", s_path),
                    "Value": Variant("ay", b""), "Notifying": Variant("b", False),
                    "Flags": Variant("as", _char_flags(ci.flags)), "MTU": Variant("q", mtu)}})
                if ci.flags & (bt.FLAG_NOTIFY | bt.FLAG_INDICATE):
                    d_path = f"{c_path}/desc{ci.handle + 1:04x}"
                    ch.cccd_path = d_path
                    o._add(d_path, {GATT_DESC: {
                        "UUID": Variant("s", CCCD_UUID), "Characteristic": Variant("o", c_path),
                        "Value": Variant("ay", b"")}})
                    paths.append(d_path)
                paths.append(c_path)
            paths.append(s_path)
        self.gatt_paths = paths
        uuids = list(dict.fromkeys(list(self.owner._props(self.path, DEVICE).get("UUIDs", Variant("as", [])).value)
                                   + list(by_service)))
        return uuids


# ------------------------------------------------------------------------ the service


_METHODS = {
    # (interface, member): (in signature, out signature, handler name)
    (ADAPTER, "StartDiscovery"): ("", "", "m_start_discovery"),
    (ADAPTER, "StopDiscovery"): ("", "", "m_stop_discovery"),
    (ADAPTER, "SetDiscoveryFilter"): ("a{sv}", "", "m_set_discovery_filter"),
    (ADAPTER, "GetDiscoveryFilters"): ("", "as", "m_get_discovery_filters"),
    (ADAPTER, "RemoveDevice"): ("o", "", "m_remove_device"),
    (DEVICE, "Connect"): ("", "", "m_connect"),
    (DEVICE, "Disconnect"): ("", "", "m_disconnect"),
    (DEVICE, "Pair"): ("", "", "m_pair"),
    (DEVICE, "CancelPairing"): ("", "", "m_cancel_pairing"),
    (DEVICE, "ConnectProfile"): ("s", "", "m_not_supported"),
    (DEVICE, "DisconnectProfile"): ("s", "", "m_not_supported"),
    (GATT_CHAR, "ReadValue"): ("a{sv}", "ay", "m_read_value"),
    (GATT_CHAR, "WriteValue"): ("aya{sv}", "", "m_write_value"),
    (GATT_CHAR, "StartNotify"): ("", "", "m_start_notify"),
    (GATT_CHAR, "StopNotify"): ("", "", "m_stop_notify"),
    (GATT_CHAR, "AcquireNotify"): ("a{sv}", "hq", "m_not_supported"),
    (GATT_CHAR, "AcquireWrite"): ("a{sv}", "hq", "m_not_supported"),
    (GATT_DESC, "ReadValue"): ("a{sv}", "ay", "m_desc_read"),
    (GATT_DESC, "WriteValue"): ("aya{sv}", "", "m_desc_write"),
}

_WRITABLE = {
    ADAPTER: {"Powered", "Alias", "Discoverable", "Pairable", "DiscoverableTimeout", "PairableTimeout"},
    DEVICE: {"Trusted", "Blocked", "Alias", "WakeAllowed"},
}


class VirtualBlueZ:
    """bluetoothd for virtual bands, on the D-Bus at `bus_address`.

    `band_factory(index, workdir, clock)` makes each band (default `real_band`); `mtu`
    is the host's preferred ATT MTU (bluetoothd's default is 517; the band asks 247);
    `rssi` what scans report; `temporary_timeout` how long (s) an unused device stays
    after discovery stopped (None: forever); `att_delay` the real time one ATT round
    trip takes here (s)."""

    def __init__(self, bus_address: str, devices: int = 1, band_factory: Callable | None = None,
                 mtu: int = DEFAULT_MTU, workdir: str | None = None, rssi: int = -55,
                 adapter: str = "hci0", powered: bool = True, connect_timeout: float = 2.0,
                 temporary_timeout: float | None = 30.0, att_delay: float = 0.015):
        if MessageBus is None:
            raise DBusDaemonError("the BlueZ emulation needs dbus-fast (Linux only): pip install dbus-fast")
        self.bus_address = bus_address
        self.n_devices = devices
        self.band_factory = band_factory or real_band
        self.mtu = mtu
        self.rssi = rssi
        self.adapter_path = f"/org/bluez/{adapter}"
        self.powered = powered
        self.connect_timeout = connect_timeout
        self.temporary_timeout = temporary_timeout
        self.att_delay = att_delay
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="repband-bands-")
        self.clock = RealClock()
        self.devices: list[BlueZDevice] = []
        self.bus: MessageBus | None = None
        self._objects: dict[str, dict[str, dict[str, Variant]]] = {}
        self._discovery: dict[str, dict] = {}  # sender -> filter
        self._discovery_stopped_at: float | None = None
        self._tasks: set[asyncio.Task] = set()
        self._pump: asyncio.Task | None = None
        self._rng = random.Random(1)
        self.calls: list[tuple[str, str, str]] = []  # (path, interface, member) for tests

    # -- life -----------------------------------------------------------------------

    async def start(self) -> "VirtualBlueZ":
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def _start(self):
        for i in range(self.n_devices):
            band = self.band_factory(i, os.path.join(self.workdir, f"band{i}"), self.clock)
            self.devices.append(BlueZDevice(self, i, band))
        bus = MessageBus(bus_address=self.bus_address)
        await bus.connect()
        self.bus = bus
        bus.add_message_handler(self._on_message)
        await self._call_bus("AddMatch", "s", ["type='signal',sender='org.freedesktop.DBus',"
                                               "interface='org.freedesktop.DBus',member='NameOwnerChanged'"])
        reply = await self._call_bus("RequestName", "su", [BLUEZ, NameFlag.DO_NOT_QUEUE.value])
        if reply.body[0] not in (RequestNameReply.PRIMARY_OWNER.value, RequestNameReply.ALREADY_OWNER.value):
            raise BlueZError(E_FAILED, f"{BLUEZ} is already owned on {self.bus_address}")
        self._add(self.adapter_path, {ADAPTER: self._adapter_props()})
        self._pump = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            try:
                await self._pump
            except asyncio.CancelledError:
                pass
            self._pump = None
        for t in list(self._tasks):
            t.cancel()
        for d in self.devices:
            c = d.central
            if c.is_connected:
                await c.disconnect()
            close = getattr(d.band, "close", None)
            if close is not None:
                close()
        if self.bus is not None:
            try:
                await self._call_bus("ReleaseName", "s", [BLUEZ])
            except Exception:
                pass
            self.bus.disconnect()
            try:
                await asyncio.wait_for(self.bus.wait_for_disconnect(), 2)
            except Exception:
                pass
            self.bus = None
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    async def __aenter__(self):
        return await self.start()

    async def __aexit__(self, *exc):
        await self.stop()
        return False

    async def _call_bus(self, member, sig, body):
        assert self.bus is not None
        return await self.bus.call(Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                                           interface="org.freedesktop.DBus", member=member,
                                           signature=sig, body=body))

    # -- fault injection --------------------------------------------------------------

    def disconnect(self, index: int = 0, by: str = "link") -> bool:
        """Drop the link of device `index`: 'link' (supervision timeout: the radio link
        is gone at once), 'band' (the band calls gap_disconnect), 'host' (as Device1.Disconnect)."""
        d = self.devices[index]
        c = d.central._c
        if c is None or not c.open:
            return False
        if by == "band":
            return bool(d.ble.gap_disconnect(c.handle))
        d.ble._drop(c)
        return True

    # -- object store and signals -------------------------------------------------------

    def _props(self, path, iface) -> dict[str, Variant]:
        return self._objects.get(path, {}).get(iface, {})

    def _emit(self, path, iface, member, sig, body):
        if self.bus is None or not self.bus.connected:
            return
        self.bus.send(Message.new_signal(path, iface, member, sig, body))

    def _add(self, path, ifaces: dict[str, dict[str, Variant]]):
        obj = self._objects.setdefault(path, {})
        for k, v in ifaces.items():
            obj[k] = dict(v)
        self._emit("/", OBJECT_MANAGER, "InterfacesAdded", "oa{sa{sv}}", [path, ifaces])

    def _remove(self, path):
        obj = self._objects.pop(path, None)
        if obj:
            self._emit("/", OBJECT_MANAGER, "InterfacesRemoved", "oas", [path, list(obj)])

    def _set(self, path, iface, changed: dict[str, Variant], force=False):
        props = self._objects.get(path, {}).get(iface)
        if props is None:
            return
        out = {}
        for k, v in changed.items():
            old = props.get(k)
            if force or old is None or old.signature != v.signature or old.value != v.value:
                out[k] = v
            props[k] = v
        if out:
            self._emit(path, PROPERTIES, "PropertiesChanged", "sa{sv}as", [iface, out, []])

    def _adapter_props(self) -> dict[str, Variant]:
        return {
            "Address": Variant("s", ADAPTER_ADDRESS), "AddressType": Variant("s", "public"),
            "Name": Variant("s", "repband-virtual"), "Alias": Variant("s", "repband-virtual"),
            "Class": Variant("u", 0), "Powered": Variant("b", self.powered),
            "PowerState": Variant("s", "on" if self.powered else "off"),
            "Discoverable": Variant("b", False), "DiscoverableTimeout": Variant("u", 180),
            "Pairable": Variant("b", True), "PairableTimeout": Variant("u", 0),
            "Discovering": Variant("b", False), "UUIDs": Variant("as", []),
            "Modalias": Variant("s", "usb:v1D6Bp0246d0548"),
            "Roles": Variant("as", ["central", "peripheral"]),
            "ExperimentalFeatures": Variant("as", []),
        }

    # -- the radio ----------------------------------------------------------------------

    async def _run(self):
        tick = 0.004
        while True:
            try:
                self._tick()
            except Exception as e:  # keep the service alive; the band's error is reported
                print(f"repband virtual bluez: {type(e).__name__}: {e}", file=sys.stderr)
            await asyncio.sleep(tick)

    def _tick(self):
        now = time.monotonic()
        for d in self.devices:
            d.band.poll()
            d.ble.sync()
        if self._discovery and self.powered:
            for d in self.devices:
                adv = d.advertising()
                if adv is None or now < d.next_adv:
                    continue
                d.next_adv = now + adv[0] / 1e6 + self._rng.uniform(0, 0.01)
                d.last_seen = now
                self._advertisement(d)
        elif self.temporary_timeout is not None and self._discovery_stopped_at is not None:
            limit = self._discovery_stopped_at + self.temporary_timeout
            if now >= limit:
                for d in self.devices:
                    if d.exported and not (d.connected or d.connecting or d.paired or d.trusted):
                        self._remove_device(d)
                self._discovery_stopped_at = None

    def _passes_filter(self, d: BlueZDevice, rssi: int) -> bool:
        filters = list(self._discovery.values())
        if any(not f for f in filters):
            return True  # one client without a filter: bluetoothd reports everything
        uuids = set(d.adv_uuids)
        for f in filters:
            fu = {u.lower() for u in f.get("UUIDs", [])}
            if fu and not (fu & uuids):
                continue
            if "RSSI" in f and rssi < f["RSSI"]:
                continue
            pat = f.get("Pattern", "")
            name = self._props(d.path, DEVICE).get("Name")
            if pat and not (d.address.startswith(pat) or (name is not None and name.value.startswith(pat))):
                continue
            return True
        return False

    def _advertisement(self, d: BlueZDevice):
        rssi = self.rssi + self._rng.randint(-2, 2)
        adv = d.adv_props()
        d.adv_uuids = [u.lower() for u in adv["UUIDs"].value]
        if not self._passes_filter(d, rssi):
            return
        if not d.exported:
            props = d.device_props()
            props["RSSI"] = Variant("n", rssi)
            d.exported = True
            self._add(d.path, {DEVICE: props})
            return
        adv["RSSI"] = Variant("n", rssi)
        if self._props(d.path, DEVICE).get("UUIDs") is not None:
            adv["UUIDs"] = Variant("as", list(dict.fromkeys(
                list(self._props(d.path, DEVICE)["UUIDs"].value) + list(adv["UUIDs"].value))))
        if self._props(d.path, DEVICE).get("Alias") and not adv.get("Name"):
            adv.pop("Alias", None)
        self._set(d.path, DEVICE, adv)

    def _remove_device(self, d: BlueZDevice):
        for p in d.gatt_paths:
            self._remove(p)
        d.gatt_paths = []
        d.chars = {}
        self._remove(d.path)
        d.exported = False
        d.paired = False
        d.trusted = False
        d.central._ltk = None  # the host forgets its key (bluetoothd removes the bond)

    # -- D-Bus dispatch -------------------------------------------------------------------

    def _on_message(self, msg: Message):
        if msg.message_type == MessageType.SIGNAL:
            if msg.member == "NameOwnerChanged" and msg.interface == "org.freedesktop.DBus":
                name, _old, new = msg.body
                if not new and name.startswith(":"):
                    self._client_gone(name)
            return False
        if msg.message_type != MessageType.METHOD_CALL:
            return False
        self.calls.append((msg.path or "", msg.interface or "", msg.member or ""))
        try:
            return self._dispatch(msg)
        except BlueZError as e:
            return Message.new_error(msg, e.name, e.text)

    def _dispatch(self, msg: Message):
        iface, member, path = msg.interface, msg.member, msg.path or "/"
        if iface == PROPERTIES:
            return self._properties_call(msg)
        if iface == OBJECT_MANAGER and member == "GetManagedObjects":
            if path != "/":
                raise BlueZError(E_UNKNOWN_METHOD, "ObjectManager is on /")
            objs = {p: {i: dict(v) for i, v in ifaces.items()} for p, ifaces in self._objects.items()}
            return Message.new_method_return(msg, "a{oa{sa{sv}}}", [objs])
        if iface == INTROSPECTABLE and member == "Introspect":
            return Message.new_method_return(msg, "s", [self._introspect(path)])
        obj = self._objects.get(path)
        if obj is None:
            raise BlueZError(E_UNKNOWN_OBJECT, f"no object at {path}")
        if iface is None:
            iface = next((i for (i, m) in _METHODS if m == member and i in obj), None)
        spec = _METHODS.get((iface, member))
        if iface not in obj or spec is None:
            raise BlueZError(E_UNKNOWN_METHOD, f"no method {iface}.{member} at {path}")
        in_sig, out_sig, name = spec
        if (msg.signature or "") != in_sig:
            raise BlueZError(E_INVALID_ARGS, "Invalid arguments in method call")
        task = asyncio.ensure_future(self._answer(msg, out_sig, getattr(self, name)(path, msg)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _answer(self, msg, out_sig, coro):
        try:
            body = await coro
            reply = Message.new_method_return(msg, out_sig, [] if body is None else body)
        except BlueZError as e:
            reply = Message.new_error(msg, e.name, e.text)
        except asyncio.CancelledError:
            reply = Message.new_error(msg, E_FAILED, "bluetoothd stopped")
            if self.bus is not None and self.bus.connected:
                self.bus.send(reply)
            raise
        except Exception as e:  # a bug here, not the caller's: say so, do not hang
            reply = Message.new_error(msg, E_FAILED, f"internal error: {type(e).__name__}: {e}")
        if self.bus is not None and self.bus.connected:
            self.bus.send(reply)

    def _properties_call(self, msg):
        path = msg.path or "/"
        obj = self._objects.get(path)
        if obj is None:
            raise BlueZError(E_UNKNOWN_OBJECT, f"no object at {path}")
        member = msg.member
        iface = msg.body[0] if msg.body else ""
        props = obj.get(iface)
        if props is None:
            if member == "GetAll":
                return Message.new_method_return(msg, "a{sv}", [{}])
            raise BlueZError(E_DBUS_INVALID_ARGS, f"no interface {iface} at {path}")
        if member == "GetAll" and msg.signature == "s":
            return Message.new_method_return(msg, "a{sv}", [dict(props)])
        if member == "Get" and msg.signature == "ss":
            v = props.get(msg.body[1])
            if v is None:
                raise BlueZError(E_DBUS_INVALID_ARGS, f"No such property '{msg.body[1]}'")
            return Message.new_method_return(msg, "v", [v])
        if member == "Set" and msg.signature == "ssv":
            name, value = msg.body[1], msg.body[2]
            if name not in props:
                raise BlueZError(E_DBUS_INVALID_ARGS, f"No such property '{name}'")
            if name not in _WRITABLE.get(iface, ()):
                raise BlueZError(E_READ_ONLY, f"Property '{name}' is not writable")
            if value.signature != props[name].signature:
                raise BlueZError(E_DBUS_INVALID_ARGS, "Invalid arguments in method call")
            self._set_property(path, iface, name, value)
            return Message.new_method_return(msg)
        raise BlueZError(E_UNKNOWN_METHOD, f"no method {PROPERTIES}.{member}({msg.signature})")

    def _set_property(self, path, iface, name, value: Variant):
        if iface == ADAPTER and name == "Powered":
            self.powered = bool(value.value)
            if not self.powered:
                for d in self.devices:
                    if d.central.is_connected:
                        d.ble._drop(d.central._c)
                self._discovery.clear()
                self._set(path, ADAPTER, {"Discovering": Variant("b", False)})
            self._set(path, ADAPTER, {"Powered": value,
                                      "PowerState": Variant("s", "on" if self.powered else "off")})
            return
        if iface == DEVICE:
            d = self._device(path)
            if name == "Trusted":
                d.trusted = bool(value.value)
            if name == "Alias" and not value.value:
                name_v = self._props(path, DEVICE).get("Name")
                value = Variant("s", name_v.value if name_v else d.address.replace(":", "-"))
        self._set(path, iface, {name: value})

    def _client_gone(self, sender: str):
        if self._discovery.pop(sender, None) is not None and not self._discovery:
            self._discovery_ended()
        for d in self.devices:
            for ch in list(d.chars.values()):
                if sender in ch.sessions:
                    ch.sessions.discard(sender)
                    if not ch.sessions:
                        self._unsubscribe(d, ch)

    def _introspect(self, path: str) -> str:
        kids = set()
        prefix = "" if path == "/" else path
        for p in self._objects:
            if p.startswith(prefix + "/"):
                kids.add(p[len(prefix) + 1:].split("/")[0])
        parts = ['<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN" '
                 '"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">', "<node>"]
        std = [INTROSPECTABLE, PROPERTIES] + ([OBJECT_MANAGER] if path == "/" else [])
        for i in std:
            parts.append(f'<interface name="{i}"/>')
        for iface, props in self._objects.get(path, {}).items():
            parts.append(f'<interface name="{iface}">')
            for (i, m), (sin, sout, _h) in _METHODS.items():
                if i == iface:
                    parts.append(f'<method name="{m}">'
                                 + (f'<arg type="{sin}" direction="in"/>' if sin else "")
                                 + (f'<arg type="{sout}" direction="out"/>' if sout else "") + "</method>")
            for name, v in props.items():
                acc = "readwrite" if name in _WRITABLE.get(iface, ()) else "read"
                parts.append(f'<property name="{name}" type="{v.signature}" access="{acc}"/>')
            parts.append("</interface>")
        for k in sorted(kids):
            parts.append(f'<node name="{k}"/>')
        parts.append("</node>")
        return "\n".join(parts)

    # -- helpers ----------------------------------------------------------------------------

    def _device(self, path) -> BlueZDevice:
        for d in self.devices:
            if d.path == path:
                return d
        raise BlueZError(E_UNKNOWN_OBJECT, f"no device at {path}")

    def _char(self, path) -> tuple[BlueZDevice, _Char]:
        for d in self.devices:
            ch = d.chars.get(path)
            if ch is not None:
                return d, ch
        raise BlueZError(E_UNKNOWN_OBJECT, f"no characteristic at {path}")

    async def _att(self):
        """One ATT request / response on the air."""
        if self.att_delay > 0:
            await asyncio.sleep(self.att_delay)

    def _need_powered(self):
        if not self.powered:
            raise BlueZError(E_NOT_READY, "Resource Not Ready")

    # -- Adapter1 ---------------------------------------------------------------------------

    async def m_start_discovery(self, path, msg):
        self._need_powered()
        sender = msg.sender
        if sender in self._discovery and self._discovery[sender].get("_started"):
            raise BlueZError(E_IN_PROGRESS, "Operation already in progress")
        f = self._discovery.setdefault(sender, {})
        f["_started"] = True
        self._discovery_stopped_at = None
        for d in self.devices:
            d.next_adv = 0.0
        self._set(path, ADAPTER, {"Discovering": Variant("b", True)})

    async def m_stop_discovery(self, path, msg):
        self._need_powered()
        f = self._discovery.get(msg.sender)
        if f is None or not f.get("_started"):
            raise BlueZError(E_FAILED, "No discovery started")
        del self._discovery[msg.sender]
        if not self._discovery:
            self._discovery_ended()

    def _discovery_ended(self):
        self._discovery_stopped_at = time.monotonic()
        self._set(self.adapter_path, ADAPTER, {"Discovering": Variant("b", False)})

    async def m_set_discovery_filter(self, path, msg):
        self._need_powered()
        raw = {k: v.value for k, v in msg.body[0].items()}
        known = {"UUIDs", "RSSI", "Pathloss", "Transport", "DuplicateData", "Discoverable", "Pattern"}
        bad = set(raw) - known
        if bad:
            raise BlueZError(E_INVALID_ARGS, "Invalid arguments in method call")
        if raw.get("Transport", "auto") not in ("auto", "le", "bredr"):
            raise BlueZError(E_INVALID_ARGS, "Invalid arguments in method call")
        started = self._discovery.get(msg.sender, {}).get("_started", False)
        f = {k: v for k, v in raw.items() if k in ("UUIDs", "RSSI", "Pattern") and v not in ([], "")}
        if raw.get("Transport") == "bredr":
            f["UUIDs"] = ["none"]  # LE bands are not found by a BR/EDR-only discovery
        if f or started:
            f["_started"] = started
            self._discovery[msg.sender] = f
        else:
            self._discovery.pop(msg.sender, None)

    async def m_get_discovery_filters(self, path, msg):
        return [["UUIDs", "RSSI", "Pathloss", "Transport", "DuplicateData", "Discoverable", "Pattern"]]

    async def m_remove_device(self, path, msg):
        target = msg.body[0]
        d = next((x for x in self.devices if x.path == target and x.exported), None)
        if d is None:
            raise BlueZError(E_DOES_NOT_EXIST, "Does Not Exist")
        if d.central.is_connected:
            await d.central.disconnect()
        self._remove_device(d)

    # -- Device1 ----------------------------------------------------------------------------

    async def _wait_advertising(self, d: BlueZDevice):
        deadline = time.monotonic() + self.connect_timeout
        while d.advertising() is None or not d.advertising()[3]:
            if time.monotonic() >= deadline:
                raise BlueZError(E_FAILED, "le-connection-abort-by-local")
            await asyncio.sleep(0.01)

    async def _link_up(self, d: BlueZDevice):
        """LE connection, MTU exchange, re-encryption of a bonded link, service discovery."""
        from repband.virtual import bluetooth as bt

        self._need_powered()
        if d.connecting:
            raise BlueZError(E_IN_PROGRESS, "In Progress")
        d.connecting = True
        try:
            await self._wait_advertising(d)
            try:
                await d.central.connect()
            except bt.Disconnected:
                raise BlueZError(E_FAILED, "le-connection-abort-by-local") from None
            d.connected = True
            self._set(d.path, DEVICE, {"Connected": Variant("b", True)})
            await self._att()
            if d.central.is_connected:
                await d.central.exchange_mtu(self.mtu)
            if d.paired and d.bonded and d.central.is_connected:
                try:
                    await d.central.encrypt()
                except bt.PairingError:
                    # The band lost the bond ("PIN or key missing"): bluetoothd drops the key.
                    d.central._ltk = None
                    d.paired = False
                    self._set(d.path, DEVICE, {"Paired": Variant("b", False), "Bonded": Variant("b", False)})
            await self._att()
            if not d.central.is_connected:
                raise BlueZError(E_FAILED, "Software caused connection abort")
            uuids = d.export_gatt()
            d.resolved = True
            self._set(d.path, DEVICE, {"UUIDs": Variant("as", uuids)})
            self._set(d.path, DEVICE, {"ServicesResolved": Variant("b", True)})
        finally:
            d.connecting = False

    async def m_connect(self, path, msg):
        d = self._device(path)
        if d.connected:
            return None
        await self._link_up(d)

    async def m_disconnect(self, path, msg):
        d = self._device(path)
        if not d.central.is_connected:
            if d.connected:
                d._link_lost(d.central)
            raise BlueZError(E_NOT_CONNECTED, "Not Connected")
        await d.central.disconnect()

    async def m_pair(self, path, msg):
        from repband.virtual import bluetooth as bt

        d = self._device(path)
        if d.paired:
            raise BlueZError(E_ALREADY_EXISTS, "Already Paired")
        if d.pairing:
            raise BlueZError(E_IN_PROGRESS, "In Progress")
        d.pairing = True
        try:
            if not d.connected:
                await self._link_up(d)
            await self._att()  # SMP exchanges
            try:
                await d.central.pair()
            except bt.Disconnected:
                raise BlueZError(E_AUTH_FAILED, "Authentication Failed") from None
            except bt.PairingError as e:
                raise BlueZError(E_AUTH_FAILED, str(e)) from None
            d.paired = True
            self._set(d.path, DEVICE, {"Bonded": Variant("b", d.bonded), "Paired": Variant("b", True)})
        finally:
            d.pairing = False

    async def m_cancel_pairing(self, path, msg):
        d = self._device(path)
        if not d.pairing:
            raise BlueZError(E_DOES_NOT_EXIST, "Does Not Exist")

    async def m_not_supported(self, path, msg):
        raise BlueZError(E_NOT_SUPPORTED, "Operation is not supported")

    # -- GattCharacteristic1 / GattDescriptor1 -----------------------------------------------

    async def _secured(self, d: BlueZDevice, request):
        """Run an ATT request; on 'insufficient encryption' (or authentication) raise the
        link's security once and send it again, as bluetoothd's ATT layer does with a
        channel at security 'auto' (src/shared/att.c: change_security, then a retry):
        with the stored key the link is encrypted again; without one the kernel pairs
        (SMP, Just Works here). A band that refuses the pairing fails the request."""
        from repband.virtual import bluetooth as bt

        try:
            return await request()
        except Exception as e:
            if getattr(e, "code", None) not in (bt.ATT_INSUFFICIENT_ENCRYPTION, 0x05) \
                    or not d.central.is_connected:
                raise _att_error(e) from None
            first = e
        try:
            await self._att()  # the SMP exchanges
            if d.paired and d.central._ltk is not None:
                await d.central.encrypt()
            else:
                await d.central.pair()
                d.paired = True
                self._set(d.path, DEVICE, {"Bonded": Variant("b", d.bonded), "Paired": Variant("b", True)})
            await self._att()
        except (bt.PairingError, bt.Disconnected):
            raise _att_error(first) from None
        try:
            return await request()
        except Exception as e:
            raise _att_error(e) from None

    async def m_read_value(self, path, msg):
        d, ch = self._char(path)
        offset = int(msg.body[0].get("offset", Variant("q", 0)).value)
        await self._att()
        value = await self._secured(d, lambda: d.central.read(ch.uuid))
        if offset > len(value):
            raise BlueZError(E_INVALID_ARGS, "Invalid offset")
        if path in self._objects:  # bluetoothd caches the value: PropertiesChanged
            self._set(path, GATT_CHAR, {"Value": Variant("ay", bytes(value))}, force=True)
        return [bytes(value[offset:])]

    async def m_write_value(self, path, msg):
        from repband.virtual import bluetooth as bt

        d, ch = self._char(path)
        data, opts = bytes(msg.body[0]), msg.body[1]
        kind = opts["type"].value if "type" in opts else None
        if int(opts["offset"].value if "offset" in opts else 0) != 0:
            raise BlueZError(E_NOT_SUPPORTED, "Operation is not supported")
        if kind == "command":
            if not ch.flags & bt.FLAG_WRITE_NO_RESPONSE:
                raise BlueZError(E_NOT_SUPPORTED, "Operation is not supported")
            response = False
        elif kind in ("request", "reliable"):
            if not ch.flags & bt.FLAG_WRITE:
                raise BlueZError(E_NOT_SUPPORTED, "Operation is not supported")
            response = True
        elif kind is None:
            if ch.flags & bt.FLAG_WRITE:
                response = True
            elif ch.flags & bt.FLAG_WRITE_NO_RESPONSE:
                response = False
            else:
                raise BlueZError(E_NOT_PERMITTED, "Write not permitted")
        else:
            raise BlueZError(E_INVALID_ARGS, "Invalid arguments in method call")
        if not response and len(data) > d.central.mtu - 3:
            raise BlueZError(E_INVALID_ARGS, "Invalid Length")
        await self._secured(d, lambda: d.central.write(ch.uuid, data, response=response))
        if response:
            await self._att()

    def _notify_cb(self, d: BlueZDevice, ch: _Char):
        def cb(_sender, data):
            if ch.path in self._objects:
                self._set(ch.path, GATT_CHAR, {"Value": Variant("ay", bytes(data))}, force=True)
        return cb

    async def m_start_notify(self, path, msg):
        from repband.virtual import bluetooth as bt

        d, ch = self._char(path)
        if not ch.flags & (bt.FLAG_NOTIFY | bt.FLAG_INDICATE):
            raise BlueZError(E_NOT_SUPPORTED, "Operation is not supported")
        if msg.sender in ch.sessions:
            return None
        if not ch.sessions:
            await self._att()  # the CCCD write
            try:
                await d.central.start_notify(ch.uuid, self._notify_cb(d, ch))
            except Exception as e:
                raise _att_error(e) from None
        ch.sessions.add(msg.sender)
        self._set(path, GATT_CHAR, {"Notifying": Variant("b", True)})

    async def m_stop_notify(self, path, msg):
        d, ch = self._char(path)
        if msg.sender not in ch.sessions:
            raise BlueZError(E_FAILED, "No notify session started")
        ch.sessions.discard(msg.sender)
        if not ch.sessions:
            self._unsubscribe(d, ch)

    def _unsubscribe(self, d: BlueZDevice, ch: _Char):
        d.central._subs.pop(ch.uuid, None)  # the CCCD write; the reply does not wait for it
        self._set(ch.path, GATT_CHAR, {"Notifying": Variant("b", False)})

    async def m_desc_read(self, path, msg):
        for d in self.devices:
            for ch in d.chars.values():
                if ch.cccd_path == path:
                    await self._att()
                    if not d.central.is_connected:
                        raise BlueZError(E_FAILED, "Not connected")
                    sub = d.central._subs.get(ch.uuid)
                    v = b"\x00\x00" if sub is None else (b"\x01\x00" if sub[1] == "notify" else b"\x02\x00")
                    self._set(path, GATT_DESC, {"Value": Variant("ay", v)}, force=True)
                    return [v]
        raise BlueZError(E_UNKNOWN_OBJECT, f"no descriptor at {path}")

    async def m_desc_write(self, path, msg):
        # bluetoothd refuses CCCD writes: StartNotify / StopNotify do that.
        raise BlueZError(E_NOT_PERMITTED, "Write not permitted")


# ------------------------------------------------------------------------ the command


async def serve(devices: int = 1, mtu: int = DEFAULT_MTU, out=None, ready: Callable | None = None,
                stop: asyncio.Event | None = None, workdir: str | None = None) -> int:
    """Start a private bus and the service; print how to use it; run until `stop`.
    `workdir`: the bands' flash folders (band0, band1, ...; kept), else temporary."""
    out = out or sys.stdout
    bus = PrivateBus()
    bus.start()
    try:
        async with VirtualBlueZ(bus.address, devices=devices, mtu=mtu, workdir=workdir) as bluez:
            addrs = ", ".join(d.address for d in bluez.devices)
            print(f"repband virtual-device: {devices} virtual band{'s' if devices != 1 else ''} ({addrs}) "
                  f"behind a BlueZ-compatible D-Bus service (adapter hci0, host MTU {mtu})", file=out)
            print(f"DBUS_SYSTEM_BUS_ADDRESS={bus.address}", file=out)
            print("Use it from another shell (bleak, and so repband, then talk to the virtual band):", file=out)
            print(f"  export DBUS_SYSTEM_BUS_ADDRESS={bus.address}", file=out)
            print("  repband scan", file=out)
            print("Ctrl-C stops it.", file=out, flush=True)
            if ready is not None:
                ready(bluez)
            if stop is None:
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                import signal

                for sig in (signal.SIGTERM, signal.SIGINT):
                    try:
                        loop.add_signal_handler(sig, stop.set)
                    except (NotImplementedError, RuntimeError):
                        pass
            await stop.wait()
    finally:
        bus.stop()
    return 0


def cmd_virtual_device(args) -> int:
    if not args.bluez:
        print("repband virtual-device: give --bluez (a BlueZ-compatible D-Bus service for bleak); "
              "the in-process virtual device is used with --device virtual", file=sys.stderr)
        return exits.FIX
    if args.devices < 1 or args.devices > 250:
        print("repband virtual-device: --devices takes 1..250", file=sys.stderr)
        return exits.FIX
    try:
        return asyncio.run(serve(devices=args.devices, mtu=args.mtu, workdir=args.workdir))
    except DBusDaemonError as e:
        print(f"repband virtual-device: {e}", file=sys.stderr)
        return exits.FAILED
    except KeyboardInterrupt:
        return 0


def add_parser(sub) -> argparse.ArgumentParser:
    v = sub.add_parser("virtual-device", help="serve virtual bands to bleak over a private BlueZ D-Bus")
    v.add_argument("--bluez", action="store_true",
                   help="start a private dbus-daemon with a BlueZ-compatible service and print its address")
    v.add_argument("--devices", type=int, default=1, help="number of virtual bands (default 1)")
    v.add_argument("--workdir", default=None, metavar="DIR",
                   help="keep the bands' flash here (DIR/band0, ...: the same bands next time; "
                        "default: new bands in a temporary folder)")
    v.add_argument("--mtu", type=int, default=DEFAULT_MTU,
                   help=f"the host's preferred ATT MTU (default {DEFAULT_MTU}; bluetoothd's is {BLUEZ_DEFAULT_MTU})")
    v.set_defaults(func=cmd_virtual_device)
    return v
