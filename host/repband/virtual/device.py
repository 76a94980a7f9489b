"""The whole virtual band: the firmware app (firmware/app, unchanged) on the emulated
hardware of repband.virtual.hardware *and* the emulated MicroPython `bluetooth` radio
of repband.virtual.bluetooth, with the app's GATT service (app.ble.BandService) wired
in exactly as on the board (`App(hal, board, radio=...)`). One virtual clock drives the
app, the IMU emulator and the radio's connection events, so host code running on the
same event loop sees the band's timing (connection interval, notification queue,
drain period) in simulated time.

    from repband.virtual.device import VirtualBand
    band = VirtualBand(rec)                        # rec: repband.sim.simulate(...)[0]
    band.run(until_s=60)                           # the band alone, as VirtualDevice.run

    async def host(client):                        # any host code on link.py's interface
        await set_time(client)
        async with RecordLink(client) as link: ...
    band.run_host(band.with_client(host))          # the host and the band together

    band.at(120.0, band.reboot)                    # an MCU reset (links drop, app reboots)
    band.ledger                                    # every record the band ever wrote

`run_with_virtual(fn)` is the one way host code reaches an in-process band (`--device
virtual` on every command goes through it, repband.device.run_virtual): it brings up a
band (optionally on a persistent flash directory), lets it record a simulated routine
when its flash is new, and runs `await fn(client)` on the band's own loop.
`band.advance(t_s)` keeps a band in step with an outside clock instead (the BlueZ
D-Bus service, repband.virtual.bluez, runs its bands in real time that way).
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from repband.virtual import bluetooth as vbt
from repband.virtual.hardware import VirtualDevice

from app.app import _ST_BOOT, _ST_OFF  # noqa: E402  (firmware, on sys.path via hardware; private: folded on the board)
from repcore import protocol_host as P  # noqa: E402
from repcore.store import SessionLog  # noqa: E402

DEFAULT_ADDR = b"\x0a\x0b\x0c\x0d\x0e\x01"
HOST_ADDR = b"\x01\x02\x03\x04\x05\x06"


def address_str(addr: bytes) -> str:
    return ":".join("%02X" % b for b in addr)


@contextlib.contextmanager
def _outer_loop_aside():
    """The band's loop runs to completion inside a coroutine of another loop (the D-Bus
    service's, a test's): asyncio allows one running loop per thread, so the outer one
    is set aside meanwhile (it is not running while the band's loop turns anyway)."""
    outer = asyncio._get_running_loop()
    if outer is not None:
        asyncio._set_running_loop(None)
    try:
        yield
    finally:
        if outer is not None:
            asyncio._set_running_loop(outer)


def still_recording(seconds: float = 5.0, rate_hz: float = 104.0):
    """A band lying still on the desk (the last row is held for ever after)."""
    from repband.recording import Recording

    n = max(2, int(seconds * rate_hz))
    t = np.arange(n) / rate_hz
    acc = np.tile([0.0, 0.0, 1.0], (n, 1))
    gyro = np.zeros((n, 3))
    return Recording(t=t, acc=acc, gyro=gyro, meta={"rate_hz": f"{rate_hz:g}", "source": "still"})


def concat_recordings(parts, gap_s: float = 0.0):
    """Recordings back to back, each followed by `gap_s` of its last row held (the band
    lying still where it was put down). Returns (recording, [(start_s, end_s), ...]) in
    virtual seconds (row / rate) of each part's motion."""
    from repband.recording import Recording

    rate = float(parts[0].meta.get("rate_hz", 104.0))
    accs, gyros, spans = [], [], []
    n0 = 0
    for rec in parts:
        a = np.asarray(rec.acc, float)
        g = np.zeros_like(a) if rec.gyro is None else np.asarray(rec.gyro, float)
        k = int(round(gap_s * rate))
        spans.append((n0 / rate, (n0 + len(a)) / rate))
        accs += [a, np.repeat(a[-1:], k, axis=0)]
        gyros += [g, np.zeros((k, 3))]
        n0 += len(a) + k
    acc = np.concatenate(accs)
    gyro = np.concatenate(gyros)
    t = np.arange(len(acc)) / rate
    meta = dict(parts[0].meta)
    meta["rate_hz"] = f"{rate:g}"
    return Recording(t=t, acc=acc, gyro=gyro, meta=meta), spans


class LedgerLog(SessionLog):
    """The firmware's SessionLog, also noting every record it writes (seq -> bytes) in
    `ledger`: the device's own account of what it logged, kept across reboots and
    deletes (what the chaos run checks the database against)."""

    ledger: dict | None = None

    def _write(self, n):
        seq = super()._write(n)
        if self.ledger is not None:
            self.ledger[seq] = bytes(self._buf[:n])
        return seq


class VirtualClient:
    """A host's GATT client for the band: the emulation's `Central` (the async interface
    of repband.link: read, write, start_notify, stop_notify, is_connected) with a
    `connect()` that does what the host's BLE layer does: wait for an advertisement,
    connect, exchange the MTU, encrypt with the bond (with `pair`: pairing first if
    there is none, or if the band lost it; without: vbt.PairingError).

    `keys`: this host's half of each bond, {band address: key hex}, read at the start
    and updated by pair() (the caller keeps it, as bluetoothd keeps its bonds, so that
    a later process resumes the bond); None: this client's own."""

    def __init__(self, band: "VirtualBand", mtu: int = 185, addr: bytes = HOST_ADDR, pair: bool = True,
                 keys=None):
        self.band = band
        self.central = vbt.Central(band.radio, addr=addr, mtu=mtu)
        self.mtu_pref = mtu
        self.want_pair = pair
        self.keys = {} if keys is None else keys
        self.connects = 0
        key = self.keys.get(self.address)
        if key:
            self.central._ltk = bytes.fromhex(key)

    virtual = True
    protocol_version = ""  # the BLE commands note the band's here

    @property
    def bonded(self) -> bool:
        """This host holds a bond key for the band (it may have lost its half)."""
        return self.central._ltk is not None

    # the band's identity, as a scan would show it
    @property
    def address(self) -> str:
        return self.band.address

    @property
    def name(self) -> str:
        svc = self.band.service
        return svc.name if svc is not None else "repband"

    @property
    def is_connected(self) -> bool:
        return self.central.is_connected

    @property
    def mtu_size(self) -> int:
        return self.central.mtu

    mtu = mtu_size

    async def connect(self, timeout: float = 30.0, encrypt: bool = True) -> bool:
        """Connect (waiting up to `timeout` simulated seconds for the band to advertise:
        booting, asleep or busy with another central). `encrypt=False`: leave the link
        unencrypted (before a pair())."""
        c = self.central
        if c.is_connected:
            return True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            adv = self.band.radio.adv if self.band.radio.active() else None
            if adv is not None and adv[3]:
                await asyncio.sleep(adv[0] / 1e6)  # hear one advertisement
                try:
                    await c.connect()
                    break
                except vbt.Disconnected:
                    pass
            if loop.time() >= deadline:
                raise vbt.Disconnected(f"the virtual band {self.address} is not advertising "
                                       f"(asleep or off): move it to wake it")
            await asyncio.sleep(0.1)
        self.connects += 1
        interval = self.band.radio.interval_us / 1e6
        await asyncio.sleep(interval)  # connection set-up: a connection event or so each
        await c.exchange_mtu(self.mtu_pref)
        await asyncio.sleep(interval)
        if encrypt and (self.bonded or self.want_pair):
            try:
                if not self.bonded:
                    raise vbt.PairingError("not bonded yet")
                await c.encrypt()
            except vbt.PairingError:
                if not self.want_pair:
                    raise
                await self.pair()
            await asyncio.sleep(2 * interval)
        return True

    async def pair(self) -> bool:
        await self.central.pair()
        ltk = self.central._ltk
        if ltk is None:
            self.keys.pop(self.address, None)
        else:
            self.keys[self.address] = ltk.hex()
        return True

    async def unpair(self) -> bool:
        """Forget this host's half of the bond (bleak's unpair(): BlueZ RemoveDevice),
        e.g. after the band refused a pairing it never stored the keys of."""
        self.central._ltk = None
        self.keys.pop(self.address, None)
        if self.central.is_connected:
            await self.central.disconnect()
        return True

    async def disconnect(self) -> bool:
        return await self.central.disconnect()

    async def __aenter__(self):
        await self.connect()
        return self

    async def __aexit__(self, *exc):
        await self.disconnect()
        return False

    # link.py's interface (and bleak's names)
    async def read(self, uuid) -> bytes:
        return await self.central.read(uuid)

    async def write(self, uuid, data, response=True):
        await self.central.write(uuid, data, response)

    async def read_gatt_char(self, uuid) -> bytes:
        return await self.central.read(uuid)

    async def write_gatt_char(self, uuid, data, response=None):
        await self.central.write_gatt_char(uuid, data, response)

    async def start_notify(self, uuid, callback):
        await self.central.start_notify(uuid, callback)

    async def stop_notify(self, uuid):
        await self.central.stop_notify(uuid)

    def faults(self, **kw):
        return self.central.faults(**kw)

    def clear_faults(self):
        self.central.clear_faults()


class VirtualBand(VirtualDevice):
    """The firmware app with its BLE service on virtual hardware (see the module doc).

    `recording`: what the IMU feels (None: lying still). `interval_ms`,
    `packets_per_interval`, `queue_limit`: the radio link (repband.virtual.bluetooth.BLE).
    `flash_dir`: a persistent flash (config, session log, bond keys); a new VirtualBand
    on the same directory is the same band switched on again.
    """

    def __init__(self, recording=None, board="xiao_esp32s3_lsm6ds3", config=None, flash_dir=None, *,
                 interval_ms: float = 15.0, packets_per_interval: int = 4, queue_limit: int = 12,
                 addr: bytes = DEFAULT_ADDR, **kwargs):
        self.radio = None
        self._radio_kw = {"interval_ms": interval_ms, "packets_per_interval": packets_per_interval,
                          "queue_limit": queue_limit, "addr": addr}
        self.addr = bytes(addr)
        self.ledger: dict[int, bytes] = {}
        self.resets: list[tuple[int, str]] = []  # (ms, "reboot" | "watchdog")
        self._app_task = None
        self._reboot_pending = False
        self._until_ms = 0
        if recording is None:
            recording = still_recording()
        super().__init__(recording, board=board, config=config, flash_dir=flash_dir, **kwargs)

    @property
    def address(self) -> str:
        return address_str(self.addr)

    # -- the app on the radio ----------------------------------------------------------

    def _store(self, root, capacity):
        log = LedgerLog(root, capacity)
        log.ledger = self.ledger
        return log

    def _new_app(self):
        if self.radio is None:
            self.radio = vbt.BLE(clock=self.clock, **self._radio_kw)
            self.clock.on_advance.append(self.radio.sync)
        elif self.radio.active():
            self.radio.active(False)  # the MCU reset takes the stack down: links drop
        return super()._new_app(radio=self.radio, bt=vbt, store=self._store)

    @property
    def service(self):
        """The app's app.ble.BandService (None before boot or without a radio)."""
        return self.app.svc

    def client(self, mtu: int = 185, addr: bytes = HOST_ADDR, pair: bool = True, keys=None) -> VirtualClient:
        """A host's GATT client for this band (connect() it on the band's loop)."""
        return VirtualClient(self, mtu=mtu, addr=addr, pair=pair, keys=keys)

    def with_client(self, fn, mtu: int = 185, connect: bool = True, **client_kw):
        """The coroutine `await fn(client)` with a connected client, disconnected after
        (`client_kw`: pair, keys, addr as for client())."""
        async def go():
            c = self.client(mtu=mtu, **client_kw)
            if connect:
                await c.connect()
            try:
                return await fn(c)
            finally:
                if c.is_connected:
                    await c.disconnect()
        return go()

    # -- resets ------------------------------------------------------------------------

    def reboot(self) -> None:
        """An MCU reset now (power glitch, crash, watchdog): the app's tasks die, the
        radio drops its links, a new app boots on the same flash and IMU."""
        self._reboot_pending = True
        if self.loop.is_running():
            self.loop.stop()
        else:
            self._reset_mcu("reboot")

    def _after_advance(self):
        self.watchdog.check()
        if (self.watchdog.expired or self._reboot_pending) and self.loop.is_running():
            self.loop.stop()

    def _run_loop(self, fut):
        """The band's loop until `fut` is done (also from inside another running loop)."""
        with _outer_loop_aside():
            return self.loop.run_until_complete(fut)

    def _reset_mcu(self, why: str) -> None:
        self._reboot_pending = False
        task = self._app_task
        self._app_task = None
        if task is not None and not task.done():
            task.cancel()
            try:
                self._run_loop(task)
            except (asyncio.CancelledError, RuntimeError):
                pass
        self.watchdog.expired = False
        self.watchdog.started = False
        self.output_state = {k: 0 for k in self.output_state}
        self.console.append((self.clock.ms(), "%s reset" % why))
        self.resets.append((self.clock.ms(), why))
        self.app = self._new_app()
        self._ensure_app(self._until_ms)

    # -- running -----------------------------------------------------------------------

    def _ensure_app(self, until_ms: int) -> None:
        """The app's main task runs (booting it first if new) until `until_ms`."""
        self._until_ms = until_ms
        if self.off:
            return
        app = self.app
        task = self._app_task
        if task is not None and not task.done() and not app.running:
            # main() reached its end time and is still winding its tasks down: let it
            try:
                self._run_loop(task)
            except (asyncio.CancelledError, RuntimeError):
                pass
        if task is not None and not task.done():
            app.stop_at(until_ms - self.boots[-1])
            return
        if app.state == _ST_OFF:
            self.off = True
            return
        if app.state == _ST_BOOT:
            self.boots.append(self.clock.ms())
        self._app_task = self.loop.create_task(app.main(until_ms - self.boots[-1]))

    def _drive(self, fut):
        """Run the loop until `fut` is done, resetting the app whenever the watchdog
        fired or a reboot was asked for (the host's tasks live on)."""
        while True:
            try:
                self._run_loop(fut)
            except RuntimeError:
                if fut.done() or not (self.watchdog.expired or self._reboot_pending):
                    raise
            if self.watchdog.expired or self._reboot_pending:
                self._reset_mcu("watchdog" if self.watchdog.expired else "reboot")
            if fut.done():
                return fut.result()

    async def _sleep_until(self, ms: int):
        while self.clock.ms() < ms:
            await asyncio.sleep((ms - self.clock.ms()) / 1000.0)

    def run(self, until_s: float | None = None) -> "VirtualBand":
        """Advance simulated time to `until_s` (default: the recording, the session
        idle time and a minute); repeatable."""
        if until_s is None:
            until_s = self.default_until_s()
        target = int(round(until_s * 1000))
        self._ensure_app(target)
        if self.clock.ms() < target:
            self._drive(self.loop.create_task(self._sleep_until(target)))
        return self

    def advance(self, until_s: float, horizon_s: float = 3600.0) -> "VirtualBand":
        """Advance simulated time to `until_s` with the app going on past it (run() ends
        the app's main at `until_s`): for a band kept in step with an outside clock in
        small steps, such as real time behind the D-Bus service (repband.virtual.bluez).
        Callable from a coroutine of another event loop."""
        target = int(round(until_s * 1000))
        if self.clock.ms() < target:
            self.run_host(self._sleep_until(target), horizon_s=horizon_s)
        return self

    def run_host(self, coro, until_s: float | None = None, horizon_s: float = 3600.0):
        """Run the coroutine `coro` (host code) on the band's loop while the band runs;
        returns its result when it finishes. `until_s` bounds the band's run (default:
        `horizon_s` from now); the band stays where it is when the host is done."""
        end = self.clock.ms() + int(horizon_s * 1000) if until_s is None else int(round(until_s * 1000))
        self._ensure_app(end)
        return self._drive(self.loop.create_task(coro))

    def stop(self) -> None:
        """End the app's and the host's tasks (the band's flash stays as it is)."""
        loop = self.loop
        if loop.is_closed():
            return
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            try:
                self._run_loop(asyncio.gather(*pending, return_exceptions=True))
            except RuntimeError:
                pass
        self._app_task = None

    def close(self):
        try:
            self.stop()
        finally:
            super().close()

    def now_ms(self) -> int:
        return self.clock.ms()

    def log_on_flash(self) -> dict[int, bytes]:
        """Records still on the band (not deleted), seq -> bytes."""
        from repcore import records

        app = self.app
        log = app.log
        if log is None:
            return {}
        return {records.seq_of(r): bytes(r) for r in log.read_from(0)}


@functools.lru_cache(maxsize=8)
def _routine(seed: int, leg: str, placement: str):
    """The simulator's routine (deterministic: made once per process)."""
    from repband.sim import simulate

    return simulate("routine", seed=seed, leg=leg, placement=placement)[0]


def _worn_as(state_dir, config: dict | None) -> tuple[str, str]:
    """(leg, placement) the band is worn with: `config`, else its flash's config."""
    cfg = dict(config or {})
    if state_dir is not None and not cfg:
        try:
            cfg = json.loads((Path(state_dir) / "config.json").read_text())
        except (OSError, ValueError):
            cfg = {}
    leg = cfg.get("leg") if cfg.get("leg") in ("left", "right") else "right"
    placement = cfg.get("placement") if cfg.get("placement") in ("thigh", "hip") else "thigh"
    return leg, placement


_RADIO_KW = {"addr", "speed", "interval_ms", "packets_per_interval", "queue_limit"}
_worn: dict = {}  # (seed, board, config) -> (flash folder, ledger) of a new band worn once


def _wear(flash_dir, new: bool, seed: int, board: str, config: dict | None, kw: dict) -> dict:
    """The band with flash `flash_dir` worn through the routine, put down until its
    session ended (it falls asleep then), as fast as it goes; returns its ledger. For a
    `new` (empty) flash that run is deterministic, so it is made once per process and
    copied (unless `kw` holds more than radio settings), all but its identity."""
    kw = {k: v for k, v in kw.items() if k != "speed"}
    key = (seed, board, json.dumps(config, sort_keys=True)) if new and set(kw) <= _RADIO_KW else None
    made = _worn.get(key) if key is not None else None
    if made is None:
        tmp = tempfile.TemporaryDirectory(prefix="repband-worn-") if new else None
        band = VirtualBand(_routine(seed, *_worn_as(None, config)), board=board, config=config,
                           flash_dir=tmp.name if new else flash_dir, **kw)
        try:
            band.run()  # the routine, then idle until its session ended
        finally:
            band.close()
        if not new:
            return band.ledger
        made = (tmp, band.ledger)
        if key is not None:
            _worn[key] = made
    # a band of its own: its identity is made at its first boot here, not copied
    shutil.copytree(made[0].name, flash_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns("identity"))
    return dict(made[1])


def open_band(state_dir=None, seed: int = 1, routine: bool | None = None, board: str = "xiao_esp32s3_lsm6ds3",
              config: dict | None = None, play: bool = False, **kw) -> VirtualBand:
    """A virtual band ready for a host, booted and advertising. `state_dir`: its flash
    (kept between runs; None: a temporary one). `routine`: first the band is worn
    through a simulated routine, put down (it falls asleep) and switched on again
    (default: when its flash holds no session log yet, so a new band has something to
    sync); that part runs as fast as it can whatever `speed`. `play`: the band is worn
    through the routine from now on (a host watching live; with `speed=1.0` in real
    time), else it lies still. Other keywords go to VirtualBand (e.g. `speed`, `addr`)."""
    tmp = None
    if state_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="repband-virtual-")
        state_dir = tmp.name
    Path(state_dir).mkdir(parents=True, exist_ok=True)
    new = not (Path(state_dir) / "log").is_dir()
    ledger: dict = {}
    if routine or (routine is None and new):
        ledger = _wear(state_dir, new, seed, board, config, kw)
        config = None  # on the flash now
    rec = _routine(seed, *_worn_as(state_dir, config)) if play else None
    band = VirtualBand(rec, board=board, config=config, flash_dir=state_dir, **kw)
    band.ledger.update(ledger)
    band._tmp = tmp  # a temporary flash goes with the band
    try:
        band.run(0.5 if play else 1.0)
    except BaseException:  # Ctrl-C while it boots: its tasks end now, not in a closed loop at exit
        band.close()
        raise
    return band


def run_with_virtual(fn, state_dir=None, seed: int = 1, routine: bool | None = None, mtu: int = 185,
                     connect: bool = True, play: bool = False, pair: bool = True, keys=None,
                     horizon_s: float = 3600.0, **kw):
    """Run `await fn(client)` on the loop of an in-process virtual band and return its
    result: the one way host code reaches an in-process band (`--device virtual` on
    every command: repband.device.run_virtual).

    `client` (a VirtualClient) has link.py's GATT client interface (read, write,
    start_notify, stop_notify, is_connected) and `connect()`, `pair()`, `disconnect()`,
    `address`, `name`, `band`; it is connected (and, with `pair`, paired) before `fn`
    runs unless connect=False; `keys`: this host's bond keys (see VirtualClient). The band's flash is `state_dir` (kept: a second run sees what the
    first left, e.g. records already deleted by a sync) or a temporary directory.
    Time is simulated: `fn` must wait with asyncio (asyncio.sleep, wait_for, the
    loop's time()), never time.sleep. `play=True, speed=1.0`: the routine plays while
    `fn` runs, in real time (a live view for a person). The band's app runs for at
    most `horizon_s` simulated seconds from then.
    """
    band = open_band(state_dir, seed=seed, routine=routine, play=play, **kw)
    try:
        return band.run_host(band.with_client(fn, mtu=mtu, connect=connect, pair=pair, keys=keys),
                             horizon_s=horizon_s)
    finally:
        try:
            with contextlib.suppress(Exception):  # the band goes on a moment after the host
                band.advance(band.clock.s + 0.5)  # left: it saves what it was given (bond keys)
        finally:
            band.close()


# ----------------------------------------------------------------------------- live latency


def timed_detector(decisions: list):
    """A detector factory for App(detector=...) that notes, for every event, the time of
    the sample the detector was given when it decided ((t_ms since boot, event))."""
    from repcore.detector import Detector

    class TimedDetector(Detector):
        _tcur = 0

        def push(self, t, ax, ay, az, gx, gy, gz):
            self._tcur = t
            return super().push(t, ax, ay, az, gx, gy, gz)

        def finish(self, t):
            self._tcur = t
            return super().finish(t)

    def make(emit, *args):
        box = []

        def em(ev):
            decisions.append((box[0]._tcur, ev))
            emit(ev)

        det = TimedDetector(em, *args)
        box.append(det)
        return det

    return make


def measure_live_latency(recording, interval_ms: float = 15.0, mtu: int = 185, board="xiao_esp32s3_lsm6ds3",
                         config=None, seed: int = 0) -> dict:
    """Live count latency in simulated time: a host connected through the whole
    recording, subscribed to the live state. For every counted rep and hold: from the
    sample at which the detector decided (the band could know no sooner) to the live
    notification carrying the new count at the host. Budget: 100 ms + one interval."""
    decisions: list = []
    band = VirtualBand(recording, board=board, config=config, detector=timed_detector(decisions),
                       interval_ms=interval_ms)
    rx: list = []  # (ms at the host, session, counts)
    try:
        async def host(client):
            def on_live(_s, data):
                d = P.decode_live(bytes(data))
                rx.append((band.clock.ms(), d["session"], tuple(d["counts"])))
            await client.start_notify(P.LIVE_UUID, on_live)
            end = band.default_until_s()
            while band.clock.s < end:
                await asyncio.sleep(1.0)

        band.run_host(band.with_client(host, mtu=mtu))
        dec = {id(ev): t for t, ev in decisions}
        boot = band.boots[0]
        lat = []
        counts = [0] * P.N_CELLS
        sid = 0
        j = 0
        for ev in band.events:
            k = ev[0]
            if k == "session_start":
                sid = ev[1]
                counts = [0] * P.N_CELLS
                continue
            if k == 1 and not ev[4]:
                cell = P.cell_of(ev[2], ev[3])
            elif k == 2:
                cell = P.cell_of(ev[3], ev[4])
            else:
                continue
            if cell < 0 or id(ev) not in dec:
                continue
            counts[cell] += 1
            t_dec = boot + dec[id(ev)]
            while j < len(rx) and not (rx[j][1] == sid and rx[j][2][cell] >= counts[cell]):
                j += 1
            if j >= len(rx):
                break
            lat.append(rx[j][0] - t_dec)
        lat.sort()
        n = len(lat)
        budget = 100 + interval_ms
        return {
            "events": n,
            "live_latency_ms_median": lat[n // 2] if n else None,
            "live_latency_ms_p95": lat[min(n - 1, int(n * 0.95))] if n else None,
            "live_latency_ms_max": lat[-1] if n else None,
            "live_latency_budget_ms": budget,
            "live_latency_ok": bool(n) and lat[-1] <= budget,
            "interval_ms": interval_ms,
            "notifications": len(rx),
        }
    finally:
        band.close()


def bench_live_latency(seed: int = 1, interval_ms: float = 15.0) -> dict:
    """The benchmark figure: measure_live_latency over the simulator's routine."""
    from repband.sim import simulate

    rec, _truth = simulate("routine", seed=seed)
    return measure_live_latency(rec, interval_ms=interval_ms)
