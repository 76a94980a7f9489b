"""The raw stream: the IMU's samples as they are read, in packets filled to the link's
MTU, while the host has it on (docs/protocol.md).

A `RawStream` exists only while the stream is on (app.ble makes it at the control
point's raw-on and drops it at raw-off), so a band nobody records from holds neither
its code nor its buffer.
"""
from repcore import protocol as P
from repcore.compat import const

_RAW_QUEUE = const(12)  # raw packets waiting for the link; the oldest goes first
_FRAME_MAX = const(244)  # app.ble's
_RAW_HEADER = const(8)  # repcore.protocol's (tests/test_app_constants.py ties them)
_RAW_SAMPLE = const(12)


class RawStream:
    def __init__(self, svc):
        self.svc = svc
        self.q = []  # packets waiting for the link
        self.seq = 0
        self.buf = bytearray(_RAW_HEADER + _RAW_SAMPLE * ((_FRAME_MAX - _RAW_HEADER) // _RAW_SAMPLE))
        self.n = 0
        self.t0 = 0
        self.dropped = 0

    def clear(self):
        """The link went: what was queued for it goes too."""
        self.q = []
        self.n = 0

    def push(self, t_ms, samples, n):
        """Queue `n` samples (flat: ax ay az gx gy gz each, int16 counts), the first at
        `t_ms`, spaced svc.raw_period_10us apart. Packets fill to the link's MTU."""
        svc = self.svc
        c = svc._link
        if c is None or not svc.encrypted:
            return
        per = P.raw_samples_per_packet(c.mtu if c.mtu - 3 <= _FRAME_MAX else _FRAME_MAX + 3)
        if per < 1:
            return
        buf = self.buf
        period = svc.raw_period_10us
        for i in range(n):
            if self.n == 0:
                self.t0 = t_ms + (i * period) // 100
            j = 6 * i
            off = _RAW_HEADER + _RAW_SAMPLE * self.n
            for a in range(6):
                v = samples[j + a]
                v = -32768 if v < -32768 else (32767 if v > 32767 else v)
                buf[off] = v & 0xFF
                buf[off + 1] = (v >> 8) & 0xFF
                off += 2
            self.n += 1
            if self.n >= per:
                self._packet(period)

    def _packet(self, period):
        n = self.n
        self.n = 0
        size = _RAW_HEADER + _RAW_SAMPLE * n
        pk = bytearray(self.buf[:size])
        P.encode_raw_into(pk, self.seq, self.t0, period, pk, 0)
        self.seq = (self.seq + 1) & 0xFFFF
        if len(self.q) >= _RAW_QUEUE:
            self.q.pop(0)  # the host sees the gap in the packet seq
            self.dropped += 1
        self.q.append(pk)
        self.svc._wake()

    def send(self, budget):
        svc = self.svc
        q = self.q
        while budget > 0 and q:
            if not svc._notify(svc.h_raw, q[0]):
                return budget
            q.pop(0)
            budget -= 1
        return budget
