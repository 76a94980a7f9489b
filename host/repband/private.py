"""Files of health data that only their owner may read: the database's backups, the
reports, exports and recordings repband writes (mode 0600 whatever the umask, like
the database itself)."""
from __future__ import annotations

import os


def open_private(path: str | os.PathLike, mode: str = "w", **kw):
    """`open(path, mode)` for writing ("w", "wb"), the file created (or truncated) with
    mode 0600; an existing file of ours is tightened to 0600 too."""
    if mode not in ("w", "wb"):
        raise ValueError(f"open_private writes ('w' or 'wb'), not {mode!r}")
    fd = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
    except PermissionError:  # another user's file we may write: theirs to protect
        pass
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, mode, **kw)
