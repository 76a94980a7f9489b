"""Daily living as public phone datasets cut it: clips of one activity each (10 s of
stairs, 6 s of getting out of a car), so the band starts every clip mid-life, never
having seen its wearer stand or walk; and the ways a phone sits in a trouser pocket.

    from repband.sim.clips import CLIPS, POCKET_WAYS, simulate_clip
    rec, truth = simulate_clip("stairs up", seed=1, mount="pocket", way=3)

`repband simulate --clips all` writes them with their truth (no reps: every rep counted
on them is a false one), for `repband evaluate`.
"""
from __future__ import annotations

import numpy as np

from repband.recording import Recording
from repband.variations import turned

from . import activities as A
from .scenarios import simulate


def _seated(b):
    A.car(b, out=False)
    A.rest(b, 2.0)


def _lying(b):
    A.go(b, "supine")
    A.rest(b, 2.0)


# Each clip: what happens before it starts (not in the clip), then the clip.
CLIPS = {
    "walking": (None, lambda b: A.walk(b, 25.0)),
    "jogging": (None, lambda b: A.walk(b, 25.0, gait="jog")),
    "stairs up": (None, lambda b: A.walk(b, 10.0, stairs=1, turns=False)),
    "stairs down": (None, lambda b: A.walk(b, 10.0, stairs=-1, turns=False)),
    "slow stairs up": (None, lambda b: A.walk(b, 12.0, gait="slow_stairs_up")),
    "hopping": (None, lambda b: A.walk(b, 12.0, gait="hop")),
    "into a car": (None, lambda b: A.car(b, out=False)),
    "out of a car": (_seated, lambda b: A.car(b, out=True)),
    "sitting down": (None, lambda b: (A.go(b, "sit"), A.rest(b, 2.0), A.go(b, "stand"))),
    "lying down": (None, lambda b: (A.go(b, "supine"), A.rest(b, 3.0), A.go(b, "side_left"),
                                    A.rest(b, 2.0), A.go(b, "supine"))),
    "getting up": (_lying, lambda b: A.go(b, "stand")),
    "one step at a time": (None, lambda b: A.step_to_stairs(b, 6)),
}


def flat_on_thigh(up, facing, slant=0):
    """A phone lying flat on the thigh in a pocket: its long side (y) along the thigh
    (up: +1 or -1), its screen facing `facing` degrees round the thigh from the front
    toward the outside, and turned `slant` degrees in the pocket's plane. Rows: the
    phone's axes in the band's nominal frame."""
    f, a = np.radians(facing), np.radians(slant)
    along = np.array([up, 0.0, 0.0])
    out = np.round([0.0, np.cos(f), np.sin(f)], 12)
    across = np.cross(along, out)
    return np.round(np.array([np.cos(a) * across + np.sin(a) * along,
                              np.cos(a) * along - np.sin(a) * across, out]), 12)


# A phone in a trouser pocket: its long side along the thigh, up or down, its screen
# facing any of four ways round it (and turned `slant` in the pocket, simulate_clip).
POCKET_SIDES = [(up, facing) for up in (1, -1) for facing in (0, 90, 180, 270)]
POCKET_WAYS = [flat_on_thigh(up, facing) for up, facing in POCKET_SIDES]


def simulate_clip(name, seed=1, placement="thigh", gyro=True, mount="nominal", way=0,
                  walk_first=False, slant=0):
    """One clip (a name of CLIPS) as the band records it: (Recording, truth). The leg
    and the sample rate are drawn from the seed. mount: nominal, loose or arbitrary (a
    strap), or pocket (the nominal mount turned the `way`-th of POCKET_WAYS, and `slant`
    degrees in the pocket's plane: the long side no longer along the thigh). With
    walk_first the clip follows a 20 s walk, kept in the recording (a band that has
    calibrated, as in a recording of a whole day)."""
    if name not in CLIPS:
        raise ValueError(f"unknown clip {name!r}; known: {', '.join(CLIPS)}")
    before, activity = CLIPS[name]
    start = {}

    def scenario(b, mount):
        A.rest(b, b.rng.uniform(0.5, 2.0))
        if walk_first:
            A.walk(b, 20.0)
            A.rest(b, 2.0)
        if before:
            before(b)
        start["t"] = b.t
        activity(b)
        A.rest(b, b.rng.uniform(0.5, 2.0))

    rec, truth = simulate(scenario, seed=seed, placement=placement, gyro=gyro,
                          mount="nominal" if mount == "pocket" else mount,
                          leg="right" if seed % 2 else "left", rate_hz=None)
    i = 0 if walk_first else int(np.searchsorted(rec.t, rec.t[0] + start["t"]))
    rec = Recording(t=rec.t[i:], acc=rec.acc[i:], gyro=None if rec.gyro is None else rec.gyro[i:],
                    meta={**rec.meta, "scenario": "clip " + name})
    if mount == "pocket":
        rec = turned(rec, flat_on_thigh(*POCKET_SIDES[way], slant))
    elif slant:
        raise ValueError("slant is for a phone in a pocket (mount pocket)")
    tier = f"pocket {way}" + (f" slant {slant:g}" if slant else "")
    truth.update({"kind": "clip " + name, "mount_tier": mount if mount != "pocket" else tier,
                  "duration_s": round(float(rec.t[-1] - rec.t[0]), 3), "distractors": []})
    assert not truth["reps"] and not truth["holds"]
    return rec, truth


__all__ = ["CLIPS", "POCKET_WAYS", "flat_on_thigh", "simulate_clip"]
