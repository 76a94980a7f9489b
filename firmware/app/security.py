"""Pairing policy and bond storage (docs/protocol.md, threat model).

A *new* pairing is accepted only while `pairable`: the band has no bond yet, or it is
within _PAIR_WINDOW_MS of start() (the boot: switching the band on) or of
`open_pairing()` (the app calls it at every button press). A bonded host reconnecting
(its keys restored through _IRQ_GET_SECRET) is always let in. Outside the window a
fresh pairing is disconnected as soon as the stack reports its encryption, nothing it
wrote is acted on, and its keys are not stored.

`Secrets` keeps the bond keys, which MicroPython leaves to the application.
`Pairing` is a mixin of app.ble.BandService (its state is set in BandService.__init__:
`_pair_from`, `pair_refused`, `secrets`); `_security_irq` handles the IRQ events
28-30 for BandService._irq. The stack waits for its answers, so it runs beside the app
(BandService's module doc): it reads the clock (ticks, no app state), writes only the
connection's own fields and `pair_refused`, and changes the bond keys copy-on-write
(`Secrets.set` builds a new list), so `Secrets.save` on the app's task writes a whole
list, old or new.
"""
# pyright: reportAttributeAccessIssue=false
# (a mixin: the attributes are BandService's, set in its __init__ and the other mixins)
from repcore.compat import const

_IRQ_ENCRYPTION_UPDATE = const(28)
_IRQ_GET_SECRET = const(29)
_IRQ_SET_SECRET = const(30)

# NimBLE's store object types as MicroPython passes them in _IRQ_GET/SET_SECRET
# (BLE_STORE_OBJ_TYPE_*): our keys for a peer, the peer's keys. Other types (3: a bonded
# peer's CCCD values, on ports that keep them) are stored as they come.
_SEC_OUR = const(1)
_SEC_PEER = const(2)
_SECRETS_MAX = const(16)

_PAIR_WINDOW_MS = const(120000)  # new pairings accepted this long after boot or a press


class Secrets:
    """Bond keys, which MicroPython leaves to the application (_IRQ_GET/SET_SECRET),
    kept in a JSON file of [sec_type, key hex, value hex] (None: in memory only).
    Loops, not comprehensions: each of those would keep code of its own in RAM."""

    def __init__(self, path=None):
        self.path = path
        self.items = []  # [sec_type, key bytes, value bytes], oldest first
        self.dirty = False
        if path:
            self.load()

    def load(self):
        import json
        from binascii import unhexlify
        path = self.path
        if not path:
            return
        try:
            with open(path, "r") as f:
                data = json.load(f)
            items = []
            for t, k, v in data:
                items.append([int(t), unhexlify(k), unhexlify(v)])
            self.items = items
        except (OSError, ValueError, TypeError):
            self.items = []

    def save(self):
        self.dirty = False
        path = self.path
        if not path:
            return
        import json
        from binascii import hexlify
        items = self.items
        tmp = path + ".tmp"
        data = []
        for t, k, v in items:
            data.append([t, hexlify(k).decode(), hexlify(v).decode()])
        with open(tmp, "w") as f:
            json.dump(data, f)
        import os
        os.rename(tmp, path)

    def get(self, sec_type, index, key):
        n = 0
        for t, k, v in self.items:
            if t != sec_type:
                continue
            if key is None:
                if n == index:
                    return v
                n += 1
            elif k == key:
                return v
        return None

    def bonded(self):
        """Keys of at least one peer are stored."""
        for it in self.items:
            if it[0] == _SEC_OUR or it[0] == _SEC_PEER:
                return True
        return False

    def set(self, sec_type, key, value):
        items = []
        for it in self.items:
            if it[0] != sec_type or it[1] != key:
                items.append(it)
        found = len(items) < len(self.items)
        if value is None:
            if found:
                self.items = items
                self.dirty = True
            return found
        if len(items) >= _SECRETS_MAX:
            items.pop(0)
        items.append([sec_type, key, value])
        self.items = items  # one store: a save() running meanwhile has the old list
        self.dirty = True
        return True


class Pairing:
    @property
    def pairable(self):
        """A new pairing is accepted now: within the window, or the band has no bond."""
        return 0 <= self._since(self._pair_from) < _PAIR_WINDOW_MS or not self.secrets.bonded()

    def _may_bond(self, c):
        """Keys of a new bond may be stored: the window is open, or this link's pairing
        was accepted while it was."""
        return self.pairable or (c is not None and c.paired)

    def open_pairing(self):
        """Open the pairing window for _PAIR_WINDOW_MS from now (a button press: the hand
        on the band is its owner's). True if it was closed (the app signals it)."""
        opened = not self.pairable
        self._pair_from = self._ticks()
        if opened and self._advertising:
            self.advertise(True)  # the new host finds the band at once
        return opened

    def _security_irq(self, event, data):
        """_IRQ_ENCRYPTION_UPDATE, _IRQ_GET_SECRET, _IRQ_SET_SECRET (from BandService._irq)."""
        if event == _IRQ_ENCRYPTION_UPDATE:
            c = self._conn
            if c is not None and c.handle == data[0]:
                # The event does not say whether a pairing or a restored bond encrypted
                # the link; a restore always fetches our key first (NimBLE's LTK
                # request: _IRQ_GET_SECRET), so without that fetch it was a pairing.
                restored = c.restored
                c.restored = False
                if c.refused:
                    return None
                if data[1] and not restored and not self.pairable:
                    # A fresh pairing while the window is closed: the central goes, and
                    # the link counts as unencrypted meanwhile (nothing sent, writes
                    # ignored); its keys are refused below.
                    c.refused = True
                    c.encrypted = False
                    self.pair_refused += 1
                    self.last_error = "pairing refused: the pairing window is closed"
                    self._ble.gap_disconnect(c.handle)
                    return None
                if data[1] and not restored:
                    # Accepted: its keys come next (our keys, then the peer's) and are
                    # stored even when the first of them closes an out-of-box window.
                    c.paired = True
                c.encrypted = bool(data[1])
                c.bonded = bool(data[3])
        elif event == _IRQ_GET_SECRET:
            t, i, key = data
            c = self._conn
            if key is None:
                if c is not None and c.refused:
                    return None  # no bond to evict for a refused pairing (see below)
            else:
                key = bytes(key)
                if t == _SEC_PEER and not self._may_bond(c):
                    # NimBLE looks a peer's keys up by address only when a pairing request
                    # comes (is it bonded already?), and MicroPython then deletes that bond
                    # unasked. Hidden while the window is closed: a stranger using a
                    # bonded host's address cannot erase its bond (a reconnection reads
                    # our keys, type 1, and still finds them).
                    return None
            v = self.secrets.get(t, i, key)
            if v is not None and t == _SEC_OUR and key is not None and c is not None:
                c.restored = True
            return v
        elif event == _IRQ_SET_SECRET:
            t, key, value = data
            c = self._conn
            refused = c is not None and c.refused
            if value is None:
                if c is not None:
                    c.restored = False  # a bond going: no reconnection on its keys
            elif t == _SEC_OUR or t == _SEC_PEER:
                if refused or not self._may_bond(c):
                    # False: the stack's store is "full" and its overflow handler looks
                    # for a bond to evict, which finds none (MicroPython 1.27 enumerates
                    # our keys by an empty address; a refused link enumerates nothing),
                    # and the pairing ends unbonded here: its central is disconnected.
                    return False
            elif refused:
                return True  # e.g. its CCCDs: acknowledged (a refusal would evict a bond), not kept
            return self.secrets.set(t, bytes(key), None if value is None else bytes(value))
        return None
