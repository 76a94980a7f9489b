"""The band's identity: 16 random bytes made at its first boot, kept on flash, read by
the host over the encrypted link only (protocol 1.2, IDENTITY_UUID). An address can be
faked; this cannot be read without the bond, so the host knows a band it paired with
from another one at the same address, and a band whose flash was wiped (its file goes
with everything else: a new identity) from the one it knew.

The file holds two copies, each with a CRC-32, written to a temporary file renamed over
it: one flipped bit does not change who the band is. `repband flash` keeps the file;
a factory reset (app.radio) removes it.
"""
import os
import struct

from repcore.compat import const
from repcore.records import crc32

SIZE = const(16)
_COPY = const(20)  # the id and its CRC-32


def _valid(data, off):
    return struct.unpack_from("<I", data, off + SIZE)[0] == crc32(data[off:off + SIZE])


def load(path, random_bytes=None):
    """The identity in `path`, made (random_bytes(16): os.urandom) and saved when the
    file is absent or no copy is valid. Returns (identity bytes, made now)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        for off in (0, _COPY):
            if len(data) >= off + _COPY and _valid(data, off):
                return bytes(data[off:off + SIZE]), False
    except OSError:
        pass
    ident = (random_bytes or os.urandom)(SIZE)
    copy = ident + struct.pack("<I", crc32(ident))
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(copy + copy)
    os.rename(tmp, path)
    return ident, True
