"""The real board's HAL (firmware/app/hal.py, EspHal) set up under CPython against a
stand-in `machine` module: the CPU clock the power budget assumes, and the outputs
each board profile declares."""
from __future__ import annotations

import sys
import types

import pytest

from repband import firmware

firmware.import_firmware()
import boards  # noqa: E402
from app import hal as H  # noqa: E402


class _Pin:
    IN, OUT, OPEN_DRAIN, PULL_UP = 1, 2, 3, 4

    def __init__(self, gpio, mode=None, pull=None, value=None):
        self.gpio, self.mode, self.v = gpio, mode, value

    def value(self, v=None):
        if v is None:
            return self.v
        self.v = v


class _PWM:
    def __init__(self, pin, freq=0, duty_u16=0):
        self.pin, self.freq, self.duty = pin, freq, duty_u16

    def duty_u16(self, d):
        self.duty = d


@pytest.fixture
def machine(monkeypatch):
    m = types.ModuleType("machine")
    m.Pin, m.PWM = _Pin, _PWM
    m.clocks = []
    m.freq = lambda hz=None: m.clocks.append(hz)
    monkeypatch.setitem(sys.modules, "machine", m)
    return m


@pytest.mark.parametrize("name", boards.NAMES)
def test_the_board_runs_at_the_budgets_clock_with_its_outputs(machine, name):
    board = boards.load(name)
    hal = H.EspHal(board)
    assert machine.clocks == [H.CPU_HZ] == [80_000_000]  # hardware/power.md assumes it
    want = ((H.OUT_LED if board.LED_PIN is not None else 0)
            | (H.OUT_BUZZER if board.BUZZER_PIN is not None else 0)
            | (H.OUT_VIBRATION if board.VIBRATION_PIN is not None else 0))
    assert hal.outputs() == want
    if board.BUZZER_PIN is not None:
        hal.output(H.OUT_BUZZER, True)
        assert hal._buzz.freq == H.BUZZER_HZ and hal._buzz.duty == 32768
        hal.output(H.OUT_BUZZER, False)
        assert hal._buzz.duty == 0


def test_a_virtual_flag_takes_one_waiter_as_micropythons():
    """MicroPython's ThreadSafeFlag is a stream in asyncio's poller: a second task waiting
    on it while one does fails (asyncio.core's IOQueue asserts), so the virtual flag
    refuses it too; a wait that timed out (wait_for cancels it) leaves no waiter."""
    import asyncio

    from repband.virtual.hardware import VirtualFlag

    async def main():
        flag = VirtualFlag()
        first = asyncio.ensure_future(flag.wait())
        await asyncio.sleep(0)
        with pytest.raises(AssertionError):
            await flag.wait()
        flag.set()
        await first
        try:
            await asyncio.wait_for(flag.wait(), 0.01)
        except asyncio.TimeoutError:
            pass
        flag.set()
        await flag.wait()  # the timed-out wait is gone: this one may wait

    asyncio.run(main())
