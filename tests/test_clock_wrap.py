"""The firmware as a board runs it for weeks (issue 12): MicroPython's ticks_ms wraps at
2^30 ms (12.4 days) and an int past 2^30 - 1 is a long int, with heap and fuel for every
operation. The whole app (its real code: drain, detector, sessions, records, sleep and
wake) runs across both, in CPython and in MicroPython (repband.micropython's
run_app_across_wrap: a stand-in board whose ticks wrap as the board's), and every time
it carries stays a small int while its records keep their wall time: past 2^32 ms
(49.7 days) of uptime, where a record's u32 t_ms would clamp, the band's log counts a
new boot (docs/firmware.md, *Time*), with no change to the record format."""
from __future__ import annotations

import numpy as np
import pytest

from repband import micropython as mp
from repband.recording import to_samples
from repband.sim import simulate

SMALL = 1 << 30
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def bridges():
    rec, _ = simulate("bridges", seed=1)
    return np.asarray(to_samples(rec), dtype=np.int64)


# Asleep 13 days: the ticks wrap during the sleep and the band has been up past 2^30 ms
# when it wakes. Asleep 700 s short of 2^28 ms (the first pass took 544 s): the time base moves while
# it is awake.
# Asleep 60 days: up past 2^32 ms, where a record's t_ms (u32) would clamp.
SLEEPS = {"13 days": 13.0, "2^28 ms - 700 s": ((1 << 28) - 700_000) / DAY_MS, "60 days": 60.0}


def wall_ms(rec):
    """A record's wall time (ms since the stand-in's power-on): the host's epoch_s + t_ms."""
    _kind, _boot, t, epoch, _sess = rec
    assert epoch > 0
    return (epoch - mp.WRAP_EPOCH_S) * 1000 + t


@pytest.fixture(scope="module")
def runs(bridges):
    return {(e, k): mp.run_app_across_wrap(bridges, engine=e, sleep_days=d)
            for e in ("cpython", "micropython") for k, d in SLEEPS.items()}


@pytest.mark.parametrize("engine", ["cpython", "micropython"])
def test_app_times_stay_small_past_2_30_ms_of_uptime(runs, engine):
    r = runs[engine, "13 days"]
    assert r["ms"] > SMALL + DAY_MS // 2  # the band was up 13 days
    assert r["long"] == []  # no time the app keeps is a long int
    assert r["t_max"] < SMALL and 0 <= r["t"] < SMALL and 0 <= r["up"] < SMALL
    # the coarse counter: seconds since boot, exact
    assert r["base_s"] > 0 and r["uptime_s"] == r["ms"] // 1000


def test_time_base_moves_while_awake(runs):
    r = runs["cpython", "2^28 ms - 700 s"]
    assert r["woke_ms"] < (1 << 28) < r["ms"] and r["base_s"] * 1000 > r["woke_ms"]
    assert r["long"] == [] and r["uptime_s"] == r["ms"] // 1000


@pytest.mark.parametrize("sleep", list(SLEEPS))
@pytest.mark.parametrize("engine", ["cpython", "micropython"])
def test_app_counts_and_records_the_same_after_the_wrap(runs, engine, sleep):
    r = runs[engine, sleep]
    n_sessions, reps = r["before"]
    assert n_sessions == 1 and reps > 10
    assert r["after"] == (2, 2 * reps)  # the same bridges after the wake: the same count
    recs = r["records"]
    starts = [wall_ms(rec) for rec in recs if rec[0] == 6]
    ends = [wall_ms(rec) for rec in recs if rec[0] == 7]
    assert len(starts) == 2 and len(ends) == 2
    # The second session started after the wake, as long after it as the first after
    # the boot; every record's time is exact (none clamped).
    assert abs((starts[1] - r["woke_ms"]) - starts[0]) <= 1000
    assert all(0 <= wall_ms(rec) <= r["ms"] for rec in recs)
    assert all(t < 0xFFFFFFFF for _k, _b, t, _e, _s in recs)
    boots = [b for _k, b, _t, _e, _s in recs]
    if r["ms"] < 1 << 31:
        assert len(set(boots)) == 1  # one boot throughout
    else:  # the log counted a new boot in the sleep: each session lies in one
        assert boots == sorted(boots) and len(set(boots)) == 2
        assert boots[0] != boots[-1]


@pytest.mark.parametrize("sleep", list(SLEEPS))
def test_both_engines_record_the_same(runs, sleep):
    assert runs["cpython", sleep]["records"] == runs["micropython", sleep]["records"]
    assert runs["cpython", sleep]["t_max"] == runs["micropython", sleep]["t_max"]
