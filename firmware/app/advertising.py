"""Advertising: fast (100 ms) for FAST_WINDOW_MS after boot, a disconnect, a session
end or an opened pairing window, then slow (about 1 s); stopped while connected (the
stack stops it at a connection) and while the band sleeps.

`Advertising` is a mixin of app.ble.BandService (its state is set in
BandService.__init__: `_advertising`, `_adv_fast_from`, `_adv`, `_resp`). The app's task
runs it (BandService.poll and the app's calls), never the IRQ handler.
"""
# pyright: reportAttributeAccessIssue=false
# (a mixin: the attributes are BandService's, set in its __init__ and the other mixins)
from repcore.compat import const

FAST_ADV_US = const(100000)  # 100 ms for FAST_WINDOW_MS after boot, disconnect, session end
SLOW_ADV_US = const(1022500)  # then about 1 s (iOS-friendly value)
FAST_WINDOW_MS = const(30000)


def uuid128_le(s):
    """The 16 little-endian bytes of a 128-bit UUID string (advertising data)."""
    from binascii import unhexlify
    b = unhexlify(s.replace("-", ""))
    out = bytearray(16)
    for i in range(16):
        out[i] = b[15 - i]
    return bytes(out)


class Advertising:
    def stop_advertising(self):
        self._adv_fast_from = -1
        if self._advertising:
            self._ble.gap_advertise(None)
        self._advertising = 0

    def advertise(self, fast=True):
        """Advertise fast (then slow after FAST_WINDOW_MS) or slow; no-op while connected
        (advertising starts again at the disconnect)."""
        self._adv_fast_from = self._ticks() if fast else -1
        if self._link is None:
            self._start_adv(FAST_ADV_US if fast else SLOW_ADV_US)

    def _start_adv(self, interval):
        if self._advertising != interval:
            self._ble.gap_advertise(interval, self._adv, resp_data=self._resp)
            self._advertising = interval

    def _advertise_tick(self):
        """While nobody is connected (poll): fast advertising turns slow when its
        window is over."""
        if self._advertising == FAST_ADV_US and not 0 <= self._since(self._adv_fast_from) < FAST_WINDOW_MS:
            self._start_adv(SLOW_ADV_US)
