"""The buttons task: polled every BUTTON_MS, debounced. A short press starts or stops
a session, a double press (two short presses within DOUBLE_MS) switches the band to
the other leg (the person moved it there: no computer needed), a long press asks the
detector to calibrate at the next still stand, a very long press switches a board with
a power latch off. Every press also opens the BLE pairing window (app.ble: a new host
may pair for 2 minutes), signalled "pairable" when it was closed. A short press acts
DOUBLE_MS after it ended, once it is clear that no second one follows.

A mixin of app.app.App.
"""
# pyright: reportAttributeAccessIssue=false
# (a mixin: the attributes are App's, set in App.__init__ and the other mixins)
from repcore.compat import const

BUTTON_MS = const(30)
LONG_PRESS_MS = const(1500)
OFF_PRESS_MS = const(5000)
DOUBLE_MS = const(400)  # the gap a second press must start within to make a double press


class Buttons:
    async def button_task(self):
        hal = self.hal
        nb = len(self.board.BUTTONS) if self.board is not None else 0
        down = -1  # uptime the press began, -1 when released
        stable = False
        long_done = False
        tap = -1  # uptime a short press ended, while it may still become a double press
        while self.running:
            pressed = False
            for k in range(nb):
                if hal.button(k):
                    pressed = True
            now = self.uptime()
            if pressed == stable:
                if pressed:
                    held = now - down
                    if not long_done and held >= LONG_PRESS_MS:
                        long_done = True
                        tap = -1
                        self.command("calibrate")
                    if held >= OFF_PRESS_MS and getattr(self.board, "POWER_HOLD_PIN", None) is not None:
                        self.power_off()
                elif tap >= 0 and now - tap >= DOUBLE_MS:
                    tap = -1
                    self.command("toggle")  # a single short press
            else:
                # Two equal reads in a row: a debounced change.
                stable = pressed
                if pressed:
                    down = now
                    long_done = False
                    self._last_active = now
                    # The hand on the button is the owner's: a new host may pair now.
                    if self.svc is not None and self.svc.open_pairing():
                        self.feedback.play("pairable")
                elif long_done:
                    pass
                elif tap >= 0:
                    tap = -1
                    self.command("switch_leg")  # the second short press of a double press
                else:
                    tap = now
            await hal.sleep_ms(BUTTON_MS)
