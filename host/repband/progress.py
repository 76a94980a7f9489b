"""Progress for anything that takes more than a moment: a tqdm bar on standard error
when it is a terminal, nothing when it is not (piped, redirected, a test) or when the
command prints JSON (`quiet`). Bars only appear after half a second, so quick runs
stay clean, and they are cleared when done: what stays on the screen is the result.

    with bar(total=30, desc="demo", unit="day", quiet=args.json) as b:
        b.update(1)
    async with waiting("searching for AA:BB:CC:DD:EE:FF", seconds=10):
        await find_the_band()
"""
from __future__ import annotations

import asyncio
import contextlib
import sys

DELAY_S = 0.5  # a bar appears only when the work lasts longer than this


def bar(total=None, desc: str | None = None, unit: str = "it", quiet: bool = False, **kw):
    """A tqdm bar on stderr: disabled when stderr is not a terminal or `quiet`."""
    from tqdm import tqdm

    kw.setdefault("delay", DELAY_S)
    kw.setdefault("leave", False)
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=True if quiet else None,
                dynamic_ncols=True, **kw)


@contextlib.asynccontextmanager
async def waiting(desc: str, seconds: float, quiet: bool = False):
    """A bar counting the seconds of a wait bounded by `seconds` (on the running loop's
    clock: a virtual band's waits count in its own time), e.g. a search for a band."""
    loop = asyncio.get_running_loop()
    b = bar(total=round(seconds), desc=desc, unit="s", quiet=quiet,
            bar_format="{desc}: {n:.0f} of up to {total} s {bar}")
    if b.disable:
        b.close()
        yield
        return
    t0 = loop.time()

    async def tick():
        while True:
            await asyncio.sleep(0.25)
            b.n = min(b.total, loop.time() - t0)
            b.refresh()

    task = asyncio.ensure_future(tick())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        b.close()
