"""The buttons task: asleep until a pin IRQ says a button moved, then polled every
BUTTON_MS until they are all released (debounced: two equal reads). A short press starts or stops
a session, a long press asks the detector to calibrate at the next still stand, a very
long press switches a board with a power latch off. Every press also opens the BLE
pairing window (app.ble: a new host may pair for 2 minutes), signalled "pairable" when
it was closed.

A mixin of app.app.App.
"""
# pyright: reportAttributeAccessIssue=false
# (a mixin: the attributes are App's, set in App.__init__ and the other mixins)
from repcore.compat import const

BUTTON_MS = const(30)
LONG_PRESS_MS = const(1500)
OFF_PRESS_MS = const(5000)


class Buttons:
    async def button_task(self):
        hal = self.hal
        nb = len(self.board.BUTTONS) if self.board is not None else 0
        self._press_up = -1  # when the press began, -1 when released (moved by _rebase)
        stable = False
        long_done = False
        moved = hal.flag()
        if nb:
            hal.buttons_wake(moved)
        while self.running:
            pressed = False
            for k in range(nb):
                if hal.button(k):
                    pressed = True
            if pressed == stable:
                if pressed:
                    held = self.uptime() - self._press_up
                    if not long_done and held >= LONG_PRESS_MS:
                        long_done = True
                        self.command("calibrate")
                    if held >= OFF_PRESS_MS and getattr(self.board, "POWER_HOLD_PIN", None) is not None:
                        self.power_off()
            else:
                # Two equal reads in a row: a debounced change.
                stable = pressed
                now = self.uptime()
                if pressed:
                    self._press_up = now
                    long_done = False
                    self._last_active = now
                    # The hand on the button is the owner's: a new host may pair now.
                    if self.svc is not None and self.svc.open_pairing():
                        self.feedback.play("pairable")
                else:
                    self._press_up = -1
                    if not long_done:
                        self.command("toggle")
            if pressed or stable:
                await hal.sleep_ms(BUTTON_MS)
            else:
                await moved.wait()  # released and settled: nothing to time
