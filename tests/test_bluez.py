"""Unmodified bleak (its BlueZ D-Bus backend) against the virtual band served by
repband.virtual.bluez on a private dbus-daemon: scan, connect, services, pair, read,
notify, write, a records sync through repband.link, disconnects. The bands are the
whole virtual band (firmware app, emulated hardware and radio) in real time; a new
one has been worn through a simulated routine (a second or two, once per process).

Needs `dbus-daemon` (Debian's `dbus` package; .ci/run installs it). Each test starts
its own daemon and points DBUS_SYSTEM_BUS_ADDRESS at it; bleak keeps one BlueZ manager
per event loop, and every test runs in a fresh loop, so none leaks into the next."""
from __future__ import annotations

import asyncio
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
for p in (ROOT / "firmware", ROOT / "host"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from bleak import BleakClient, BleakScanner  # noqa: E402
from bleak.exc import BleakDBusError, BleakError  # noqa: E402

from repband.link import (GattAdapter, LinkLost, LiveTracker, RecordLink, check_version,  # noqa: E402
                          control, read_settings, read_status)
from repband.virtual import bluez as vb  # noqa: E402
from repcore import protocol_host as P  # noqa: E402
from repcore import records as R  # noqa: E402

DIS = "0000180a-0000-1000-8000-00805f9b34fb"
BAS = "0000180f-0000-1000-8000-00805f9b34fb"
CTS = "00001805-0000-1000-8000-00805f9b34fb"


@pytest.fixture
def private_bus(monkeypatch):
    if shutil.which("dbus-daemon") is None:
        pytest.fail("dbus-daemon is missing: these tests need Debian's 'dbus' package "
                    "(apt-get install -y dbus; .ci/run installs it)")
    bus = vb.PrivateBus()
    bus.start()
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address)
    yield bus
    bus.stop()


def run(coro, timeout=40):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def _find(n=1, timeout=5.0):
    """Scan until `n` bands were seen; {address: (device, adv)}."""
    found = {}
    done = asyncio.Event()

    def cb(device, adv):
        if P.SERVICE_UUID in adv.service_uuids:
            found[device.address] = (device, adv)
            if len(found) >= n:
                done.set()

    async with BleakScanner(cb, service_uuids=[P.SERVICE_UUID]):
        try:
            await asyncio.wait_for(done.wait(), timeout)
        except asyncio.TimeoutError:
            pass
    return found




# -- the whole flow --------------------------------------------------------------------------


def test_bleak_end_to_end(private_bus):
    async def go():
        async with vb.VirtualBlueZ(private_bus.address) as bluez:
            band = bluez.devices[0].band
            found = await _find()
            assert len(found) == 1
            device, adv = next(iter(found.values()))
            assert device.address == bluez.devices[0].address
            assert adv.local_name == "repband" and device.name == "repband"
            assert P.SERVICE_UUID in adv.service_uuids

            gone = []
            client = BleakClient(device, disconnected_callback=gone.append)
            await client.connect()
            assert client.is_connected
            uuids = {s.uuid for s in client.services}
            assert {P.SERVICE_UUID, DIS, BAS, CTS} <= uuids
            racp = client.services.get_characteristic(P.RACP_UUID)
            assert sorted(racp.properties) == ["indicate", "write"]
            # BlueZ's MTU: the host asked 185, the band takes up to 247.
            assert racp.max_write_without_response_size == vb.DEFAULT_MTU - 3
            g = GattAdapter(client)

            # Unpaired: Device Information is open. A read that needs encryption makes
            # BlueZ raise the link's security and pair by itself (the band is pairable:
            # it has no bond yet), then the read goes through; a stranger would be
            # refused by the band outside its pairing window (test below).
            assert await check_version(g) == (P.PROTO_MAJOR, P.PROTO_MINOR)
            assert not band.svc.encrypted
            first = await client.read_gatt_char(P.STATUS_UUID)
            dev_props = bluez._props(bluez.devices[0].path, vb.DEVICE)
            assert dev_props["Paired"].value and dev_props["Bonded"].value
            assert band.svc.encrypted and P.decode_status(first)["major"] == P.PROTO_MAJOR
            await client.pair()  # already paired: nothing more to do

            st = await read_status(g)
            n_log = len(list(band.log.read_from(0)))
            assert st["unsynced"] == n_log > 20 and st["next_seq"] == band.log.next_seq
            settings = await read_settings(g, P.PROTO_MINOR)
            assert {k: settings[k] for k in ("leg", "placement", "target_reps")} == {
                k: band.app.cfg[k] for k in ("leg", "placement", "target_reps")}

            # Live state notifications, then a control point command with its answer.
            live = LiveTracker()
            got_live = asyncio.Event()

            def on_live(_c, data):
                d = live.feed(data)
                if d["flags"] & P.LIVE_SESSION:
                    got_live.set()

            await client.start_notify(P.LIVE_UUID, on_live)
            assert await control(g, P.CTRL_START) == P.RESULT_SUCCESS
            await asyncio.wait_for(got_live.wait(), 5)
            assert band.app.sessions.active
            assert live.state["session"] == band.app.sessions.sid
            assert await control(g, P.CTRL_STOP) == P.RESULT_SUCCESS
            await client.stop_notify(P.LIVE_UUID)
            # the status follows the log at once (session start and end appended)
            assert (await read_status(g))["unsynced"] == n_log + 2

            # Sync: exactly the band's records, each once, over bleak.
            link = RecordLink(g)
            got = [r async for r in link.records_from(0)]
            assert got == list(band.log.read_from(0))
            assert [R.seq_of(r) for r in got] == list(range(1, n_log + 3))
            assert await link.delete_through(R.seq_of(got[-1])) is True
            assert (await read_status(g))["unsynced"] == 0
            await link.close()

            await client.disconnect()
            assert not client.is_connected and len(gone) == 1
            assert not band.svc.connected
            assert not any(p.startswith(bluez.devices[0].path + "/") for p in bluez._objects)
    run(go())


def test_injected_disconnect_mid_transfer_then_resume(private_bus):
    async def go():
        async with vb.VirtualBlueZ(private_bus.address) as bluez:
            d0 = bluez.devices[0]
            band = d0.band
            expected = list(band.log.read_from(0))
            assert len(expected) > 20
            device, _adv = next(iter((await _find()).values()))

            gone = asyncio.Event()
            client = BleakClient(device, disconnected_callback=lambda _c: gone.set())
            await client.connect()
            await client.pair()
            g = GattAdapter(client)
            # The link drops after 5 record frames (a link loss on the air).
            d0.central.faults(disconnect_after=5, uuid=P.RECORDS_UUID)
            got = []
            with pytest.raises(LinkLost):
                async for r in RecordLink(g, timeout=5).records_from(0):
                    got.append(r)
            await asyncio.wait_for(gone.wait(), 5)
            assert not client.is_connected
            assert 0 < len(got) < len(expected) and got == expected[:len(got)]
            d0.central.clear_faults()
            await client.disconnect()  # releases bleak's D-Bus connection (no-op on the link)

            # Reconnect: the bond holds (the link is encrypted again without pairing);
            # resume after the last record received.
            client = BleakClient(device)
            await client.connect()
            assert band.svc.encrypted
            rest = [r async for r in RecordLink(GattAdapter(client)).records_from(R.seq_of(got[-1]) + 1)]
            assert got + rest == expected

            # A disconnect the band makes is seen too.
            gone2 = asyncio.Event()
            client2_cb = []
            await client.disconnect()
            client = BleakClient(device, disconnected_callback=lambda c: (client2_cb.append(c), gone2.set()))
            await client.connect()
            assert bluez.disconnect(0, by="band")
            await asyncio.wait_for(gone2.wait(), 5)
            assert not client.is_connected and client2_cb == [client]
            await client.disconnect()
    run(go())


def test_two_bands_and_bleak_errors(private_bus):
    async def go():
        async with vb.VirtualBlueZ(private_bus.address, devices=2) as bluez:
            found = await _find(2)
            assert set(found) == {d.address for d in bluez.devices}
            # Connect by address (bleak scans for it itself), read, a notify on a
            # characteristic without notify is refused the BlueZ way.
            addr = bluez.devices[1].address
            async with BleakClient(addr, timeout=10) as client:
                assert (await client.read_gatt_char(P.sig_uuid(P.DIS_SOFTWARE))) == P.VERSION_STRING.encode()
                with pytest.raises(BleakError):
                    await client.start_notify(P.STATUS_UUID, lambda *_: None)
                assert bluez.devices[1].central.is_connected
                assert not bluez.devices[0].central.is_connected
            # Adapter off: bleak says so.
            bluez._set_property(bluez.adapter_path, vb.ADAPTER, "Powered", vb.Variant("b", False))
            await asyncio.sleep(0.1)  # the PropertiesChanged reaches bleak's manager
            with pytest.raises(BleakError, match="[Pp]owered"):
                await BleakScanner.discover(timeout=0.2)
    run(go())


# -- the pairing window: `repband pair` over bleak -------------------------------------------


def _bonded_band_past_its_window(index, workdir, clock):
    """A band bonded to another phone already and switched on 2 minutes 10 s ago: its
    pairing window is closed (docs/protocol.md)."""
    from repband.virtual.device import DEFAULT_ADDR, open_band

    band = open_band(workdir, addr=DEFAULT_ADDR[:-1] + bytes((index + 1,)), config={"sleep_idle_s": 3600})

    async def phone(c):
        assert c.band.service.encrypted

    band.run_host(band.with_client(phone, addr=b"\x0b" * 6))
    band.advance(band.clock.s + 130.0)
    assert not band.service.pairable
    return vb.RealTimeBand(band, clock)


def test_repband_pair_refused_over_bleak_then_allowed_after_a_press(private_bus, tmp_path, monkeypatch, capsys):
    from repband import cli

    monkeypatch.setenv("REPBAND_STATE_DIR", str(tmp_path / "state"))
    db = str(tmp_path / "r.db")

    async def go():
        async with vb.VirtualBlueZ(private_bus.address, band_factory=_bonded_band_past_its_window) as bluez:
            d0 = bluez.devices[0]
            argv = ["pair", "--device", d0.address, "--db", db, "--timeout", "5"]
            rc = await asyncio.to_thread(cli.main, argv)  # bleak on its own loop, as the command runs
            err = capsys.readouterr().err
            assert rc == 1, err
            assert err == ("repband: the band refused to pair: press its button (or switch it on) and run "
                           "`repband pair` within 2 minutes\n")
            svc = d0.band.svc
            assert svc.pair_refused == 1 and not svc.connected
            assert not any(bytes(k)[1:] == d0.central.addr for _t, k, _v in svc.secrets.items)
            assert not d0.paired and not d0.bonded  # bluetoothd forgot the refused key too
            # The button opens the window: the same command pairs.
            d0.band.press(0, ms=150)
            await asyncio.sleep(0.5)
            assert svc.pairable
            rc = await asyncio.to_thread(cli.main, argv)
            out = capsys.readouterr().out
            assert rc == 0 and f"paired with repband ({d0.address})" in out
            assert len([1 for _t, k, _v in svc.secrets.items if bytes(k)[1:] == d0.central.addr]) == 2
    run(go(), timeout=60)


def test_sync_over_bleak_refuses_an_unencrypted_link_and_another_band(private_bus, tmp_path, monkeypatch,
                                                                       capsys):
    """Issue 11: on the bleak path nothing checked that the link was encrypted, and a
    band at a known address was merged into that person's history. BlueZ pairs by
    itself when a read needs encryption (as the emulation does now): outside the band's
    window the band refuses, and the sync says the link is not encrypted; a band that
    pairs but has another identity is refused by the identity check."""
    from repband import cli
    from repband.db import Database

    monkeypatch.setenv("REPBAND_STATE_DIR", str(tmp_path / "state"))
    db = str(tmp_path / "r.db")

    async def go():
        async with vb.VirtualBlueZ(private_bus.address, band_factory=_bonded_band_past_its_window) as bluez:
            d0 = bluez.devices[0]
            with Database(db) as d:  # this computer knew a band at this address
                d.set_identity(d.upsert_device(d0.address), "00" * 16)
            argv = ["sync", "--device", d0.address, "--db", db, "--timeout", "5", "--retries", "0"]
            rc = await asyncio.to_thread(cli.main, argv)
            err = capsys.readouterr().err
            assert rc == 1 and err.count("\n") == 1, err
            assert "needs an encrypted link" in err and "repband pair" in err, err
            assert d0.band.svc.pair_refused >= 1  # BlueZ tried to pair; the band said no
            d0.band.press(0, ms=150)  # the owner's window: now the pairing goes through ...
            await asyncio.sleep(0.5)
            rc = await asyncio.to_thread(cli.main, argv)
            err = capsys.readouterr().err
            assert rc == 1 and "is not the band paired here" in err, err  # ... and the identity differs
            with Database(db) as d:
                assert d.record_count() == 0
    run(go(), timeout=90)


# -- the command -----------------------------------------------------------------------------


def test_virtual_device_command(tmp_path):
    if shutil.which("dbus-daemon") is None:
        pytest.fail("dbus-daemon is missing: install Debian's 'dbus' package (apt-get install -y dbus)")
    # The bands' flash, kept in --workdir: made here (a new band is worn through the
    # routine once per process), so the command boots them as they are.
    work = tmp_path / "bands"
    for i in range(2):
        vb.real_band(i, str(work / f"band{i}"), vb.RealClock()).close()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "host"), str(ROOT / "firmware"), env.get("PYTHONPATH", "")])
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from repband.cli import main; sys.exit(main())",
                             "virtual-device", "--bluez", "--devices", "2", "--workdir", str(work)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        address = None
        deadline = time.monotonic() + 20
        lines = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("DBUS_SYSTEM_BUS_ADDRESS="):
                address = line.strip().split("=", 1)[1]
            if line.startswith("Ctrl-C"):
                break
        assert address and address.startswith("unix:path="), "".join(lines) + proc.stderr.read()
        assert any("repband scan" in x for x in lines)
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = address
        try:
            found = run(_find(2))
        finally:
            del os.environ["DBUS_SYSTEM_BUS_ADDRESS"]
        assert len(found) == 2
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
        assert not os.path.exists(address.split("=", 1)[1])
        assert sorted(os.listdir(work)) == ["band0", "band1"] and (work / "band1" / "log").is_dir()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_missing_dbus_daemon_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(vb.DBusDaemonError, match="apt-get install -y dbus"):
        vb.PrivateBus().start()
