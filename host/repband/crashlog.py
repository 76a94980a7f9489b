"""`repband crash-log`: the band's last crash, read over its USB serial port.

The firmware (app.safeboot, run by main.py) keeps the newest crash's traceback in
``/data/crash.txt`` and counts crashes in a row in ``/data/crashes``; after 3 in a row
the band boots safe (the app stays off, the REPL and `repband flash` work).
`repband flash` clears the count (new firmware gets its chances); ``--clear`` here
clears both, so the app starts at the next boot.

Exit status (repband.exits, docs/troubleshooting.md) as `repband flash`: 0 read; 2 the
port (none found, cannot be opened, no MicroPython REPL answers).
"""
from __future__ import annotations

import sys

from repband import exits
from repband.flash import FlashError
from repband.mpremote_link import BoardLink, add_port_argument

DATA = "/data"  # app.hal.Hal.root on the board
CRASH_COUNT = DATA + "/crashes"  # app.safeboot.COUNT
CRASH_LOG = DATA + "/crash.txt"  # app.safeboot.LOG
SAFE_AFTER = 3  # app.safeboot.SAFE_AFTER

_READ = """
def _rd(p):
    try:
        with open(p) as f:
            return f.read()
    except OSError:
        return None
print(repr((_rd(%r), _rd(%r))))
""" % (CRASH_COUNT, CRASH_LOG)

CLEAR = """
import os
for _p in %r:
    try:
        os.remove(_p)
    except OSError:
        pass
"""


def clear(dev: BoardLink, paths=(CRASH_COUNT,)) -> None:
    """Remove the crash count (and whatever else is in `paths`) on the board."""
    dev.exec(CLEAR % (tuple(paths),))


def crash_log(port: str | None = None, clear_all: bool = False, out=None) -> int:
    out = sys.stdout if out is None else out
    dev = BoardLink(port, out)
    try:
        count, text = dev.eval_repr(_READ)
        try:
            n = int(count) if count else 0
        except ValueError:
            n = 0
        if text:
            print(text.rstrip("\n"), file=out)
        else:
            print("no crash recorded on the band", file=out)
        if n >= SAFE_AFTER:
            print(f"safe boot: {n} crashes in a row, the app stays off until the count is "
                  "cleared (`repband flash` with fixed firmware, or `repband crash-log --clear`)",
                  file=out)
        elif n:
            print(f"{n} crash(es) in a row so far (safe boot after {SAFE_AFTER}); the count "
                  "clears once the app has run a minute", file=out)
        if clear_all:
            clear(dev, (CRASH_COUNT, CRASH_LOG))
            print("cleared: the app starts at the next boot", file=out)
    finally:
        dev.close(restart=True)
    return exits.OK


def cmd_crash_log(args) -> int:
    try:
        return crash_log(port=args.port, clear_all=args.clear)
    except FlashError as exc:
        print(f"repband: crash-log: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        return exits.INTERRUPTED


def add_parser(sub) -> None:
    c = sub.add_parser("crash-log", help="show the band's last crash (USB), and whether it boots safe",
                       description="Read the last crash's traceback the firmware kept on the "
                       "band, and the crashes in a row (3: safe boot, the app stays off).")
    add_port_argument(c)
    c.add_argument("--clear", action="store_true",
                   help="clear the crash log and count: the app starts at the next boot")
    c.set_defaults(func=cmd_crash_log)
