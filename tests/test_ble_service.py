"""The firmware's GATT service (firmware/app/ble.py) on the emulated `bluetooth`
module (repband.virtual.bluetooth) with a Central running the host side
(repband.link): advertising, MTU, encryption, RACP, framing, disconnects, faults."""
from __future__ import annotations

import asyncio
import operator
import errno
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
for p in (ROOT / "firmware", ROOT / "host"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

# The firmware's timing constants are private const()s (folded on the band, no RAM);
# CPython keeps them as module attributes.
from app.ble import _FAST_ADV_US as FAST_ADV_US  # noqa: E402
from app.ble import _SLOW_ADV_US as SLOW_ADV_US  # noqa: E402
from app.ble import BandService, Secrets  # noqa: E402
from app.security import _PAIR_WINDOW_MS as PAIR_WINDOW_MS  # noqa: E402
from repband.link import (LinkError, LinkLost, LiveTracker, RawGapDetector, RecordLink,  # noqa: E402
                          check_version, control, read_status, set_time)
from repband.virtual import bluetooth as bt  # noqa: E402
from repcore import protocol_host as P  # noqa: E402
from repcore import records as R  # noqa: E402
from repcore.store import SessionLog  # noqa: E402

EPOCH = 1_767_225_600

EVENTS = [
    (1, 1000, 1, 0, 0, 231, 800, 2000, 900),
    (2, 5000, 35000, 3, 2, 152),
    (3, 1000, 60000, 2, 1, 12, 1, 580, 4100),
    (4, 7000, 1),
    (7, 0, 600000, 2, 3, 36, 2, 4, 120000, 0),
]


class Wake:
    """The service's wake flag (asyncio.ThreadSafeFlag on the board): counts its sets."""

    def __init__(self):
        self.sets = 0

    def set(self):
        self.sets += 1


class Band:
    def __init__(self, tmp, n=60, **kw):
        self.log = SessionLog(str(tmp / "log"), capacity=64 * 1024, segment_size=1024)
        for i in range(n):
            self.log.append_event(EVENTS[i % len(EVENTS)], 1)
        self.ble = bt.BLE(**kw)
        self.controls = []
        self.times = []
        self.secrets = Secrets(str(tmp / "secrets.json"))
        self.wake = Wake()
        self.svc = BandService(self.ble, self.log, bt=bt, ticks_ms=self.ble.now_ms, ticks_diff=operator.sub,
                               uptime_s=lambda: self.ble.now_ms() // 1000, wake=self.wake,
                               on_control=self._control, on_time=self.times.append, secrets=self.secrets)
        self.svc.start()

    def _control(self, op, params):
        self.controls.append((op, params))
        return P.RESULT_FAILED if op == P.CTRL_IDENTIFY else None

    def all(self):
        return list(self.log.read_from(0))

    def air(self, *more):
        return bt.Air(self.ble, self.svc.poll, *more)


async def _paired(band, mtu=None):
    c = bt.Central(band.ble)
    await c.connect()
    if mtu:
        await c.exchange_mtu(mtu)
    await c.pair()
    return c


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


# -- advertising and connection ---------------------------------------------------------------


def test_advertising_fast_then_slow_stops_on_connect(tmp_path):
    band = Band(tmp_path)
    ble = band.ble
    interval, adv, resp, connectable = ble.adv
    assert interval == FAST_ADV_US and connectable and len(adv) <= 31
    assert bytes(bytearray.fromhex(P.SERVICE_UUID.replace("-", ""))[::-1]) in adv
    assert b"repband" in resp
    for _ in range(31000 // 15):
        ble.step()
        band.svc.poll()
    assert ble.adv[0] == SLOW_ADV_US // 625 * 625

    async def go():
        c = bt.Central(ble)
        await c.connect()
        assert ble.adv is None and band.svc.connected
        await c.disconnect()
        band.svc.poll()
        assert ble.adv[0] == FAST_ADV_US and not band.svc.connected
    run(go())


def test_status_is_current_at_connect_and_follows_the_log(tmp_path):
    band = Band(tmp_path, n=5)
    band.log.append_event(EVENTS[0], 1)  # after start(), nobody connected: not written yet

    async def go():
        wakes = band.wake.sets
        c = await _paired(band)  # no Air: the band has not polled since
        # The IRQs only woke the service's task (they never touch the log): its first
        # poll after the connect writes the status, before a central has found it.
        assert band.wake.sets > wakes
        band.svc.poll()
        st = await read_status(c)
        assert st["unsynced"] == 6 and st["next_seq"] == 7
        band.log.append_event(EVENTS[1], 1)
        band.svc.set_battery(55)
        band.svc.poll()  # the next poll rewrites it
        st = await read_status(c)
        assert st["unsynced"] == 7 and st["battery"] == 55
        band.svc.set_flag(P.LIVE_CALIBRATED, True)
        band.svc.poll()
        assert (await read_status(c))["flags"] & P.LIVE_CALIBRATED
    run(go())


def test_unencrypted_central_sees_only_device_information(tmp_path):
    band = Band(tmp_path)

    async def go():
        c = bt.Central(band.ble)
        async with band.air():
            await c.connect()
            assert await check_version(c) == (P.PROTO_MAJOR, P.PROTO_MINOR)
            assert await c.read(P.sig_uuid(P.DIS_MANUFACTURER)) == b"repband"
            for u in (P.STATUS_UUID, P.LIVE_UUID, P.SETTINGS_UUID, P.sig_uuid(P.BATTERY_LEVEL),
                      P.sig_uuid(P.CTS_CURRENT_TIME)):
                with pytest.raises(bt.ATTError) as e:
                    await c.read(u)
                assert e.value.code == bt.ATT_INSUFFICIENT_ENCRYPTION
            for u, data in ((P.RACP_UUID, P.encode_racp(P.RACP_DELETE, P.OPR_LE, 1000)),
                            (P.CONTROL_UUID, P.encode_control(P.CTRL_STOP)),
                            (P.sig_uuid(P.CTS_CURRENT_TIME), P.encode_cts(EPOCH))):
                with pytest.raises(bt.ATTError):
                    await c.write(u, data)
            with pytest.raises(LinkError, match="not paired with the band"):
                await RecordLink(c).count_from(0)
            # Live events while unencrypted: nothing of the custom service goes out.
            await c.start_notify(P.LIVE_UUID, lambda s, d: None)
            band.svc.on_event(("session_start", 5, 0))
            band.svc.on_event(EVENTS[0])
            await asyncio.sleep(0.05)
        assert band.log.count_from(0) == 60 and not band.controls and not band.times
        assert not [u for u, _d in c.unencrypted_rx if u.startswith("cc60")]
    run(go())


def test_host_refuses_unknown_major_version(tmp_path):
    class Fake:
        async def read(self, uuid):
            return b"2.1"

    with pytest.raises(P.VersionError, match="speaks protocol 2.1.*update repband"):
        run(check_version(Fake()))


# -- RACP over the link ----------------------------------------------------------------------


@pytest.mark.parametrize("mtu", [None, 185])
def test_sync_at_mtu_23_and_185(tmp_path, mtu):
    band = Band(tmp_path, n=80)

    async def go():
        c = await _paired(band, mtu)
        async with band.air():
            st = await read_status(c)
            assert (st["unsynced"], st["first_seq"], st["next_seq"]) == (80, 1, 81)
            link = await RecordLink(c).open()
            assert await link.count_from(0) == 80
            assert await link.count_from(71) == 10
            got = [r async for r in link.records_from(1)]
            assert got == band.all()
            frames = [d for u, d, k in c.received if u == P.RECORDS_UUID]
            assert max(len(f) for f in frames) == (mtu or 23) - 3
            assert band.ble.stats["truncated"] == 0
            if mtu is None:
                assert all(len(f) <= 20 for f in frames)
            assert [R.seq_of(r) for r in [r async for r in link.records_from(75)]] == list(range(75, 81))
            assert await link.delete_through(40) is True
            assert await link.count_from(0) == 40
            assert await link.delete_through(40) is False  # idempotent repeat
            assert [R.seq_of(r) for r in [r async for r in link.records_from(0)]] == list(range(41, 81))
            st = await read_status(c)
            assert (st["unsynced"], st["first_seq"]) == (40, 41)
            assert [r async for r in link.records_from(500)] == []
            await link.close()
        return link

    link = run(go())
    assert link.stats["resyncs"] == 0 and link.stats["duplicates"] == 0


def test_racp_procedures_raw(tmp_path):
    """The RACP state machine byte by byte: first/last/range, busy, abort, bad requests."""
    band = Band(tmp_path, n=30)

    async def go():
        c = await _paired(band)
        got = []
        await c.start_notify(P.RACP_UUID, lambda s, d: got.append(P.decode_racp_response(bytes(d))))
        await c.start_notify(P.RECORDS_UUID, lambda s, d: None)

        async def ask(data, n=1):
            del got[:]
            await c.write(P.RACP_UUID, data)
            for _ in range(2000):
                if len(got) >= n:
                    break
                await asyncio.sleep(0)
            return list(got)

        async with band.air():
            assert (await ask(P.encode_racp(P.RACP_REPORT_NUMBER, P.OPR_RANGE, 5, 9)))[0]["count"] == 5
            assert (await ask(P.encode_racp(P.RACP_REPORT_NUMBER, P.OPR_LE, 3)))[0]["count"] == 3
            assert (await ask(P.encode_racp(P.RACP_REPORT_NUMBER, P.OPR_LAST)))[0]["count"] == 1
            r = (await ask(P.encode_racp(P.RACP_REPORT, P.OPR_FIRST)))[0]
            assert (r["request"], r["code"], r["records"]) == (1, 1, 1)
            r = (await ask(P.encode_racp(P.RACP_REPORT, P.OPR_RANGE, 100, 200)))[0]
            assert r["code"] == P.RC_NO_RECORDS
            for data, code in ((b"\x02\x01", P.RC_OPERATOR_NOT_SUPPORTED), (b"\x07\x01", P.RC_OP_NOT_SUPPORTED),
                               (b"\x01\x03\x02\x01\x00\x00\x00", P.RC_OPERAND_NOT_SUPPORTED)):
                assert (await ask(data))[0]["code"] == code
            # A report runs; a second request is busy; abort stops it.
            await c.write(P.RACP_UUID, P.encode_racp(P.RACP_REPORT, P.OPR_ALL))
            r = await ask(P.encode_racp(P.RACP_REPORT_NUMBER, P.OPR_ALL))
            assert (r[0]["request"], r[0]["code"]) == (P.RACP_REPORT_NUMBER, P.RC_BUSY)
            r = await ask(P.encode_racp(P.RACP_ABORT))
            assert (r[0]["request"], r[0]["code"]) == (P.RACP_ABORT, P.RC_SUCCESS)
            del got[:]
            for _ in range(50):
                await asyncio.sleep(0)
            assert not got and not band.svc.busy  # the aborted report sent no response
            assert (await ask(P.encode_racp(P.RACP_REPORT_NUMBER, P.OPR_ALL)))[0]["count"] == 30
        assert band.log.count_from(0) == 30  # nothing deleted without a delete
    run(go())


def test_abort_through_record_link(tmp_path):
    band = Band(tmp_path, n=100)

    async def go():
        c = await _paired(band)
        async with band.air():
            link = await RecordLink(c).open()
            seen = []
            async for r in link.records_from(0):
                seen.append(R.seq_of(r))
                if len(seen) == 5:
                    break
            await link.abort()
            for _ in range(5):
                await asyncio.sleep(0)
            assert not band.svc.busy
            assert await link.count_from(0) == 100
            # Leaving a report unfinished without abort: the next request aborts it.
            gen = link.records_from(0)
            await gen.__anext__()
            assert await link.count_from(50) == 51
            assert [R.seq_of(r) async for r in link.records_from(98)] == [98, 99, 100]
        assert seen == [1, 2, 3, 4, 5]
    run(go())


def test_disconnect_mid_transfer_then_resume(tmp_path):
    band = Band(tmp_path, n=90)
    want = band.all()

    async def go():
        c = await _paired(band)
        committed = []
        async with band.air():
            link = await RecordLink(c, timeout=5).open()
            c.faults(disconnect_after=60, uuid=P.RECORDS_UUID)
            with pytest.raises(LinkLost):
                async for r in link.records_from(1):
                    committed.append(r)
            assert not c.is_connected and not band.svc.connected and not band.svc.busy
            assert 10 < len(committed) < 90
            # The band kept everything; reconnect with the bond and go on from last + 1
            # (once the band's task has taken up the disconnect and advertises again).
            c.clear_faults()
            await asyncio.sleep(0)
            await c.connect()
            await c.encrypt()
            link = await RecordLink(c).open()
            last = R.seq_of(committed[-1])
            assert await link.count_from(last + 1) == 90 - last
            async for r in link.records_from(last + 1):
                committed.append(r)
            await link.delete_through(R.seq_of(committed[-1]))
        return committed

    got = run(go())
    assert got == want
    assert band.log.count_from(0) == 0


def test_dropped_and_duplicated_notifications_are_detected(tmp_path):
    band = Band(tmp_path, n=70)
    want = band.all()

    async def go():
        c = await _paired(band)
        async with band.air():
            link = await RecordLink(c).open()
            f = c.faults(drop={7, 40}, duplicate={3, 20, 21}, uuid=P.RECORDS_UUID)
            got = [r async for r in link.records_from(1)]
            assert f["dropped"] == 2 and f["duplicated"] == 3
            stats = dict(link.stats)
            # Random chaos: still exactly the log, in order, once.
            f = c.faults(drop_p=0.05, dup_p=0.05, seed=3, uuid=P.RECORDS_UUID)
            link2 = await RecordLink(c, retries=50).open()
            got2 = [r async for r in link2.records_from(1)]
            return got, stats, got2, f

    got, stats, got2, f = run(go())
    assert got == want and got2 == want
    assert stats["resyncs"] >= 1 and stats["duplicates"] >= 1
    assert f["dropped"] > 0


def test_lost_tail_is_caught(tmp_path):
    band = Band(tmp_path, n=10)

    async def go():
        c = await _paired(band, 185)
        async with band.air():
            link = await RecordLink(c).open()
            # 10 records (~400 bytes) fit 3 frames at MTU 185: drop the last one.
            c.faults(drop={2}, uuid=P.RECORDS_UUID)
            got = [r async for r in link.records_from(1)]
            return got, link.stats

    got, stats = run(go())
    assert got == band.all() and stats["resyncs"] == 1


# -- control point, time, live, raw ------------------------------------------------------------


def test_control_point_and_current_time(tmp_path):
    band = Band(tmp_path)

    async def go():
        c = await _paired(band)
        async with band.air():
            assert await control(c, P.CTRL_START) == P.RESULT_SUCCESS
            await control(c, P.CTRL_TARGETS, 15, 30)
            with pytest.raises(LinkError, match="refused 'identify': operation failed"):
                await control(c, P.CTRL_IDENTIFY, 3)
            await control(c, P.CTRL_MODE, 3)
            with pytest.raises(LinkError, match="invalid parameter"):
                await _raw_control(c, b"\x04\x07")
            for _ in range(100):
                band.ble.step()
            await set_time(c, EPOCH + 3600)
            assert band.times and band.svc.epoch_s == EPOCH + 3600 - band.ble.now_ms() // 1000
            assert P.decode_cts(await c.read(P.sig_uuid(P.CTS_CURRENT_TIME))) == EPOCH + 3600
            # 30 bytes: the stack cuts the write to the 20-byte buffer; the band refuses it.
            with pytest.raises(LinkError, match="invalid parameter"):
                await _raw_control(c, b"\x01" * 30)
            assert band.ble.stats["remote_write_truncated"] == 1
        assert band.controls[:3] == [(P.CTRL_START, ()), (P.CTRL_TARGETS, (15, 30)), (P.CTRL_IDENTIFY, (3,))]
        assert (P.CTRL_MODE, (3,)) in band.controls
        assert not any(op == P.CTRL_LEG for op, _p in band.controls)  # leg 7 never reached the app
    run(go())


async def _raw_control(c, data):
    q = asyncio.Queue()
    await c.start_notify(P.CONTROL_UUID, lambda s, d: q.put_nowait(bytes(d)))
    await c.write(P.CONTROL_UUID, data)
    op, result = P.decode_control_response(await asyncio.wait_for(q.get(), 5))
    if result != P.RESULT_SUCCESS:
        raise LinkError("the band refused: %s" % P.RESULT_NAMES[result])


def test_live_counts_survive_lost_notifications(tmp_path):
    band = Band(tmp_path)
    svc = band.svc

    async def go():
        c = await _paired(band)
        tracker = LiveTracker()
        await c.start_notify(P.LIVE_UUID, lambda s, d: tracker.feed(d))
        c.faults(drop_p=0.5, seed=1, uuid=P.LIVE_UUID)
        async with band.air():
            svc.on_event(("session_start", 61, 0))
            for i in range(12):
                svc.on_event((1, i * 4000, 2, 1 + (i >= 8), 0, 600, 1000, 500, 1000))
                if i % 3 == 0:
                    svc.on_event((1, i * 4000, 2, 1, 1, 300, 1000, 500, 1000))  # partial: not counted
                for _ in range(3):
                    await asyncio.sleep(0)
            svc.on_event((2, 50000, 80000, 3, 2, 150))
            c.clear_faults()
            svc.set_hold(0)
            svc.on_event((3, 0, 1, 2, 2, 4, 0, 600, 4000))  # the set closes: a last update
            for _ in range(20):
                await asyncio.sleep(0)
        d = tracker.state
        assert d["session"] == 61 and d["session_active"]
        assert (d["clam_left"], d["clam_right"], d["stretch_right"], d["bridge"]) == (8, 4, 1, 0)
        assert d["set_count"] == 0
        assert P.decode_live(await c.read(P.LIVE_UUID)) == d
        return tracker

    tracker = run(go())
    assert tracker.skipped > 0  # some were lost, and nothing was missing in the end


def test_raw_stream_lossless_at_mtu_64_and_gaps_detected(tmp_path):
    band = Band(tmp_path, n=0)
    svc = band.svc
    state = {"t": 0, "n": 0}

    def imu():  # 104 Hz samples in virtual time, while the stream is on
        if not svc.raw_on:
            state["t"] = band.ble.now_ms() * 1040 // 10000
            return
        now = band.ble.now_ms()
        while state["t"] * 10000 // 1040 <= now and state["n"] < 104 * 5:
            i = state["n"]
            svc.push_raw(state["t"] * 10000 // 1040, [i, -i, i % 100, 1, 2, 3], 1)
            state["t"] += 1
            state["n"] += 1

    async def go():
        c = await _paired(band, 64)
        det = RawGapDetector()
        await c.start_notify(P.RAW_UUID, lambda s, d: det.feed(d))
        async with band.air(imu):
            await _raw_control(c, P.encode_control(P.CTRL_RAW, 1))
            while state["n"] < 104 * 5:
                await asyncio.sleep(0)
            for _ in range(50):
                await asyncio.sleep(0)
            assert det.lost == 0 and det.samples == 104 * 5 - (104 * 5) % 4
            assert all(len(d) <= 61 for u, d, k in c.received if u == P.RAW_UUID)
            # Drop two packets on the air: the host sees exactly two missing.
            c.faults(drop={5, 9}, uuid=P.RAW_UUID)
            state["t"] = band.ble.now_ms() * 1040 // 10000
            state["n"] = 0
            while state["n"] < 104 * 2:
                await asyncio.sleep(0)
            for _ in range(50):
                await asyncio.sleep(0)
            assert svc._raw.dropped == 0  # the band's queue dropped none: both were lost on the air
            await _raw_control(c, P.encode_control(P.CTRL_RAW, 0))
        return det

    det = run(go())
    assert det.lost == 2 and det.duplicates == 0
    assert band.controls == [(P.CTRL_RAW, (1,)), (P.CTRL_RAW, (0,))]


def test_bond_survives_reconnect_and_a_lost_bond_is_clear(tmp_path):
    band = Band(tmp_path)

    async def go():
        c = await _paired(band)
        await c.disconnect()
        band.svc.poll()
        await c.connect()
        await c.encrypt()  # the band kept the key (stored through _IRQ_SET_SECRET)
        assert band.svc.encrypted
        await c.disconnect()
        band.svc.poll()
        assert (tmp_path / "secrets.json").exists()
        band.secrets.items = []  # the band lost its keys
        await c.connect()
        with pytest.raises(bt.PairingError, match="pair again"):
            await c.encrypt()
    run(go())


# -- the emulation's rules -----------------------------------------------------------------------


def test_emulation_enforces_stack_rules(tmp_path):
    ble = bt.BLE(queue_limit=3)
    with pytest.raises(OSError):
        ble.gatts_register_services(())  # not active
    ble.active(True)
    events = []
    ble.irq(lambda e, d: events.append((e, d)))
    svc = (bt.UUID(0x1234), ((bt.UUID(0x2A00), bt.FLAG_READ | bt.FLAG_WRITE | bt.FLAG_NOTIFY | bt.FLAG_INDICATE),))
    ((h,),) = ble.gatts_register_services((svc,))
    ble.gap_advertise(100000, b"\x02\x01\x06")
    with pytest.raises(OSError) as e:
        ble.gatts_register_services((svc,))
    assert e.value.errno == errno.EBUSY
    with pytest.raises(OSError):
        ble.gap_advertise(100000, bytes(32))

    async def go():
        c = bt.Central(ble)
        await c.connect()
        conn = events[0][1][0]
        ble.gatts_notify(conn, h, bytes(range(30)))
        assert ble.stats["truncated"] == 1  # 30 bytes at MTU 23: truncated to 20
        ble.gatts_notify(conn, h, b"x")
        ble.gatts_indicate(conn, h, b"i")
        with pytest.raises(OSError) as e:
            ble.gatts_indicate(conn, h, b"j")
        assert e.value.errno == errno.EALREADY
        with pytest.raises(OSError) as e:
            ble.gatts_notify(conn, h, b"y")
        assert e.value.errno == errno.ENOMEM
        got = []
        await c.start_notify(0x2A00, lambda s, d: got.append(bytes(d)))
        ble.step()
        assert got == [bytes(range(20)), b"x", b"i"]
        ble.step()  # the confirmation
        assert (bt._IRQ_GATTS_INDICATE_DONE, (conn, h, 0)) in events
        await c.write(0x2A00, bytes(40))
        assert len(ble.gatts_read(h)) == 20  # default buffer: a remote write is cut to 20
        await c.exchange_mtu(100)
        with pytest.raises(bt.ATTError):
            await c.exchange_mtu(100)  # once per connection
        ble.gatts_set_buffer(h, 64)
        await c.write(0x2A00, bytes(range(90)))
        assert ble.gatts_read(h) == bytes(range(64))
        ble.gatts_indicate(conn, h, b"pending")
        await c.disconnect()
        assert (bt._IRQ_GATTS_INDICATE_DONE, (conn, h, bt.BLE_HS_ENOTCONN)) in events
        assert events[-1][0] == bt._IRQ_CENTRAL_DISCONNECT
        with pytest.raises(bt.Disconnected):
            await c.read(0x2A00)
        with pytest.raises(OSError):
            ble.gatts_notify(conn, h, b"z")
    run(go())


# -- the pairing window ------------------------------------------------------------------------

A = b"\x01\x02\x03\x04\x05\x06"  # the first host (the owner's computer)
B = b"\x0b\x0b\x0b\x0b\x0b\x0b"  # a second phone / computer, or a stranger


def _wait(band, seconds):
    """Let virtual time pass (no central connected): the band polls as its app would."""
    for _ in range(int(seconds * 1000 / 15)):
        band.ble.step()
        band.svc.poll()


def _keys_of(band, addr):
    return [it for it in band.secrets.items if bytes(it[1]) == b"\x00" + addr]


async def _try_pair(band, addr):
    """A fresh central pairs; returns it (connected or not) after the band had a moment."""
    c = bt.Central(band.ble, addr=addr)
    await c.connect()
    await c.pair()
    band.svc.poll()
    band.ble.step(2)
    band.svc.poll()
    return c


async def _bond_then_close_the_window(band, addr=A):
    """A central bonds (out of the box: no bond yet), leaves, and the boot window runs
    out; returns it (its key in `_ltk`)."""
    c = await _try_pair(band, addr)
    await c.disconnect()
    band.svc.poll()
    _wait(band, PAIR_WINDOW_MS / 1000 + 1)
    return c


async def _reconnect(band, addr, ltk, leave=True):
    """A bonded central comes back and encrypts on its stored key."""
    c = bt.Central(band.ble, addr=addr)
    c._ltk = ltk
    await c.connect()
    await c.encrypt()
    assert band.svc.encrypted
    if leave:
        await c.disconnect()
        band.svc.poll()
    return c


def test_pairing_window_refuses_a_second_central_once_bonded_and_expired(tmp_path):
    band = Band(tmp_path)
    svc = band.svc
    n = len(band.all())

    async def go():
        # Out of the box (no bond) any central pairs: first set-up needs nothing.
        assert svc.pairable and not band.secrets.bonded()
        c1 = await _try_pair(band, A)
        assert c1.is_connected and svc.encrypted and len(_keys_of(band, A)) == 2
        await c1.disconnect()
        svc.poll()
        _wait(band, PAIR_WINDOW_MS / 1000 + 1)  # the boot window is over, a bond exists
        assert not svc.pairable

        c2 = await _try_pair(band, B)  # Just Works runs, then the band hangs up
        assert not c2.is_connected and c2.disconnects == 1
        assert svc.pair_refused == 1 and not svc.connected and "refused" in svc.last_error
        assert _keys_of(band, B) == [] and band.ble.stats["store_refused"] >= 1
        assert band.ble.stats["unpaired"] == 0 and len(_keys_of(band, A)) == 2  # nothing evicted
        assert c2.unencrypted_rx == [] and not any(u == P.RECORDS_UUID for u, _d, _k in c2.received)
        with pytest.raises(bt.Disconnected):
            await c2.read(P.STATUS_UUID)
        # Its key is useless: the band never stored it.
        await c2.connect()
        with pytest.raises(bt.PairingError, match="pair again"):
            await c2.encrypt()
        assert not svc.encrypted
        with pytest.raises(LinkError, match="not paired with the band"):
            await RecordLink(c2).delete_through(10**6)
        await c2.disconnect()
        svc.poll()
        assert len(band.all()) == n

        # The owner's host reconnects on its bond and syncs as before.
        await c1.connect()
        await c1.encrypt()
        assert svc.encrypted and svc.pair_refused == 1
        async with band.air():
            async with RecordLink(c1) as link:
                got = [r async for r in link.records_from(0)]
                assert got == band.all() and len(got) == n
                assert await link.delete_through(R.seq_of(got[-1]))
        assert band.all() == []
    run(go())


@pytest.mark.parametrize("enumerating", [False, True], ids=["store", "store-enumerating"])
def test_first_pairing_long_after_boot_stores_the_whole_bond(tmp_path, enumerating):
    """Out of the box the band is pairable whenever: a first pairing minutes after boot
    stores both halves of the bond (the first half must not close the window on the
    second), and the host reconnects on it."""
    band = Band(tmp_path)
    band.ble.enumerate_with_none = enumerating

    async def go():
        _wait(band, PAIR_WINDOW_MS / 1000 + 5)
        assert band.svc.pairable and not band.secrets.bonded()
        c = await _try_pair(band, A)
        assert c.is_connected and band.svc.encrypted
        assert sorted(it[0] for it in _keys_of(band, A)) == [1, 2]
        assert band.ble.stats["store_refused"] == 0 and band.ble.stats["unpaired"] == 0
        await c.disconnect()
        band.svc.poll()
        assert not band.svc.pairable  # bonded now, the boot window long over
        await _reconnect(band, A, c._ltk)
    run(go())


def test_writes_in_flight_on_a_refused_link_are_never_acted_on(tmp_path):
    # The stack still passes a write that was on its way when the band hung up (the link
    # is encrypted for the stack until the disconnect took effect): the band ignores it.
    band = Band(tmp_path)
    svc = band.svc
    n = len(band.all())
    seen = []

    def after_refusal(event, data):
        r = svc._irq(event, data)
        if event == bt._IRQ_ENCRYPTION_UPDATE and svc.pair_refused and not seen:
            conn = band.ble._conns[data[0]]
            seen.append(conn)
            band.ble._remote_write(conn, P.RACP_UUID, P.encode_racp(P.RACP_DELETE, P.OPR_LE, 10**6), True)
            band.ble._remote_write(conn, P.CONTROL_UUID, P.encode_control(P.CTRL_START), True)
        return r

    async def go():
        c1 = await _bond_then_close_the_window(band)
        band.ble.irq(after_refusal)
        c2 = await _try_pair(band, B)
        for _ in range(5):
            svc.poll()
            band.ble.step()
        assert seen and not c2.is_connected and svc.pair_refused == 1
        assert len(band.all()) == n and band.controls == []  # no delete, no command
        assert band.ble.stats["indicate"] == 0  # and no answer either
        assert "unencrypted" in svc.last_error
    run(go())


def test_button_press_opens_the_window_which_closes_again(tmp_path):
    band = Band(tmp_path)
    svc = band.svc

    async def go():
        c1 = await _try_pair(band, A)
        await c1.disconnect()
        svc.poll()
        _wait(band, 125)
        assert band.ble.adv[0] == SLOW_ADV_US // 625 * 625
        assert svc.open_pairing() is True  # closed before: the app shows "pairable"
        assert svc.open_pairing() is False  # already open: extended, nothing to show
        assert svc.pairable and band.ble.adv[0] == FAST_ADV_US  # easy to find meanwhile
        _wait(band, 100)
        c2 = await _try_pair(band, B)
        assert c2.is_connected and svc.encrypted and len(_keys_of(band, B)) == 2
        await c2.disconnect()
        svc.poll()
        _wait(band, 21)  # 2 minutes after the press
        assert not svc.pairable
        c3 = await _try_pair(band, b"\x0c" * 6)
        assert not c3.is_connected and svc.pair_refused == 1 and _keys_of(band, b"\x0c" * 6) == []
        for addr, c in ((A, c1), (B, c2)):  # both bonds work
            await _reconnect(band, addr, c._ltk)
    run(go())


def test_window_rule_after_start_and_bonds_survive_a_restart(tmp_path):
    band = Band(tmp_path)

    async def go():
        c1 = await _bond_then_close_the_window(band)
        assert not band.svc.pairable
        # A restart (switching the band on): a new service on the same flash.
        band.ble.active(False)
        band.secrets = Secrets(str(tmp_path / "secrets.json"))
        assert band.secrets.bonded()
        band.svc = BandService(band.ble, band.log, bt=bt, ticks_ms=band.ble.now_ms, ticks_diff=operator.sub,
                               uptime_s=lambda: band.ble.now_ms() // 1000, secrets=band.secrets)
        band.svc.start()
        assert band.svc.pairable  # bonded, but just switched on: open for PAIR_WINDOW_MS
        await _reconnect(band, A, c1._ltk)  # the bond still works
        c2 = await _try_pair(band, B)
        assert c2.is_connected and band.svc.encrypted
        await c2.disconnect()
        band.svc.poll()
        _wait(band, 121)
        c3 = await _try_pair(band, b"\x0c" * 6)
        assert not c3.is_connected and band.svc.pair_refused == 1
    run(go())


def test_a_stranger_using_a_bonded_address_cannot_erase_the_bond(tmp_path):
    band = Band(tmp_path)
    svc = band.svc

    async def go():
        c1 = await _bond_then_close_the_window(band)
        # Same address, no key: NimBLE's repeat-pairing check would make MicroPython
        # delete A's bond; while the window is closed the band does not show it.
        spoof = await _try_pair(band, A)
        assert not spoof.is_connected and svc.pair_refused == 1
        assert band.ble.stats["repeat_pairing"] == 0 and len(_keys_of(band, A)) == 2
        await _reconnect(band, A, c1._ltk)  # the bond still works
        # In the window the same re-pairing replaces the bond (the owner's host lost its keys).
        svc.open_pairing()
        again = await _try_pair(band, A)
        assert again.is_connected and band.ble.stats["repeat_pairing"] == 1
        assert [bytes(it[2])[-16:] for it in _keys_of(band, A)] == [again._ltk, again._ltk]
    run(go())


def test_a_refused_pairing_evicts_no_bond_whatever_the_stack_enumerates(tmp_path):
    band = Band(tmp_path)
    band.ble.enumerate_with_none = True  # a store enumeration that finds bonds by index
    svc = band.svc

    async def go():
        c1 = await _bond_then_close_the_window(band)
        c2 = await _try_pair(band, B)
        assert not c2.is_connected and band.ble.stats["store_refused"] >= 1
        assert band.ble.stats["unpaired"] == 0 and len(_keys_of(band, A)) == 2
    run(go())


def test_cccd_values_of_a_bonded_host_are_kept_outside_the_window(tmp_path):
    # Ports that keep a bonded peer's CCCDs pass them through _IRQ_SET_SECRET (another
    # sec type) on its links: accepted whatever the window.
    band = Band(tmp_path)
    svc = band.svc

    async def go():
        c1 = await _bond_then_close_the_window(band)
        await _reconnect(band, A, c1._ltk, leave=False)
        key = b"\x00" + A + b"\x10\x00"
        assert svc._irq(bt._IRQ_SET_SECRET, (3, key, b"\x01\x00")) is True
        assert band.secrets.get(3, 0, key) == b"\x01\x00"
        assert svc._irq(bt._IRQ_SET_SECRET, (1, b"\x00" + A, b"x" * 23)) is False  # new keys: not now
    run(go())


def test_a_sleep_closes_the_pairing_window_so_the_ticks_cannot_wrap_it_open(tmp_path):
    """Light sleep stops every task, the service's poll too, which closes the pairing
    window in time. A window open when the band falls asleep must not be open again when
    it wakes a multiple of 2^30 ms later and the board's ticks (wrapping there) have come
    round to it: a stranger could pair with a bonded band for two minutes."""
    band = Band(tmp_path)
    svc = band.svc
    svc._ticks = lambda: band.ble.now_ms() & 0x3FFFFFFF  # the board's ticks_ms, ticks_diff
    svc._diff = lambda a, b: ((a - b + 0x20000000) & 0x3FFFFFFF) - 0x20000000

    async def go():
        c1 = await _try_pair(band, A)
        await c1.disconnect()
        svc.poll()
        _wait(band, 125)
        assert not svc.pairable
        assert svc.open_pairing() is True  # a press, then the band is put down
        _wait(band, 10)
        svc.stop_advertising()  # it sleeps (app.power): nothing polls
        band.ble._us += (1 << 30) * 1000  # 12.4 days later the ticks are where they were
        svc.advertise(False)  # woken by motion
        svc.poll()
        assert not svc.pairable
        c3 = await _try_pair(band, b"\x0c" * 6)
        assert not c3.is_connected and svc.pair_refused == 1
    run(go())
