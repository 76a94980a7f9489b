"""The app's only contact with hardware: a thin HAL with one real implementation.

`Hal` holds what every HAL shares; `EspHal` implements the seams with `machine`,
`esp32` and `asyncio` on the board. The virtual device
(`repband.virtual.hardware`) implements the same methods on emulated hardware, with a
virtual clock, so the unchanged app runs under CPython faster than real time.

Seams:
  clock     ticks_ms(), ticks_diff(a, b), `await sleep_ms(ms)`, flag() (an
            asyncio.ThreadSafeFlag: set() from an IRQ or another thread, `await wait()`)
            and `await wait_ms(flag, ms)` (the flag or ms, whichever first): every wait in
            the app goes through these, so a virtual HAL can make time pass in simulation;
  i2c       i2c() -> a machine.I2C-like bus, bus_reset() (clock out a stuck slave);
  buttons   button(k) -> True while button k of board.BUTTONS is pressed,
            buttons_wake(flag) sets `flag` at every press and release (pin IRQs);
  outputs   output(mask, on) switches LED / buzzer / vibration (OUT_* bits), outputs()
            says which exist, signal(name) announces the pattern about to play;
  battery   adc_uv() -> microvolts at the sense pin (-1 without one);
  power     power_hold(on) (latch pin), light_sleep(ms, imu_wake) -> woken by the IMU;
  watchdog  wdt_start(timeout_ms), wdt_feed(); reset() restarts the board, and
            watchdog_reset() says whether this boot came from the watchdog (main.py's);
  flash     `root`, the directory holding config and session log.

Nothing imports `machine` at module level: this module imports under CPython.
"""
from repcore.compat import const

OUT_LED = const(1)
OUT_BUZZER = const(2)
OUT_VIBRATION = const(4)

BUZZER_HZ = const(2700)  # typical resonance of small piezo / magnetic buzzers
# The CPU clock the power budget assumes (hardware/power.md: 80 MHz, modem sleep). The
# app needs ~13 % of it at 104 Hz; MicroPython's ESP32 builds start at 160 MHz, which
# draws ~10 mA more for nothing. 80 MHz is the lowest clock Bluetooth runs at.
CPU_HZ = const(80000000)


class Hal:
    """What every HAL shares. A HAL implements all the seams above (EspHal here,
    VirtualHal in repband.virtual): a neutral stand-in for each would be code the
    board carries and never runs."""

    root = "/data"
    board = None

    def signal(self, name):
        pass

    def adc_uv(self):
        return -1

    def battery_mv(self):
        """Battery volts at the cell (ADC reading times the board's divider), or -1."""
        uv = self.adc_uv()
        board = self.board
        if uv < 0 or board is None or getattr(board, "BAT_ADC_PIN", None) is None:
            return -1
        num, den = getattr(board, "BAT_DIVIDER", (1, 1))
        return uv * num // (den * 1000)

    def log(self, msg):
        print(msg)


class EspHal(Hal):
    """The real board: `machine`, `esp32` and `asyncio`, imported when first used."""

    def __init__(self, board, root="/data"):
        import time

        import machine

        machine.freq(CPU_HZ)
        self.board = board
        self.root = root
        self._time = time
        self._i2c = None
        self._btn = None
        self._led = None
        self._buzz = None
        self._vib = None
        self._adc = None
        self._wdt = None
        self._hold = None
        self._mask = 0
        self._setup_outputs()

    # -- clock ----------------------------------------------------------------

    def ticks_ms(self):
        return self._time.ticks_ms()

    def ticks_diff(self, a, b):
        return self._time.ticks_diff(a, b)

    def sleep_ms(self, ms):
        import asyncio

        return asyncio.sleep_ms(ms)

    def flag(self):
        import asyncio

        return asyncio.ThreadSafeFlag()

    async def wait_ms(self, flag, ms):
        import asyncio

        try:
            await asyncio.wait_for_ms(flag.wait(), ms)
        except asyncio.TimeoutError:
            pass

    # -- I2C --------------------------------------------------------------------

    def i2c(self):
        if self._i2c is None:
            from machine import I2C, Pin

            b = self.board
            self._i2c = I2C(b.I2C_ID, scl=Pin(b.I2C_SCL), sda=Pin(b.I2C_SDA), freq=b.I2C_FREQ)
        return self._i2c

    def bus_reset(self):
        """Nine SCL pulses free a slave holding SDA low, then the bus is set up again.

        The esp32 port keeps one I2C object per bus id, so re-creating it re-initialises
        the object the driver already holds."""
        from machine import I2C, Pin

        b = self.board
        scl = Pin(b.I2C_SCL, Pin.OPEN_DRAIN, value=1)
        for _ in range(9):
            scl.value(0)
            self._time.sleep_us(5)
            scl.value(1)
            self._time.sleep_us(5)
        self._i2c = I2C(b.I2C_ID, scl=Pin(b.I2C_SCL), sda=Pin(b.I2C_SDA), freq=b.I2C_FREQ)

    # -- buttons ------------------------------------------------------------------

    def button(self, k):
        if self._btn is None:
            from machine import Pin

            pins = []
            for _name, gpio, active_low in self.board.BUTTONS:
                # GPIO 34-39 of the ESP32 have no internal pulls (the boards pull them up).
                if active_low and not 34 <= gpio <= 39:
                    pins.append((Pin(gpio, Pin.IN, Pin.PULL_UP), active_low))
                else:
                    pins.append((Pin(gpio, Pin.IN), active_low))
            self._btn = pins
        pin, active_low = self._btn[k]
        return pin.value() == (0 if active_low else 1)

    def buttons_wake(self, flag):
        from machine import Pin

        self.button(0)  # the pins set up
        for pin, _ in self._btn or ():
            pin.irq(lambda _p: flag.set(), Pin.IRQ_FALLING | Pin.IRQ_RISING)

    # -- outputs ------------------------------------------------------------------

    def _setup_outputs(self):
        from machine import PWM, Pin

        b = self.board
        if getattr(b, "LED_PIN", None) is not None:
            self._led = Pin(b.LED_PIN, Pin.OUT, value=0 if b.LED_ACTIVE_HIGH else 1)
            self._mask |= OUT_LED
        if getattr(b, "BUZZER_PIN", None) is not None:
            self._buzz = PWM(Pin(b.BUZZER_PIN), freq=BUZZER_HZ, duty_u16=0)
            self._mask |= OUT_BUZZER
        if getattr(b, "VIBRATION_PIN", None) is not None:
            self._vib = Pin(b.VIBRATION_PIN, Pin.OUT, value=0)
            self._mask |= OUT_VIBRATION

    def outputs(self):
        return self._mask

    def output(self, mask, on):
        led = self._led
        if mask & OUT_LED and led is not None:
            led.value(1 if bool(on) == bool(self.board.LED_ACTIVE_HIGH) else 0)
        buzz = self._buzz
        if mask & OUT_BUZZER and buzz is not None:
            buzz.duty_u16(32768 if on else 0)
        vib = self._vib
        if mask & OUT_VIBRATION and vib is not None:
            vib.value(1 if on else 0)

    # -- battery, power, watchdog --------------------------------------------------

    def adc_uv(self):
        pin = getattr(self.board, "BAT_ADC_PIN", None)
        if pin is None:
            return -1
        if self._adc is None:
            from machine import ADC, Pin

            self._adc = ADC(Pin(pin), atten=ADC.ATTN_11DB)
        return self._adc.read_uv()

    def power_hold(self, on):
        pin = getattr(self.board, "POWER_HOLD_PIN", None)
        if pin is None:
            return
        if self._hold is None:
            from machine import Pin

            self._hold = Pin(pin, Pin.OUT, value=1)
        self._hold.value(1 if on else 0)

    def light_sleep(self, ms, imu_wake):
        import machine

        pin = getattr(self.board, "IMU_INT_PIN", None)
        if imu_wake and pin is not None:
            import esp32

            esp32.wake_on_ext0(machine.Pin(pin, machine.Pin.IN), esp32.WAKEUP_ANY_HIGH)
        machine.lightsleep(ms)
        return imu_wake and pin is not None and machine.wake_reason() == machine.EXT0_WAKE

    def wdt_start(self, timeout_ms):
        from machine import WDT

        self._wdt = WDT(timeout=timeout_ms)

    def wdt_feed(self):
        if self._wdt is not None:
            self._wdt.feed()

    def reset(self):
        import machine

        machine.reset()

    def watchdog_reset(self):
        """This boot came from a watchdog reset (app.safeboot counts it as a crash)."""
        import machine

        return machine.reset_cause() == machine.WDT_RESET
