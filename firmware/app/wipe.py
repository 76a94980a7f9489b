"""The factory reset (control op 10, protocol 1.2): its owner asked, over the encrypted
link, e.g. before giving the band away. Imported when asked for and dropped after: a band
runs it once in its life, if ever.
"""
# pyright: reportAttributeAccessIssue=false
# (App's attributes, set in App.__init__ and its mixins)
import os

from repcore.compat import const

_RESET_DELAY_MS = const(500)  # after a factory reset: its answer reaches the host first
_IDENTITY_FILE = const("identity")  # app.startup's
_BONDS_FILE = const("bonds.json")  # app.startup's


def factory_reset(app):
    """Wipe the band (its owner asked, over the encrypted link, e.g. before giving
    it away): session log, bond keys, settings and identity go; the band restarts
    as a new one (_RESET_DELAY_MS later, so the host gets the answer)."""
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
    app._reset_at = app.uptime() + _RESET_DELAY_MS
