"""The band's identity: 16 random bytes made at its first boot, kept on flash, read by
the host over the encrypted link only (protocol 1.2, IDENTITY_UUID). An address can be
faked; this cannot be read without the bond, so the host knows a band it paired with
from another one at the same address, and a band whose flash was wiped (its file goes
with everything else: a new identity) from the one it knew.

The file holds four copies, each with a CRC-32, written to a temporary file renamed
over it: three flipped bits anywhere leave a copy whole (a flip spoils one copy at most,
and a CRC-32 catches any 3 flips in 20 bytes), so they do not change who the band is.
A damaged copy is written afresh at boot, before flips can add up. `repband flash`
keeps the file; a factory reset (app.radio) removes it.
"""
import os
import struct

from repcore.compat import const
from repcore.records import crc32

SIZE = const(16)
_COPY = const(20)  # the id and its CRC-32
_COPIES = const(4)


def _valid(data, off):
    return struct.unpack_from("<I", data, off + SIZE)[0] == crc32(data[off:off + SIZE])


def load(path, random_bytes=None):
    """The identity in `path`, made (random_bytes(16): os.urandom) and saved when the
    file is absent or no copy is valid. Returns (identity bytes, made now)."""
    data = b""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        pass
    for off in range(0, _COPIES * _COPY, _COPY):
        if len(data) >= off + _COPY and _valid(data, off):
            ident = bytes(data[off:off + SIZE])
            if data != _file(ident):  # a copy spoilt, or a file of fewer copies (1.2)
                _save(path, ident)
            return ident, False
    ident = (random_bytes or os.urandom)(SIZE)
    _save(path, ident)
    return ident, True


def _file(ident):
    return (ident + struct.pack("<I", crc32(ident))) * _COPIES


def _save(path, ident):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(_file(ident))
    os.rename(tmp, path)
