"""The radio's IRQ handler runs beside the app (issue 12): on esp32, on NimBLE's task,
between any two bytecodes of the main loop. The emulated `bluetooth` module delivers
IRQs there (repband.virtual.bluetooth.Interleave: at the N-th line of the functions
named), and these tests go through every such point of the code that matters: the
service's poll and its notifications racing a disconnect, an indication confirmed
before the call that sent it returned, a pairing during the app's clock update, and a
poll that raises."""
from __future__ import annotations

import asyncio
import operator

import pytest

from repband.link import control
from repband.virtual import bluetooth as bt
from repband.virtual.device import VirtualBand  # puts the firmware on sys.path

from app.ble import BandService, Secrets  # noqa: E402  (firmware)
from repcore import protocol_host as P
from repcore.store import SessionLog

EVENT = (1, 1000, 1, 0, 0, 231, 800, 2000, 900)


class Wake:
    def __init__(self):
        self.sets = 0

    def set(self):
        self.sets += 1


def service(tmp_path, n=40):
    tmp_path.mkdir(parents=True, exist_ok=True)
    log = SessionLog(str(tmp_path / "log"), capacity=64 * 1024, segment_size=1024)
    for _ in range(n):
        log.append_event(EVENT, 1)
    ble = bt.BLE()
    svc = BandService(ble, log, bt=bt, ticks_ms=ble.now_ms, ticks_diff=operator.sub,
                      uptime_s=lambda: ble.now_ms() // 1000, wake=Wake(),
                      secrets=Secrets(str(tmp_path / "bonds.json")))
    svc.start()
    return ble, svc


async def reporting(ble, svc):
    """A paired central with a records report streaming (notifications each poll)."""
    c = bt.Central(ble)
    await c.connect()
    await c.exchange_mtu(185)
    await c.pair()
    svc.poll()
    await c.start_notify(P.RECORDS_UUID, lambda *_: None)
    await c.start_notify(P.RACP_UUID, lambda *_: None)
    await c.write(P.RACP_UUID, P.encode_racp(P.RACP_REPORT, P.OPR_ALL))
    return c


def count_lines(tmp_path, functions):
    ble, svc = service(tmp_path / "count")

    async def go():
        await reporting(ble, svc)
        with bt.Interleave(functions=functions) as il:
            svc.poll()
        return il.lines
    return asyncio.run(go())


POLL = ("poll", "_sync_link", "_notify", "_send_report", "_send_live", "_send_indication",
        "_build_frame", "_next_record")


def test_disconnect_between_any_two_lines_of_poll(tmp_path):
    """A disconnect anywhere in poll (while a report streams): no exception, nothing more
    sent on the dead link, advertising again at the next poll, a new central served."""
    n = count_lines(tmp_path, POLL)
    assert n > 50
    for k in range(n):
        ble, svc = service(tmp_path / str(k))

        async def go():
            c = await reporting(ble, svc)
            conn = ble._conns[c._c.handle]
            with bt.Interleave(lambda: ble._drop(conn), at=k, functions=POLL) as il:
                svc.poll()
            assert il.fired, k
            sent = ble.stats["notify"]
            svc.poll()
            assert not svc.connected and not svc.busy and ble.adv is not None, il.where
            assert ble.stats["notify"] == sent
            c2 = await reporting(ble, svc)  # the next central gets a whole report
            got = []
            await c2.start_notify(P.RECORDS_UUID, lambda _s, d: got.append(bytes(d)))
            for _ in range(40):
                svc.poll()
                ble.step()
            assert got and svc.errors <= 1, il.where  # at most one notify refused: ENOTCONN
        asyncio.run(go())


def test_indication_confirmed_before_the_call_returned(tmp_path):
    """The central's confirmation (IRQ) can come while the app is still in
    _send_indication: the next indication still goes out."""
    funcs = ("_send_indication",)

    def scenario(k, where):
        ble, svc = service(where)

        async def go():
            c = bt.Central(ble)
            await c.connect()
            await c.pair()
            svc.poll()
            answers = []
            await c.start_notify(P.RACP_UUID, lambda _s, d: answers.append(bytes(d)))
            await c.write(P.RACP_UUID, P.encode_racp(P.RACP_REPORT_NUMBER, P.OPR_ALL))

            def stack():  # the link runs until the central has confirmed the indication
                for _ in range(3):
                    ble.step()
            with bt.Interleave(stack, at=k, functions=funcs) as il:
                svc.poll()
            for _ in range(4):
                svc.poll()
                ble.step()
            await c.write(P.RACP_UUID, P.encode_racp(P.RACP_REPORT_NUMBER, P.OPR_ALL))
            for _ in range(6):
                svc.poll()
                ble.step()
            return il, answers
        return asyncio.run(go())

    n = scenario(None, tmp_path / "count")[0].lines
    assert n >= 6
    for k in range(n):
        il, answers = scenario(k, tmp_path / str(k))
        assert il.fired and len(answers) == 2, il.where


def test_pairing_during_the_clock_update_leaves_the_clock_right():
    """The pairing IRQs (which read the clock: is the pairing window open?) between any
    two lines of the app's clock update: the app's time stays the CPU clock's."""
    funcs = ("uptime",)
    for k in range(4):
        band = VirtualBand()
        try:
            band.run(2.0)
            c = band.client()
            band.run_host(c.connect(encrypt=False))
            conn = band.radio._conns[c.central._c.handle]
            with bt.Interleave(lambda: band.radio._encrypt(conn, pairing=True, bond=True),
                               at=k, functions=funcs) as il:
                band.run(4.0)
            assert il.fired
            app = band.app
            assert app.uptime() == band.clock.ms() - band.boots[0], il.where
        finally:
            band.close()


def test_a_failing_poll_never_stops_sampling(monkeypatch):
    """The GATT service's poll raising (a bug, a stack error) is logged; sampling and the
    watchdog go on (no reset)."""
    band = VirtualBand()
    try:
        band.run(2.0)

        def broken():
            raise RuntimeError("radio bug")
        monkeypatch.setattr(band.app.svc, "poll", broken)
        n = band.app.samples

        async def host(c):
            await asyncio.sleep(30.0)
        band.run_host(band.with_client(host, pair=True))
        assert band.resets == [] and band.app.samples > n + 25 * 104
        assert any("radio bug" in m for _t, m in band.console)
    finally:
        band.close()


def test_live_counts_still_reach_a_host(tmp_path):
    """With the IRQ handler only waking the service's task, a host watching live still
    sees a count within the live budget (the task is woken by the app's event)."""
    from repband.virtual.device import measure_live_latency
    from repband.sim import simulate

    rec, _ = simulate("bridges", seed=2)
    r = measure_live_latency(rec)
    assert r["events"] > 10 and r["live_latency_ok"], r


@pytest.mark.parametrize("op", [P.CTRL_START])
def test_control_through_the_woken_task(op):
    band = VirtualBand()
    try:
        band.run(1.0)

        async def host(c):
            await control(c, op)
        band.run_host(band.with_client(host))
        assert band.app.sessions.active
    finally:
        band.close()
