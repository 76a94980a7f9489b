"""A person's first weeks with the band, for `repband demo --days N`: which days they
did the routine, and the motion the band feels on each of them (repband.sim's body and
sensor model, through its activities), made one day at a time.

What a first month looks like, from the brief: a rest day a week, a day missed now and
then, a short day (bridges only) when time is short; the band starts on the leg it
ended on the day before, and is moved to the other thigh half-way for that side's clams
and stretch; range of motion grows (bridge thigh tilt from about 80 % of the person's
range, clams likewise) and the stretch holds get longer (about 20 s at first, about 40 s
after a month), with the day-to-day scatter the simulator gives.

    days = plan(30, end=date.today(), seed=1, leg="right")
    rec, truth = day_motion(days[3], seed=1)     # Recording at 104 Hz, truth counts
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import random
from dataclasses import dataclass

import numpy as np

RATE_HZ = 104.0
STRAP_S = 25.0  # the band just strapped on the other thigh: standing still, switching its leg
OTHER = {"left": "right", "right": "left"}


@dataclass(frozen=True)
class Day:
    date: _dt.date
    kind: str  # "routine", "short" (bridges and one side), "rest", "missed"
    first_leg: str  # the leg the band is on when the day starts
    minute: int  # local time the routine starts, minutes after midnight
    progress: float  # 0 on the first day, 1 on the last: range and holds grow with it
    index: int  # day number in the plan, from 0

    @property
    def active(self) -> bool:
        return self.kind in ("routine", "short")

    @property
    def legs(self) -> tuple[str, ...]:
        """The band's legs that day, in order (a short day stays on one)."""
        return (self.first_leg,) if self.kind == "short" else (self.first_leg, OTHER[self.first_leg])


def plan(days: int, end: _dt.date, seed: int = 1, leg: str = "right") -> list[Day]:
    """`days` calendar days ending on `end`: the routine most days, a rest day a week
    (the weekday of the first day + 6), one missed day in each fortnight, a short day
    now and then. Deterministic in `seed`."""
    rng = random.Random(seed * 7919 + days)
    start = end - _dt.timedelta(days=days - 1)
    rest_wd = (start.weekday() + 6) % 7
    missed = set()
    for f in range(0, days, 14):
        span = [i for i in range(f + 3, min(f + 13, days)) if (start + _dt.timedelta(days=i)).weekday() != rest_wd]
        if span and days >= 7:
            missed.add(rng.choice(span))
    out = []
    on = leg
    for i in range(days):
        d = start + _dt.timedelta(days=i)
        if d.weekday() == rest_wd and i:
            kind = "rest"
        elif i in missed:
            kind = "missed"
        elif i > 2 and rng.random() < 0.08:
            kind = "short"
        else:
            kind = "routine"
        minute = (7 * 60 + 10 if d.weekday() < 5 else 9 * 60 + 30) + rng.randrange(0, 50)
        day = Day(d, kind, on, minute, i / max(days - 1, 1), i)
        out.append(day)
        if day.active:
            on = day.legs[-1]
    return out


def local_epoch(day: Day, seconds: float = 0.0) -> float:
    """Unix time of `seconds` after the day's start, in this computer's time zone (a
    daylight saving change that day is honoured)."""
    t = _dt.datetime.combine(day.date, _dt.time(day.minute // 60, day.minute % 60))
    return t.timestamp() + seconds  # naive: local time, the zone's rules of that date


def _person(seed: int, day: Day):
    """The person (repband.sim Person), with their range and holds of that day."""
    from repband.sim.body import Person

    p = Person.draw(np.random.default_rng([seed, 17]))
    # a slow, careful start: ranges from ~80 % of what the person reaches after a month
    grow = 0.8 + 0.2 * day.progress
    return dataclasses.replace(p, bridge_rom=max(12.0, p.bridge_rom) * grow, clam_rom=p.clam_rom * grow,
                               stretch_ext=p.stretch_ext * (0.75 + 0.25 * day.progress), speed=1.0)


def _hold_range(day: Day) -> tuple[float, float]:
    lo = 18.0 + 17.0 * day.progress
    return lo, lo + 10.0


def _leg_part(b, A, rng, day: Day, first: bool) -> None:
    """The routine's part with the band on `b.leg`: the stretch with that leg behind,
    the bridges (once a day: first part), the clams with that leg on top."""
    A.rest(b, rng.uniform(3.0, 6.0))
    A.walk(b, rng.uniform(10.0, 16.0))  # calibration material on a freshly strapped band
    A.rest(b, rng.uniform(1.5, 3.0))
    if day.kind == "routine":
        A.go(b, "half_kneel_back")
        A.rest(b, rng.uniform(1.5, 3.0))
        A.stretch(b, 2, hold_range=_hold_range(day))
    if first:
        A.go(b, "hook")
        A.rest(b, rng.uniform(3.0, 6.0))
        A.bridge_set(b, int(rng.integers(10, 14)))
        if day.kind == "routine" or rng.random() < 0.5:
            A.rest(b, rng.uniform(8.0, 15.0))
            A.bridge_set(b, int(rng.integers(8, 12)))
        A.rest(b, rng.uniform(3.0, 6.0))
    A.go(b, A.side_down_for(b, True))
    A.rest(b, rng.uniform(2.0, 4.0))
    lo = 10 + round(7 * day.progress)  # 10-13 clams a side at first, 17-20 after a month
    A.clam_set(b, int(rng.integers(lo, lo + 4)))
    A.rest(b, rng.uniform(2.0, 4.0))
    A.go(b, "stand")
    A.rest(b, rng.uniform(2.0, 4.0))


def day_motion(day: Day, seed: int = 1):
    """What the band feels on an active day: (Recording at RATE_HZ, truth), the legs one
    after the other; between them STRAP_S of standing still with the band already on the
    other thigh (the person switches its leg then). truth: the full reps done per
    exercise and side, the holds, and `switch_s`, the recording's time at which the
    other leg's routine starts (None on a one-leg day)."""
    from repband.recording import Recording
    from repband.sim import activities as A
    from repband.sim.body import Body, kinematics
    from repband.sim.sensor import SensorErrors, draw_mount, sample

    person = _person(seed, day)
    err = SensorErrors.draw(np.random.default_rng([seed, 29]))  # the same chip every day
    err = dataclasses.replace(err, drop_rate=0.0, bad_rate=0.0)  # the band's own IMU drops nothing here
    accs, gyros = [], []
    truth = {"bridge": 0, "clam_left": 0, "clam_right": 0, "holds_left": 0, "holds_right": 0,
             "hold_s": [], "switch_s": None}
    n = 0
    for k, leg in enumerate(day.legs):
        rng = np.random.default_rng([seed, day.index, k])
        b = Body(rng, leg, person, "thigh")
        _leg_part(b, A, rng, day, first=k == 0)
        kin = kinematics(b, draw_mount(rng, "nominal"), "thigh")
        _t, acc, gyr, _tmap, _f = sample(kin, rng, RATE_HZ, err, gyro=True)
        if k:  # strapped on the other thigh, standing still: the person switches the band's leg
            hold = int(STRAP_S * RATE_HZ)
            accs.append(np.repeat(acc[:1], hold, axis=0))
            gyros.append(np.zeros((hold, 3)))
            n += hold
            truth["switch_s"] = n / RATE_HZ
        accs.append(acc)
        gyros.append(gyr)
        n += len(acc)
        for r in b.reps:
            if r["kind"] == "full":
                truth["bridge" if r["exercise"] == "bridge" else f"clam_{r['side']}"] += 1
        for h in b.holds:
            truth[f"holds_{h['side']}"] += 1
            truth["hold_s"].append(h["t_end"] - h["t_start"])
    acc = np.concatenate(accs)
    rec = Recording(t=np.arange(len(acc)) / RATE_HZ, acc=acc, gyro=np.concatenate(gyros),
                    meta={"rate_hz": f"{RATE_HZ:g}", "source": "repband demo", "leg": day.first_leg,
                          "placement": "thigh"})
    return rec, truth
