"""The firmware as a board runs it for weeks (issue 12): MicroPython's ticks_ms wraps at
2^30 ms (12.4 days) and an int past 2^30 - 1 is a long int, with heap and fuel for every
operation. The whole app (its real code: drain, detector, sessions, records, sleep and
wake) runs across both, in CPython and in MicroPython (repband.micropython's
run_app_across_wrap: a stand-in board whose ticks wrap as the board's), and every time
it carries stays a small int while its records still say ms since boot."""
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
SLEEPS = {"13 days": 13.0, "2^28 ms - 700 s": ((1 << 28) - 700_000) / DAY_MS}


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
    starts = [t for kind, _boot, t, _e, _s in recs if kind == 6]
    ends = [t for kind, _boot, t, _e, _s in recs if kind == 7]
    assert len(starts) == 2 and len(ends) == 2
    # Records carry ms since boot: the second session started after the wake, past
    # 2^30 ms, as long after the wake as the first after the boot.
    assert abs((starts[1] - r["woke_ms"]) - starts[0]) <= 1000
    assert all(0 <= t <= r["ms"] for _k, _b, t, _e, _s in recs)
    assert len({b for _k, b, _t, _e, _s in recs}) == 1  # one boot throughout


@pytest.mark.parametrize("sleep", list(SLEEPS))
def test_both_engines_record_the_same(runs, sleep):
    assert runs["cpython", sleep]["records"] == runs["micropython", sleep]["records"]
    assert runs["cpython", sleep]["t_max"] == runs["micropython", sleep]["t_max"]
