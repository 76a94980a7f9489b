"""Emulated hardware for the firmware app (firmware/app) under CPython.

Everything the app touches goes through `app.hal.Hal`; `VirtualHal` implements it on:

* `VirtualClock`: time in integer microseconds that advances only in simulation.
  `VirtualLoop`, an asyncio event loop whose `time()` is that clock and whose selector,
  when nothing is ready, advances the clock to the next timer instead of waiting: the
  app's `await hal.sleep_ms(ms)` costs no wall time, so hours run in seconds. Callbacks
  scheduled with `VirtualClock.at(t_s, fn)` run when simulated time reaches them (fault
  injection, button presses). `speed=` runs at a multiple of real time instead, for a
  device that real I/O (a BLE host) must keep pace with.
* the IMU: the register-level chip emulator of the board's chip
  (repband.emulators.imu) on an emulated I2C bus (`fail_all`, `fail_next` inject bus
  faults). The chip is brought up to the clock before every bus transaction, so its
  FIFO fills with virtual time; its physical input is the recording's row at each
  output sample's time (the recording's axes are the mount frame: the board's axis
  remap is inverted into the chip's axes), so a rate change (wake-on-motion at 26 Hz)
  keeps the motion on time. Sleep wakes on the chip's interrupt flag as the INT pin.
* buttons that tests press (`VirtualDevice.press`), outputs that record every switch
  and the pattern names the app announces, a battery ADC (`battery_v`), a flash
  directory, a watchdog that records feeds and expiries (an expiry reboots the app).
"""
from __future__ import annotations

import asyncio
import json
import math
import os
import selectors
import tempfile
import time
from pathlib import Path

import numpy as np

from repband.emulators import imu as emu
from repband.firmware import import_firmware


import_firmware()

import boards  # noqa: E402  (firmware)
from app import hal as fw_hal  # noqa: E402
from app.app import App  # noqa: E402


# ----------------------------------------------------------------------------- clock


class VirtualClock:
    """Simulated time, integer microseconds from the device's power-on."""

    def __init__(self):
        self.us = 0
        self._timers: list[tuple[int, int, object]] = []  # (due_us, order, fn)
        self._order = 0
        self.on_advance: list = []

    @property
    def s(self) -> float:
        return self.us / 1e6

    def ms(self) -> int:
        return self.us // 1000

    def at(self, t_s: float, fn) -> None:
        """Call `fn()` when simulated time reaches `t_s` seconds (now if past)."""
        self._order += 1
        self._timers.append((int(round(t_s * 1e6)), self._order, fn))
        self._timers.sort(key=lambda x: (x[0], x[1]))

    def advance_to(self, target_us: int) -> None:
        while self._timers and self._timers[0][0] <= target_us:
            due, _, fn = self._timers.pop(0)
            if due > self.us:
                self.us = due
                self._advanced()
            fn()
        if target_us > self.us:
            self.us = target_us
            self._advanced()

    def advance(self, us: int) -> None:
        self.advance_to(self.us + max(0, int(us)))

    def next_due_us(self) -> int | None:
        """When the next `at` callback is due (None: none is scheduled)."""
        return self._timers[0][0] if self._timers else None

    def _advanced(self):
        for hook in self.on_advance:
            hook()


class _VirtualSelector(selectors.BaseSelector):
    """Real file descriptors are polled without waiting; the wait itself is simulated."""

    def __init__(self, clock: VirtualClock, speed: float | None):
        self._real = selectors.DefaultSelector()
        self._clock = clock
        self._speed = speed

    def register(self, fileobj, events, data=None):
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj):
        return self._real.unregister(fileobj)

    def modify(self, fileobj, events, data=None):
        return self._real.modify(fileobj, events, data)

    def get_map(self):
        return self._real.get_map()

    def close(self):
        self._real.close()

    def select(self, timeout=None):
        if self._speed:
            wait = None if timeout is None else timeout / self._speed
            t0 = time.monotonic()
            ready = self._real.select(wait)
            if timeout is not None:
                step = timeout if not ready else min(timeout, (time.monotonic() - t0) * self._speed)
                self._clock.advance(math.ceil(step * 1e6))
            return ready
        ready = self._real.select(0)
        if ready or timeout is not None and timeout <= 0:
            return ready
        due = self._clock.next_due_us()
        if timeout is None and due is None:
            return self._real.select(None)  # nothing scheduled: only real I/O can wake us
        target = None if timeout is None else self._clock.us + math.ceil(timeout * 1e6)
        if due is not None and (target is None or due < target):
            target = due  # a callback (an IRQ: a pin, a fault) first: the loop runs after it
        self._clock.advance_to(target)
        return []


class VirtualLoop(asyncio.SelectorEventLoop):
    """An asyncio loop on the virtual clock."""

    def __init__(self, clock: VirtualClock, speed: float | None = None):
        super().__init__(_VirtualSelector(clock, speed))
        self.vclock = clock

    def time(self):
        return self.vclock.us / 1e6


# ----------------------------------------------------------------------------- IMU


def _recording_rate(rec) -> float:
    try:
        return float(rec.meta["rate_hz"])
    except (KeyError, TypeError, ValueError):
        t = np.asarray(rec.t, float)
        return float(1.0 / np.median(np.diff(t))) if len(t) > 1 else 104.0


def chip_inputs(rec, remap):
    """Recording rows (mount frame, g and deg/s) in the chip's own axes."""
    acc = np.asarray(rec.acc, float)
    gyro = np.zeros_like(acc) if rec.gyro is None else np.asarray(rec.gyro, float)
    ca = np.zeros_like(acc)
    cg = np.zeros_like(gyro)
    for mount_axis, (chip_axis, sign) in enumerate(remap or ((0, 1), (1, 1), (2, 1))):
        ca[:, chip_axis] = sign * acc[:, mount_axis]
        cg[:, chip_axis] = sign * gyro[:, mount_axis]
    return ca, cg


def timed_chip(name: str, address: int, acc, gyro, rows_hz: float):
    """The emulated chip `name`, taking the input row for each output sample's time.

    `advance(seconds)` is called with simulated time (by VirtualI2C.sync): output
    samples fall at base + k / rate, where base is when the rate was last changed, and
    sample k reads the row at that time (row r is the input at r / rows_hz seconds).
    """
    base_cls = {"LSM6DS3TR-C": emu.LSM6DS3TRC, "LSM6DSOX": emu.LSM6DSOX,
                "MPU-6050": emu.MPU6050, "MPU6886": emu.MPU6886}[name]

    class TimedChip(base_cls):  # type: ignore[misc, valid-type]
        def __init__(self):
            super().__init__(address)
            self.rows_hz = rows_hz
            self._vnow = 0.0
            self._vbase = 0.0
            self._vrow0 = 0
            self._vn = 0
            self._vrate = 0.0
            self.load(acc, gyro)

        def advance(self, seconds):
            prev = self._vnow
            self._vnow = now = prev + seconds
            rate = self.output_rate_hz()
            if rate != self._vrate:
                self._vrate = rate
                self._vbase = prev
                self._vrow0 = int(math.floor(prev * self.rows_hz + 1e-6))
                self._vn = 0
            if rate <= 0:
                return
            ratio = self.rows_hz / rate
            while self._vbase + (self._vn + 1) / rate <= now + 1e-9:
                self._vn += 1
                self._row = self._vrow0 + int(self._vn * ratio - 1e-6)
                self._produce()

        def int_pending(self) -> bool:
            """The level of the interrupt pin the board wires to INT1 / INT."""
            r = self.regs
            if isinstance(self, emu._LSM6DS):
                return bool(r[0x1B] & 0x08 and r[0x5E] & 0x20 and r[0x58] & 0x80)
            return bool(r[0x3A] & r[0x38] & 0xE0)

    return TimedChip()


class VirtualI2C(emu.I2CBus):
    """The emulated bus, bringing its chips up to the virtual clock before each access."""

    def __init__(self, clock: VirtualClock):
        super().__init__()
        self.clock = clock
        self._synced_us = 0
        self.resets = 0

    def sync(self):
        dt = self.clock.us - self._synced_us
        if dt > 0:
            self._synced_us = self.clock.us
            for dev in self.devices.values():
                dev.advance(dt / 1e6)

    def readfrom_mem_into(self, addr, memaddr, buf):
        self.sync()
        super().readfrom_mem_into(addr, memaddr, buf)

    def readfrom_mem(self, addr, memaddr, nbytes):
        self.sync()
        return super().readfrom_mem(addr, memaddr, nbytes)

    def writeto_mem(self, addr, memaddr, buf):
        self.sync()
        super().writeto_mem(addr, memaddr, buf)


# ----------------------------------------------------------------------------- the rest


class VirtualWatchdog:
    """Records feeds; expires (and the device reboots) when not fed within the timeout."""

    def __init__(self, clock: VirtualClock):
        self.clock = clock
        self.timeout_ms = 0
        self.started = False
        self.feeds = 0
        self.last_feed_ms = 0
        self.expiries: list[int] = []  # ms at which it fired
        self.expired = False

    def start(self, timeout_ms):
        self.timeout_ms = int(timeout_ms)
        self.started = True
        self.last_feed_ms = self.clock.ms()

    def feed(self):
        self.feeds += 1
        self.last_feed_ms = self.clock.ms()

    def check(self):
        if self.started and not self.expired and self.clock.ms() - self.last_feed_ms > self.timeout_ms:
            self.expired = True
            self.expiries.append(self.clock.ms())


TICKS_PERIOD = 1 << 30  # MicroPython's ticks_ms wraps at 2^30 ms (12.4 days)
TICKS_START_MS = TICKS_PERIOD - 120_000  # virtual ticks wrap 2 minutes after power-on


class VirtualFlag:
    """asyncio.ThreadSafeFlag on the virtual loop: `set()` (from the loop's thread: the
    emulated radio's IRQs and pin IRQs run there), `await wait()` returns once it is set
    and clears it, `clear()`. One task waits at a time, as on the board (the flag is a
    stream in asyncio's poller, whose queue asserts a second waiter away)."""

    def __init__(self):
        self._ev = asyncio.Event()
        self._waiting = False

    def set(self):
        self._ev.set()

    def clear(self):
        self._ev.clear()

    async def wait(self):
        if not self._ev.is_set():
            assert not self._waiting, "a ThreadSafeFlag takes one waiting task at a time"
            self._waiting = True
            try:
                await self._ev.wait()
            finally:
                self._waiting = False
        self._ev.clear()


class VirtualHal(fw_hal.Hal):
    """app.hal.Hal on the virtual hardware of a VirtualDevice. Its ticks are the
    board's: `ticks_ms` wraps at 2^30 and starts 2 minutes short of the wrap (as Linux
    starts its jiffies), so every run crosses a wrap; `ticks_diff` is MicroPython's."""

    SLEEP_STEP_MS = 50

    def __init__(self, dev: "VirtualDevice"):
        self.dev = dev
        self.board = dev.board
        self.root = str(dev.flash_dir)
        self._mask = 0
        b = self.board
        if getattr(b, "LED_PIN", None) is not None:
            self._mask |= fw_hal.OUT_LED
        if getattr(b, "BUZZER_PIN", None) is not None:
            self._mask |= fw_hal.OUT_BUZZER
        if getattr(b, "VIBRATION_PIN", None) is not None:
            self._mask |= fw_hal.OUT_VIBRATION

    # clock
    def ticks_ms(self):
        return (self.dev.clock.ms() + self.dev.ticks_start_ms) % TICKS_PERIOD

    def ticks_diff(self, a, b):
        return (a - b + TICKS_PERIOD // 2) % TICKS_PERIOD - TICKS_PERIOD // 2

    def sleep_ms(self, ms):
        return asyncio.sleep(ms / 1000.0)

    def flag(self):
        return VirtualFlag()

    async def wait_ms(self, flag, ms):
        try:
            await asyncio.wait_for(flag.wait(), ms / 1000.0)
        except asyncio.TimeoutError:
            pass

    # I2C
    def i2c(self):
        return self.dev.bus

    def bus_reset(self):
        self.dev.bus.resets += 1

    # buttons, outputs
    def button(self, k):
        return self.dev._button_down(k)

    def buttons_wake(self, flag):
        self.dev._button_flags.append(flag)
        now = self.dev.clock.ms()
        for _b, t0, t1 in self.dev._presses:
            for t in (t0, t1):
                if t >= now:
                    self.dev.clock.at(t / 1000.0, flag.set)

    def outputs(self):
        return self._mask

    def output(self, mask, on):
        m = mask & self._mask
        t = self.dev.clock.ms()
        for bit, name in ((fw_hal.OUT_LED, "led"), (fw_hal.OUT_BUZZER, "buzzer"),
                          (fw_hal.OUT_VIBRATION, "vibration")):
            if m & bit:
                v = 1 if on else 0
                if self.dev.output_state[name] != v:
                    self.dev.output_state[name] = v
                    self.dev.output_log.append((t, name, v))

    def signal(self, name):
        self.dev.feedback_log.append((self.dev.clock.ms(), name))

    # battery, power, watchdog
    def adc_uv(self):
        b = self.board
        if getattr(b, "BAT_ADC_PIN", None) is None:
            return -1
        num, den = b.BAT_DIVIDER
        return int(self.dev.battery_v * 1e6 * den / num)

    def power_hold(self, on):
        self.dev.power_log.append((self.dev.clock.ms(), bool(on)))

    def light_sleep(self, ms, imu_wake):
        dev = self.dev
        dev.sleep_log.append((dev.clock.ms(), int(ms)))
        pin = imu_wake and getattr(self.board, "IMU_INT_PIN", None) is not None
        end = dev.clock.us + int(ms) * 1000
        while dev.clock.us < end:
            dev.clock.advance(min(self.SLEEP_STEP_MS * 1000, end - dev.clock.us))
            if pin:
                dev.bus.sync()
                if dev.chip.int_pending():
                    return True
        return False

    def wdt_start(self, timeout_ms):
        self.dev.watchdog.start(timeout_ms)

    def wdt_feed(self):
        self.dev.watchdog.feed()

    def log(self, msg):
        self.dev.console.append((self.dev.clock.ms(), str(msg)))

    def reset(self):
        self.dev.watchdog.expired = True


class VirtualDevice:
    """A band on the desk: the firmware app on emulated hardware, fed a recording.

    `run(until_s)` advances simulated time (repeatable: run again to go on);
    `events` holds every event tuple the app passed its BLE hook, `feedback_log` the
    (ms, pattern) it played, `output_log` each (ms, output, 0/1) switch, `flash_dir` the
    device's flash (config.json, log/), `records()` the session log decoded.
    """

    def __init__(self, recording, board="xiao_esp32s3_lsm6ds3", config=None, flash_dir=None,
                 detector=None, speed=None, battery_v=3.95, log_capacity=None,
                 ticks_start_ms=TICKS_START_MS):
        self.board_name = board
        self.board = boards.load(board)
        self.clock = VirtualClock()
        self.loop = VirtualLoop(self.clock, speed)
        self.bus = VirtualI2C(self.clock)
        self.recording = recording
        self.rows_hz = _recording_rate(recording)
        acc, gyro = chip_inputs(recording, self.board.IMU_REMAP)
        self.chip = timed_chip(self.board.IMU_CHIP, self.board.IMU_ADDR, acc, gyro, self.rows_hz)
        self.bus.attach(self.chip)
        self.watchdog = VirtualWatchdog(self.clock)
        self.clock.on_advance.append(self._after_advance)
        self._tmp = None
        if flash_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="repband-virtual-")
            flash_dir = self._tmp.name
        self.flash_dir = Path(flash_dir)
        self.flash_dir.mkdir(parents=True, exist_ok=True)
        if config is not None:
            self.write_config(config)
        self.battery_v = battery_v
        self.events: list[tuple] = []
        self.feedback_log: list[tuple[int, str]] = []
        self.output_log: list[tuple[int, str, int]] = []
        self.output_state = {"led": 0, "buzzer": 0, "vibration": 0}
        self.power_log: list[tuple[int, bool]] = []
        self.sleep_log: list[tuple[int, int]] = []
        self.console: list[tuple[int, str]] = []
        self.boots: list[int] = []  # ms of each boot
        self._presses: list[tuple[int, int, int]] = []  # (button, from_ms, to_ms)
        self._button_flags: list = []  # the app's pin-IRQ flags (VirtualHal.buttons_wake)
        self.ticks_start_ms = ticks_start_ms  # ticks_ms at power-on
        self._detector = detector
        self._log_capacity = log_capacity
        self.off = False
        self.app = self._new_app()

    # -- set-up ------------------------------------------------------------------

    def write_config(self, changes: dict) -> None:
        """Write config.json on the flash: the defaults with `changes` (before boot)."""
        from app import config as fw_config

        cfg = fw_config.defaults()
        cfg.update(changes)
        (self.flash_dir / "config.json").write_text(json.dumps(cfg))

    def _new_app(self, **kw):
        """A fresh App on new seams (a boot); `kw` goes to App (a subclass adds a radio)."""
        if self._detector is not None:
            kw["detector"] = self._detector
        if self._log_capacity is not None:
            kw["log_capacity"] = self._log_capacity
        self.hal = VirtualHal(self)
        self._button_flags = []
        return App(self.hal, self.board, ble=self.events.append, **kw)

    def at(self, t_s: float, fn) -> None:
        """Run `fn()` at `t_s` seconds of simulated time (fault injection and the like)."""
        self.clock.at(t_s, fn)

    def press(self, button: int = 0, at_s: float | None = None, ms: int = 150) -> None:
        """Hold button `button` down for `ms` from `at_s` (default: now)."""
        t0 = self.clock.ms() if at_s is None else int(round(at_s * 1000))
        self._presses.append((button, t0, t0 + int(ms)))
        for flag in self._button_flags:  # the pin IRQs at the press and the release
            for t in (t0, t0 + int(ms)):
                self.clock.at(t / 1000.0, flag.set)

    def _button_down(self, k: int) -> bool:
        now = self.clock.ms()
        for b, t0, t1 in self._presses:
            if b == k and t0 <= now < t1:
                return True
        return False

    def _after_advance(self):
        self.watchdog.check()
        if self.watchdog.expired and self.loop.is_running():
            self.loop.stop()

    # -- running -----------------------------------------------------------------

    @property
    def now_s(self) -> float:
        return self.clock.s

    def default_until_s(self) -> float:
        """The recording's length plus the session idle time and a minute: the last
        session has ended and been written by then."""
        cfg = getattr(self.app, "cfg", None) or {}
        idle = cfg.get("session_idle_s", 180)
        dur = len(self.recording.t) / self.rows_hz
        return dur + idle + 60.0

    def run(self, until_s: float | None = None) -> "VirtualDevice":
        if until_s is None:
            until_s = self.default_until_s()
        target_ms = int(round(until_s * 1000))
        while not self.off and self.clock.ms() < target_ms:
            app = self.app
            if app.state == 0:  # _ST_BOOT (app.app): this run boots it
                self.boots.append(self.clock.ms())
            boot_ms = self.boots[-1] if self.boots else 0
            main = self.loop.create_task(app.main(target_ms - boot_ms))
            try:
                self.loop.run_until_complete(main)
            except RuntimeError:
                if not self.watchdog.expired:
                    raise
            if self.watchdog.expired:
                self._reboot(main)
                continue
            if app.state == 5:  # _ST_OFF (app.app)
                self.off = True
            break
        return self

    def _reboot(self, main_task):
        """The watchdog fired: the old app's tasks die, a new app boots on the same
        hardware and flash (the IMU keeps running: only the MCU resets)."""
        pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
        for t in pending:
            t.cancel()
        self.watchdog.expired = False
        self.watchdog.started = False
        if pending:
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.output_state = {k: 0 for k in self.output_state}
        self.console.append((self.clock.ms(), "watchdog reset"))
        self.app = self._new_app()

    def close(self):
        try:
            if not self.loop.is_closed():
                self.loop.close()
        finally:
            if self._tmp is not None:
                self._tmp.cleanup()
                self._tmp = None

    # -- what the device holds -------------------------------------------------------

    def records(self) -> list[dict]:
        """The session log on flash, decoded (repcore.recdecode.decode dicts)."""
        from repcore import recdecode, records

        root = self.flash_dir / "log"
        if not root.is_dir():
            return []
        out = []
        for name in sorted(os.listdir(root)):
            if not name.endswith(".seg"):
                continue
            data = (root / name).read_bytes()
            off = 0
            while off < len(data):
                try:
                    n = records.check(data, off)
                except records.RecordError:
                    break
                out.append(recdecode.decode(data[off:off + n]))
                off += n
        return out

    def config(self) -> dict:
        return json.loads((self.flash_dir / "config.json").read_text())


def run_virtual(recording, board="xiao_esp32s3_lsm6ds3", config=None, until_s=None,
                **kwargs) -> VirtualDevice:
    """Run the firmware app on the virtual hardware over `recording` (a
    repband.recording.Recording, e.g. from repband.sim.simulate) and return the device.

    `config`: settings written to the device's flash before boot (app.config keys).
    `until_s`: simulated seconds to run (default: the recording, the session idle time
    and a minute). Other keyword arguments go to VirtualDevice.
    """
    dev = VirtualDevice(recording, board=board, config=config, **kwargs)
    dev.run(until_s)
    return dev
