"""The factory reset: its owner asked, over the encrypted link (control op 10, protocol
1.2: `repband forget`) or on the band (a double press, the second held 10 s: app.app),
e.g. before giving the band away. Imported when asked for and dropped after (App.wipe):
a band runs it once in its life, if ever.
"""
# pyright: reportAttributeAccessIssue=false
# (App's attributes, set in App.__init__ and its mixins)
import os

from repcore.compat import const

_IDENTITY_FILE = const("identity")  # app.startup's
_BONDS_FILE = const("bonds.json")  # app.startup's


def factory_reset(app, delay_ms):
    """Wipe the band: session log, bond keys, settings and identity go; the band
    restarts as a new one `delay_ms` later (the host's answer, or the pattern that says
    so, goes out first: the app's supervisor resets the board)."""
    hal = app.hal
    app.sessions.log = None  # nothing more is recorded
    log = app.log
    app.log = None
    if log is not None:
        log.close()
    svc = app.svc
    if svc is not None:
        svc.log = None
        svc.secrets.items = []
        svc.secrets.dirty = False
    root = hal.root
    for name in ("log", _IDENTITY_FILE, _BONDS_FILE, "config.json"):
        path = root + "/" + name
        try:
            for f in os.listdir(path):
                os.remove(path + "/" + f)
            os.rmdir(path)
        except OSError:
            try:
                os.remove(path)
            except OSError:
                pass
    hal.log("factory reset: the band restarts as a new one")
    app._reset_at = app.uptime() + delay_ms
