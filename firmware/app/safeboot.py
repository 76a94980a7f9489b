"""Safe boot and the crash log (main.py's): a bug that fires at boot must never make a
band that cannot be reached.

`run(hal, board, start)` calls `start()` (build and run the app) unless the boot is
safe, and after any exception keeps its traceback on flash (`crash.txt` in hal.root,
the newest only) and counts it (`crashes`: crashes in a row) before resetting the
board. A watchdog reset counts as a crash too (`hal.watchdog_reset()`). The boot is
safe, and the app stays off with the REPL and `repband flash` working, when

  * SAFE_AFTER crashes came in a row (the app has not run HEALTHY_MS since), or
  * the board's SAFE_BUTTON (board.BUTTONS by name) is held while the band is switched
    on, until HOLD_MS after main.py starts (a boot without it pressed is not delayed).
    Never GPIO0 / BOOT: held at reset it starts the ROM's download mode, not
    MicroPython.

  * the boot before was interrupted from USB (Ctrl-C: mpremote, `repband flash`,
    `repband crash-log`), once. The app's watchdog (machine.WDT, 10 s) cannot be
    stopped and the REPL does not feed it, so an interrupted band would reset within
    10 s, in the middle of whatever the host does (a flash takes longer): instead it
    restarts at once into this safe boot, which never starts the watchdog.

The app calls `healthy(root)` once it has run HEALTHY_MS, which clears the count (the
traceback stays for `repband crash-log`); `repband flash` clears it too.
"""
from repcore.compat import const

SAFE_AFTER = const(3)
HEALTHY_MS = const(60000)
HOLD_MS = const(1000)
_POLL_MS = const(50)
_OUT_LED = const(1)  # app.hal.OUT_LED

COUNT = "/crashes"  # in hal.root: crashes in a row, as text
LOG = "/crash.txt"  # in hal.root: the newest crash
INTERRUPTED = "/interrupted"  # in hal.root: the app was interrupted from USB (one boot)


def crashes(root):
    try:
        with open(root + COUNT) as f:
            return int(f.read())
    except (OSError, ValueError):
        return 0


def record(root, what):
    """Count a crash and keep `what` (an exception, or a line saying what happened)."""
    n = crashes(root) + 1
    try:
        with open(root + COUNT, "w") as f:
            f.write(str(n))
        with open(root + LOG, "w") as f:
            f.write("crash %d in a row\n" % n)
            if isinstance(what, BaseException):
                import sys

                sys.print_exception(what, f)
            else:
                f.write(what + "\n")
    except OSError:
        pass  # a full or broken flash: the reset still comes
    return n


def healthy(root):
    import os

    try:
        os.remove(root + COUNT)
    except OSError:
        pass


def button_held(hal, board):
    """True if board.SAFE_BUTTON is down now and stays down HOLD_MS (a boot without
    it pressed goes on at once)."""
    name = getattr(board, "SAFE_BUTTON", None)
    k = -1
    for i, b in enumerate(getattr(board, "BUTTONS", ())):
        if b[0] == name:
            k = i
    if k < 0 or not hal.button(k):
        return False
    import time

    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < HOLD_MS:
        time.sleep_ms(_POLL_MS)
        if not hal.button(k):
            return False
    return True


def why_safe(hal, board):
    """Why this boot is safe (the app stays off), or None."""
    root = hal.root
    import os

    try:
        os.remove(root + INTERRUPTED)
        return "interrupted from USB"
    except OSError:
        pass
    if hal.watchdog_reset():
        record(root, "watchdog reset (the app stopped feeding it)")
    n = crashes(root)
    if n >= SAFE_AFTER:
        return "%d crashes in a row" % n
    if button_held(hal, board):
        return "button %s held" % board.SAFE_BUTTON
    return None


def run(hal, board, start):
    """main.py's boot: `start()` unless the boot is safe; a crash is kept and resets."""
    why = why_safe(hal, board)
    if why is not None:
        print("repband: safe boot (%s): the app stays off; the REPL and `repband flash` "
              "work, `repband crash-log` shows the last crash" % why)
        hal.output(_OUT_LED, True)  # the LED on and nothing else: on, but not counting
        return why
    try:
        start()
    except KeyboardInterrupt:  # Ctrl-C from USB: restart with no watchdog (above)
        import micropython

        micropython.kbd_intr(-1)  # a second Ctrl-C must not cut the restart short
        print("repband: interrupted: restarting in safe boot (the app's watchdog cannot "
              "be stopped)")
        try:
            open(hal.root + INTERRUPTED, "w").close()
        except OSError:
            pass  # a full or broken flash: the app starts again
        hal.reset()
    except Exception as e:  # the last resort: kept on flash, then a fresh start
        import sys

        sys.print_exception(e)
        record(hal.root, e)
        hal.reset()
    return None
