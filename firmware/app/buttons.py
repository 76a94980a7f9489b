"""The buttons task: polled every BUTTON_MS, debounced. A short press starts or stops
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
        down = -1  # uptime the press began, -1 when released
        stable = False
        long_done = False
        while self.running:
            pressed = False
            for k in range(nb):
                if hal.button(k):
                    pressed = True
            if pressed == stable:
                if pressed:
                    held = self.uptime() - down
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
                    down = now
                    long_done = False
                    self._last_active = now
                    # The hand on the button is the owner's: a new host may pair now.
                    if self.svc is not None and self.svc.open_pairing():
                        self.feedback.play("pairable")
                elif not long_done:
                    self.command("toggle")
            await hal.sleep_ms(BUTTON_MS)
