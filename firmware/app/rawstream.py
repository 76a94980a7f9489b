"""The raw stream: the IMU's samples as they are read, in packets filled to the link's
MTU, while the host has it on (docs/protocol.md).

`RawStream` is a mixin of app.ble.BandService (its state is set in BandService.__init__).
"""
# pyright: reportAttributeAccessIssue=false
# (a mixin: the attributes are BandService's, set in its __init__ and the other mixins)
from repcore import protocol as P
from repcore.compat import const

RAW_QUEUE = const(12)  # raw packets waiting for the link; the oldest goes first
_FRAME_MAX = const(244)  # app.ble.FRAME_MAX


class RawStream:
    def push_raw(self, t_ms, samples, n):
        """Queue `n` samples (flat: ax ay az gx gy gz each, int16 counts), the first at
        `t_ms`, spaced raw_period_10us apart. Packets fill to the link's MTU."""
        c = self._link
        if not self.raw_on or c is None or not self.encrypted:
            return
        per = P.raw_samples_per_packet(c.mtu if c.mtu - 3 <= _FRAME_MAX else _FRAME_MAX + 3)
        if per < 1:
            return
        buf = self._raw_buf
        for i in range(n):
            if self._raw_n == 0:
                self._raw_t0 = t_ms + (i * self.raw_period_10us) // 100
            j = 6 * i
            off = P.RAW_HEADER + P.RAW_SAMPLE * self._raw_n
            for a in range(6):
                v = samples[j + a]
                v = -32768 if v < -32768 else (32767 if v > 32767 else v)
                buf[off] = v & 0xFF
                buf[off + 1] = (v >> 8) & 0xFF
                off += 2
            self._raw_n += 1
            if self._raw_n >= per:
                self._raw_packet()

    def _raw_packet(self):
        n = self._raw_n
        self._raw_n = 0
        size = P.RAW_HEADER + P.RAW_SAMPLE * n
        pk = bytearray(self._raw_buf[:size])
        P.encode_raw_into(pk, self._raw_seq, self._raw_t0, self.raw_period_10us, pk, 0)
        self._raw_seq = (self._raw_seq + 1) & 0xFFFF
        if len(self._raw_q) >= RAW_QUEUE:
            self._raw_q.pop(0)  # the host sees the gap in the packet seq
            self.raw_dropped += 1
        self._raw_q.append(pk)
        self._wake()

    def _send_raw(self, budget):
        while budget > 0 and self._raw_q:
            if not self._notify(self.h_raw, self._raw_q[0]):
                return budget
            self._raw_q.pop(0)
            budget -= 1
        return budget
