"""The app's side of the GATT service (app.ble, on boards with `bluetooth`): starting
it, the control point's commands, the host's clock, the live flags, the published
settings, and the task that polls it: when the service has news (its IRQ handler and
the app's changes set a flag), every 10 ms while it streams, else when its next timed
change is due (advertising turning slow, the pairing window closing; 10 s at most).

Nothing here imports app.ble or repcore.protocol until the radio starts: a board
without bluetooth never loads them, so the protocol values the app needs are inlined.

`Radio` is a mixin of app.app.App (its state is set in App.__init__).
"""
# pyright: reportAttributeAccessIssue=false
# (a mixin: the attributes are App's, set in App.__init__ and the other mixins)
from repcore.compat import const

from app import config as cfgmod

# repcore.records' values (folded here: tests/test_app_constants.py ties them).
_END_HOST = const(3)

_BUSY_MS = const(10)  # app.ble's: poll period while a report / indication is pending
_RESET_DELAY_MS = const(500)  # after a factory reset: its answer reaches the host first
_SCHEMA = const(1)  # app.config's

# repcore.protocol values, here so that a board without bluetooth never imports it.
_CTRL_START = const(1)
_CTRL_STOP = const(2)
_CTRL_MODE = const(3)
_CTRL_LEG = const(4)
_CTRL_PLACEMENT = const(5)
_CTRL_TARGETS = const(6)
_CTRL_CALIBRATE = const(7)
_CTRL_RAW = const(8)
_CTRL_IDENTIFY = const(9)
_CTRL_FACTORY_RESET = const(10)
_RESULT_NOT_SUPPORTED = const(2)
_RESULT_INVALID = const(3)


class Radio:
    def _hook(self, on):
        """The service's `on_event` gets every event the app's hook gets (first)."""
        hook = self.ble
        if hook is None:
            self.ble = on
        else:
            def both(ev):
                on(ev)
                hook(ev)
            self.ble = both

    def _on_time(self, epoch_s):
        self.sessions.epoch_s = epoch_s  # new records carry the wall clock (FLAG_WALL)

    def _on_control(self, op, params):
        """The control point (app.ble): a protocol RESULT_* code, None for success."""
        if op == _CTRL_START:
            self.command("start")
        elif op == _CTRL_STOP:
            self.command("stop", _END_HOST)
        elif op == _CTRL_CALIBRATE:
            self.command("calibrate")
        elif op == _CTRL_RAW:
            svc = self.svc
            if svc is not None and self._odr > 0:
                svc.raw_period_10us = 100000000 // self._odr
        elif op == _CTRL_IDENTIFY:
            self.feedback.identify_s = params[0]
            self.feedback.play("identify")
        elif op == _CTRL_FACTORY_RESET:
            self.wipe(_RESET_DELAY_MS)
        elif _CTRL_MODE <= op <= _CTRL_TARGETS:
            v = params[0]
            if op == _CTRL_MODE:
                ch = {"mode": ("auto", "bridge", "clam", "stretch")[v]}
            elif op == _CTRL_LEG:
                ch = {"leg": "left" if v == 1 else "right"}
            elif op == _CTRL_PLACEMENT:
                ch = {"placement": "hip" if v == 1 else "thigh"}
            else:
                ch = {"target_reps": v, "target_hold_s": params[1]}
            if self.command("config", ch):
                return _RESULT_INVALID
        else:
            return _RESULT_NOT_SUPPORTED
        return None

    def _flag(self, bit, on):
        svc = self.svc
        if svc is not None:
            svc.set_flag(bit, on)

    def _publish_settings(self):
        svc = self.svc
        if svc is None:
            return
        cfg = self.cfg
        leg, placement, mode = cfgmod.codes(cfg)
        svc.set_settings(_SCHEMA, mode, leg, placement, cfg["target_reps"],
                         cfg["target_hold_s"], cfg["session_idle_s"], cfg["sleep_idle_s"],
                         cfg["odr_hz"], cfg["gyro"], cfg["vibration"], cfg["buzzer"], cfg["led"],
                         cfg["low_battery_pct"])

    async def ble_task(self):
        """Poll the GATT service when it has news, often while it streams."""
        hal = self.hal
        svc = self.svc
        while self.running and svc is not None:
            busy = False
            try:
                busy = svc.poll()
            except Exception as e:  # the radio must never stop the app
                hal.log("ble: %r" % (e,))
            if busy or self._reset_at >= 0:  # (a factory reset's answer goes out first)
                await hal.sleep_ms(_BUSY_MS)
            else:
                await hal.wait_ms(svc.wake, svc.due_ms())
