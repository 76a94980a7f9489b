"""The whole virtual band (repband.virtual.device): the firmware App with its GATT
service on the emulated radio and hardware, one virtual clock, host code from
repband.link / repband.sync on the same loop."""
from __future__ import annotations

import asyncio

import pytest

from repband.db import Database, DeviceInfo
from repband.link import LinkError, RecordLink, check_version, control, read_status, set_time
from repband.sync import SyncInterrupted, sync
from repband.virtual import VirtualBand, run_with_virtual
from repband.virtual import bluetooth as vbt
from repband.virtual.device import concat_recordings, measure_live_latency, still_recording
from repcore import protocol_host as P
from repcore import recdecode
from repcore import records as R

EPOCH = 1_767_225_600


def _band(**kw):
    return VirtualBand(None, **kw)


def test_band_advertises_and_serves_device_information():
    band = _band()
    try:
        band.run(1.0)
        svc = band.service
        assert svc is not None and band.radio.adv is not None
        assert b"repband" in band.radio.adv[2]

        async def host(c):
            assert await check_version(c) == (P.PROTO_MAJOR, P.PROTO_MINOR)
            model = await c.read(P.sig_uuid(P.DIS_MODEL))
            st = await read_status(c)  # current from the connection on (battery read at boot)
            batt = (await c.read(P.sig_uuid(P.BATTERY_LEVEL)))[0]
            return model, st, batt

        model, st, batt = band.run_host(band.with_client(host))
        assert model == b"xiao_esp32s3_lsm6ds3"
        assert st["major"] == 1 and 0 <= st["battery"] <= 100
        assert batt == band.app.battery > 0
    finally:
        band.close()


def test_unpaired_host_sees_only_device_information():
    band = _band()
    try:
        async def host(c):
            c.want_pair = False
            await c.connect()
            assert await check_version(c) == (P.PROTO_MAJOR, P.PROTO_MINOR)
            with pytest.raises(vbt.ATTError):
                await c.read(P.STATUS_UUID)
            with pytest.raises(LinkError, match="pair"):
                await control(c, P.CTRL_START)

        band.run_host(band.with_client(host, connect=False))
        assert not band.app.sessions.active
    finally:
        band.close()


def test_control_point_drives_the_app_and_the_clock_stamps_records():
    band = _band()
    try:
        async def host(c):
            await c.start_notify(P.LIVE_UUID, lambda s, d: lives.append(P.decode_live(bytes(d))))
            await control(c, P.CTRL_START)  # before the clock is set: boot-relative time
            await asyncio.sleep(1.0)
            await control(c, P.CTRL_STOP)
            await set_time(c, EPOCH)
            await control(c, P.CTRL_TARGETS, 12, 45)
            await control(c, P.CTRL_MODE, P.MODE_CLAM if hasattr(P, "MODE_CLAM") else 2)
            await control(c, P.CTRL_LEG, 1)
            await control(c, P.CTRL_START)
            await asyncio.sleep(2.0)
            await control(c, P.CTRL_STOP)
            await control(c, P.CTRL_IDENTIFY, 2)
            with pytest.raises(LinkError, match="invalid parameter"):
                await control(c, P.CTRL_TARGETS, 500, 45)  # the app allows 1..100 reps
            await asyncio.sleep(3.0)

        lives: list = []
        band.run_host(band.with_client(host))
        cfg = band.config()
        assert (cfg["target_reps"], cfg["target_hold_s"], cfg["mode"], cfg["leg"]) == (12, 45, "clam", "left")
        recs = band.records()
        starts = [r for r in recs if r["kind_name"] == "session_start"]
        ends = [r for r in recs if r["kind_name"] == "session_end"]
        assert len(starts) == 2 and len(ends) == 2
        assert not starts[0]["wall"] and starts[1]["wall"]
        assert abs(starts[1]["wall_ms"] / 1000 - (EPOCH + 3)) < 5  # epoch at uptime 0 + ~3 s
        assert ends[-1]["reason"] == 3  # END_HOST
        assert any(name == "identify" for _t, name in band.feedback_log)
        assert lives and any(d["flags"] & P.LIVE_SESSION for d in lives)
        assert lives[-1]["flags"] & P.LIVE_TIME_SET and not lives[-1]["flags"] & P.LIVE_SESSION
    finally:
        band.close()


def test_sensor_fault_shows_in_the_live_flags():
    band = _band()
    try:
        async def host(c):
            await asyncio.sleep(2.0)
            band.bus.fail_all = True
            await asyncio.sleep(3.0)
            bad = P.decode_live(await c.read(P.LIVE_UUID))["flags"]
            band.bus.fail_all = False
            await asyncio.sleep(40.0)
            good = P.decode_live(await c.read(P.LIVE_UUID))["flags"]
            return bad, good

        bad, good = band.run_host(band.with_client(host))
        assert bad & P.LIVE_SENSOR_FAULT and not good & P.LIVE_SENSOR_FAULT
    finally:
        band.close()


def test_idle_band_sleeps_unconnectable_and_stays_awake_while_connected():
    band = _band(config={"sleep_idle_s": 10})
    try:
        async def host(c):
            await asyncio.sleep(30.0)  # connected: no sleep
            assert band.app.state != 3
            await c.disconnect()
            await asyncio.sleep(15.0)

        band.run_host(band.with_client(host))
        assert band.app.state == 3 and band.radio.adv is None  # asleep, not advertising
        assert not band.sleep_log or band.sleep_log[0][0] >= 40000
    finally:
        band.close()


def _records_by_control(c, n):
    async def go():
        for _ in range(n):
            await control(c, P.CTRL_START)
            await asyncio.sleep(0.5)
            await control(c, P.CTRL_STOP)
    return go()


def test_reboot_mid_sync_loses_and_duplicates_nothing(tmp_path):
    band = _band(interval_ms=30.0)
    db = Database(tmp_path / "r.db")
    try:
        async def host(c):
            await set_time(c, EPOCH)
            await _records_by_control(c, 40)
            info = DeviceInfo(band.address)
            band.at(band.clock.s + 0.3, band.reboot)
            with pytest.raises(SyncInterrupted):
                async with RecordLink(c) as link:
                    await sync(link, db, info)
            await c.connect()
            async with RecordLink(c) as link:
                res = await sync(link, db, info)
            return res

        res = band.run_host(band.with_client(host))
        assert res.complete and band.resets and band.resets[0][1] == "reboot"
        assert len(band.boots) == 2
        dev = db.device_id(band.address)
        rows = {s: bytes(r) for s, r in db.conn.execute("SELECT seq, raw FROM raw_records WHERE device_id = ?",
                                                        (dev,))}
        assert rows == band.ledger
        assert band.log_on_flash() == {}  # everything acknowledged and deleted
        assert all(R.check(b) == len(b) for b in rows.values())
        assert {recdecode.decode(b)["boot"] for b in rows.values()} <= {1, 2}
    finally:
        db.close()
        band.close()


def test_run_with_virtual_keeps_state_between_runs(tmp_path):
    state = tmp_path / "band"

    async def do_sync(c):
        db = Database(tmp_path / "h.db")
        try:
            async with RecordLink(c) as link:
                r = await sync(link, db, DeviceInfo(c.address))
            return r.stored, db.record_count()
        finally:
            db.close()

    async def make(c):
        await _records_by_control(c, 3)
        async with RecordLink(c) as link:
            return await link.count_from(0)

    assert run_with_virtual(make, state_dir=state, routine=False) >= 6
    stored, total = run_with_virtual(do_sync, state_dir=state)
    assert stored == total >= 6
    again, total2 = run_with_virtual(do_sync, state_dir=state)
    assert again <= 2 and total2 == total + again  # only this boot's new records (e.g. a fault)


def test_ctrl_c_while_the_band_boots_leaves_no_task_behind(tmp_path, monkeypatch):
    """Ctrl-C in the first seconds of `repband live --device virtual` (the band booting):
    the band's tasks end with it, not at exit as "Task was destroyed but it is pending!"
    and an "Event loop is closed" traceback under the one-line message."""
    import repband.virtual.device as VD

    seen = []
    run = VD.VirtualBand.run

    def interrupted(self, until_s=None):
        seen.append(self)
        run(self, 0.1)  # the app has started its tasks
        raise KeyboardInterrupt

    monkeypatch.setattr(VD.VirtualBand, "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_with_virtual(lambda c: asyncio.sleep(0), state_dir=tmp_path / "band", routine=False)
    band = seen[-1]
    assert band.loop.is_closed() and not [t for t in asyncio.all_tasks(band.loop) if not t.done()]


def test_live_latency_within_budget():
    from repband.sim import simulate

    rec, _ = simulate("bridges", seed=1)
    r = measure_live_latency(rec, interval_ms=15.0)
    assert r["events"] >= 15
    assert r["live_latency_ms_max"] <= r["live_latency_budget_ms"] == 115.0


def test_concat_recordings_holds_the_last_row():
    a, b = still_recording(2.0), still_recording(1.0)
    rec, spans = concat_recordings([a, b], gap_s=3.0)
    assert len(rec.t) == round(104 * 9)
    assert spans == [(0.0, 2.0), (5.0, 6.0)]


# -- the pairing window (firmware/app/security.py; the button in firmware/app/app.py) ---------------

OWNER = b"\x01\x02\x03\x04\x05\x06"
PHONE = b"\x0b\x0b\x0b\x0b\x0b\x0b"
STRANGER = b"\x0c\x0c\x0c\x0c\x0c\x0c"


def _bond_keys(band, addr):
    return [it for it in band.service.secrets.items if bytes(it[1]) == b"\x00" + addr]


async def _pair_as(band, addr):
    """A host that was never paired with the band connects and pairs; returns it."""
    c = band.client(addr=addr)
    await c.connect()
    await asyncio.sleep(0.2)
    return c


def test_pairing_window_on_the_band_button_and_reboot(tmp_path):
    band = _band(config={"sleep_idle_s": 3600}, flash_dir=tmp_path / "flash")
    db = Database(tmp_path / "w.db")
    try:
        async def host(owner):
            svc = band.service
            # Out of the box: the owner's computer pairs (the band had no bond).
            assert owner.is_connected and svc.encrypted and len(_bond_keys(band, OWNER)) == 2
            await _records_by_control(owner, 2)  # something to sync
            await owner.disconnect()
            on_band = band.log_on_flash()
            await asyncio.sleep(125.0)  # past the boot window
            assert not svc.pairable

            phone = await _pair_as(band, PHONE)
            assert not phone.is_connected and svc.pair_refused == 1 and _bond_keys(band, PHONE) == []
            with pytest.raises(vbt.Disconnected):
                await phone.read(P.STATUS_UUID)
            phone.want_pair = False
            with pytest.raises(vbt.PairingError):
                await phone.connect()  # its key is useless: the band never kept it
            with pytest.raises(LinkError, match="not paired with the band"):
                async with RecordLink(phone) as link:
                    await link.delete_through(10**6)
            await phone.disconnect()
            assert band.log_on_flash() == on_band and len(on_band) >= 4  # nothing deleted

            # The owner reconnects on the bond and syncs.
            await owner.connect()
            assert svc.encrypted
            async with RecordLink(owner) as link:
                await sync(link, db, DeviceInfo(band.address))
            assert band.log_on_flash() == {}
            await owner.disconnect()

            # A press on the band's button: "pairable", and the phone may pair now.
            band.press(0, ms=150)
            await asyncio.sleep(1.0)
            assert "pairable" in [n for _t, n in band.feedback_log]
            assert svc.pairable and band.app.sessions.active  # the press kept its meaning too
            phone.want_pair = True
            await phone.connect()  # the band refuses its old key, so it pairs anew
            await asyncio.sleep(0.2)
            assert phone.is_connected and svc.encrypted and len(_bond_keys(band, PHONE)) == 2
            assert (await read_status(phone))["major"] == 1
            await phone.disconnect()
            band.press(0, ms=150)  # stops the session; the window runs 2 minutes from here
            await asyncio.sleep(1.0)
            assert not band.app.sessions.active
            await asyncio.sleep(120.0)
            assert not svc.pairable
            stranger = await _pair_as(band, STRANGER)
            assert not stranger.is_connected and svc.pair_refused == 2
            assert [n for _t, n in band.feedback_log].count("pairable") == 1  # 2nd press: was open

            # A reboot (as switching the band on): bonds kept, the window open 2 minutes.
            band.at(band.clock.s + 0.1, band.reboot)
            await asyncio.sleep(1.0)
            svc = band.service
            assert len(band.boots) == 2 and svc.pairable and svc.pair_refused == 0
            await owner.connect()
            assert owner.is_connected and svc.encrypted  # on the bond kept on flash
            await owner.disconnect()
            late = await _pair_as(band, b"\x0d" * 6)  # within 2 minutes of the boot
            assert late.is_connected and svc.encrypted and len(_bond_keys(band, b"\x0d" * 6)) == 2
            await late.disconnect()
            await asyncio.sleep(121.0)
            assert not svc.pairable
            stranger = await _pair_as(band, STRANGER)
            assert not stranger.is_connected and svc.pair_refused == 1
            phone.want_pair = False
            await phone.connect()
            assert phone.is_connected and svc.encrypted  # the phone's bond too

        band.run_host(band.with_client(host, addr=OWNER))
    finally:
        db.close()
        band.close()
