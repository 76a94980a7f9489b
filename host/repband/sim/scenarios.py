"""Session scripts (scenarios), `simulate`, and writing recordings with their truth."""
from __future__ import annotations

import json
import os
import zlib

import numpy as np

from repband.recording import Recording, write_csv

from . import activities as A
from .body import Body, Person, kinematics
from .sensor import RATES, SensorErrors, draw_mount, sample


def _kinds(rng, n, n_partial=0, n_tiny=0):
    kinds = ["full"] * n
    slots = rng.choice(np.arange(1, n), size=min(n_partial + n_tiny, n - 1), replace=False)
    for i, s in enumerate(slots):
        kinds[s] = "partial" if i < n_partial else "tiny"
    return kinds


def _intro(b: Body, mount: str, walk_always=False):
    rng = b.rng
    if mount == "arbitrary":  # calibration material: >= 5 s still, then >= 10 s walking
        A.rest(b, rng.uniform(5.5, 9.0))
        A.walk(b, rng.uniform(11.0, 25.0))
    else:
        A.rest(b, rng.uniform(3.0, 9.0))
        if walk_always or rng.random() < 0.8:
            A.walk(b, rng.uniform(8.0, 22.0))
    A.rest(b, rng.uniform(1.0, 4.0))


def _outro(b: Body):
    rng = b.rng
    A.go(b, "stand")
    A.rest(b, rng.uniform(1.0, 4.0))
    if rng.random() < 0.6:
        A.walk(b, rng.uniform(5.0, 15.0))
        A.rest(b, rng.uniform(2.0, 4.0))


def _stretch_both(b: Body, holds_per_side):
    rng = b.rng
    first = "half_kneel_back" if rng.random() < 0.5 else "half_kneel_front"
    second = "half_kneel_front" if first == "half_kneel_back" else "half_kneel_back"
    for pos in (first, second):
        A.go(b, pos)
        A.rest(b, rng.uniform(1.5, 4.0))
        A.stretch(b, holds_per_side())


def _clams_both(b: Body, reps, sets_top=1, sets_bottom=1, kinds=None, pauses=0):
    rng = b.rng
    order = [True, False] if rng.random() < 0.5 else [False, True]
    for top in order:
        A.go(b, A.side_down_for(b, top))
        A.rest(b, rng.uniform(2.0, 6.0))
        for k in range(sets_top if top else sets_bottom):
            if top:
                A.clam_set(b, reps(), kinds=kinds() if kinds else None, pauses=pauses)
            else:
                A.clam_other_leg(b, reps())
            A.rest(b, rng.uniform(3.0, 15.0))


def sc_routine(b: Body, mount):
    rng = b.rng
    _intro(b, mount, walk_always=True)
    _stretch_both(b, lambda: int(rng.integers(1, 3)))
    A.go(b, "hook")
    A.rest(b, rng.uniform(3.0, 8.0))
    A.bridge_set(b, int(rng.integers(10, 16)))
    if rng.random() < 0.5:
        A.rest(b, rng.uniform(8.0, 25.0))
        A.bridge_set(b, int(rng.integers(8, 14)))
    A.rest(b, rng.uniform(3.0, 8.0))
    _clams_both(b, lambda: int(rng.integers(10, 16)))
    _outro(b)


def sc_bridges(b: Body, mount):
    rng = b.rng
    _intro(b, mount)
    A.go(b, "hook")
    A.rest(b, rng.uniform(3.0, 10.0))
    for i in range(int(rng.integers(2, 4))):
        n = int(rng.integers(10, 18))
        A.bridge_set(b, n, kinds=_kinds(rng, n, 1) if rng.random() < 0.2 else None)
        A.rest(b, rng.uniform(8.0, 30.0))
        if rng.random() < 0.3:
            A.pelvic_tilt(b, int(rng.integers(4, 9)))
            A.rest(b, rng.uniform(3.0, 8.0))
    _outro(b)


def sc_clams(b: Body, mount):
    rng = b.rng
    _intro(b, mount)
    _clams_both(b, lambda: int(rng.integers(10, 18)), sets_top=2,
                sets_bottom=int(rng.integers(1, 3)))
    _outro(b)


def sc_stretch(b: Body, mount):
    rng = b.rng
    _intro(b, mount, walk_always=True)
    _stretch_both(b, lambda: int(rng.integers(2, 5)))
    _outro(b)


def sc_hard(b: Body, mount):
    rng = b.rng
    _intro(b, mount)
    if rng.random() < 0.6:
        A.squats(b, int(rng.integers(1, 4)))
        A.rest(b, rng.uniform(1.0, 3.0))
    A.go(b, "floor_sit")
    A.rest(b, rng.uniform(2.0, 6.0))
    A.go(b, "hook")
    A.rest(b, rng.uniform(2.0, 5.0))
    A.supine_march(b, rng.uniform(8.0, 16.0))
    A.rest(b, rng.uniform(1.5, 4.0))
    n = int(rng.integers(12, 17))
    A.bridge_set(b, n, kinds=_kinds(rng, n, int(rng.integers(1, 3)), int(rng.integers(1, 4))),
                 pauses=int(rng.integers(1, 3)))
    A.rest(b, rng.uniform(3.0, 8.0))
    A.supine_sway(b, rng.uniform(15.0, 30.0))
    A.rest(b, rng.uniform(2.0, 5.0))
    if rng.random() < 0.5:
        A.pelvic_tilt(b, int(rng.integers(5, 10)))
        A.rest(b, rng.uniform(2.0, 5.0))
    A.strap_adjust(b)
    A.rest(b, rng.uniform(1.0, 3.0))
    if rng.random() < 0.5:
        A.supine_march(b, rng.uniform(6.0, 12.0))
        A.rest(b, rng.uniform(1.0, 3.0))
    n2 = int(rng.integers(12, 17))
    _clams_both(b, lambda: n2, kinds=lambda: _kinds(rng, n2, int(rng.integers(1, 3)),
                                                   int(rng.integers(1, 3))),
                pauses=int(rng.integers(0, 2)))
    if rng.random() < 0.6:
        A.go(b, "prone")
        A.rest(b, rng.uniform(2.0, 5.0))
        A.prone_exercise(b, rng.uniform(10.0, 20.0))
        A.rest(b, rng.uniform(2.0, 4.0))
    A.go(b, "stand")
    A.rest(b, rng.uniform(1.0, 3.0))
    A.go(b, "sit")
    A.rest(b, rng.uniform(1.0, 3.0))
    A.sit_fidget(b, rng.uniform(6.0, 14.0))
    A.rest(b, rng.uniform(1.0, 3.0))
    A.go(b, "stand")
    A.rest(b, rng.uniform(2.0, 4.0))


def sc_daily(b: Body, mount):
    """Ordinary living, no exercise: a random walk over postures and activities."""
    rng = b.rng
    _intro(b, mount)
    goal = rng.uniform(300.0, 600.0)
    floor = 0  # stairs balance
    while b.t < goal:
        pos = b.posture
        u = rng.random()
        if pos == "stand":
            if u < 0.3:
                A.walk(b, rng.uniform(8.0, 40.0))
            elif u < 0.42:
                d = 1 if floor <= 0 else -1
                floor += d
                A.walk(b, rng.uniform(3.0, 6.0))
                A.walk(b, rng.uniform(5.0, 10.0), stairs=d, turns=False)
                A.walk(b, rng.uniform(3.0, 6.0))
            elif u < 0.55:
                A.go(b, "sit")
            elif u < 0.62:
                A.squats(b, int(rng.integers(1, 3)))
            elif u < 0.7:
                A.strap_adjust(b)
            elif u < 0.8:
                A.go(b, "floor_sit" if rng.random() < 0.5 else "kneel")
            A.rest(b, rng.uniform(2.0, 15.0))
        elif pos == "sit":
            if u < 0.35:
                A.sit_fidget(b, rng.uniform(5.0, 20.0))
            elif u < 0.45:
                A.strap_adjust(b)
            elif u < 0.75:
                A.go(b, "stand")
            A.rest(b, rng.uniform(3.0, 30.0))
        elif pos in ("floor_sit", "kneel"):
            if u < 0.4:
                A.go(b, "hook" if rng.random() < 0.5 else "supine")
            else:
                A.go(b, "stand")
            A.rest(b, rng.uniform(2.0, 10.0))
        elif pos in ("hook", "supine", "side_left", "side_right", "prone"):
            if u < 0.35:
                A.go(b, str(rng.choice(["hook", "supine", "side_left", "side_right", "prone"])))
            elif u < 0.45 and pos == "hook":
                A.supine_sway(b, rng.uniform(8.0, 20.0))
            elif u < 0.55 and pos == "hook":
                A.pelvic_tilt(b, int(rng.integers(3, 7)))
            elif u < 0.6 and pos == "prone":
                A.prone_exercise(b, rng.uniform(6.0, 12.0))
            elif u < 0.8:
                A.go(b, "floor_sit")
            A.rest(b, rng.uniform(3.0, 20.0))
        else:
            A.go(b, "stand")
    if floor > 0:
        A.go(b, "stand")
        A.walk(b, rng.uniform(3.0, 6.0))
        A.walk(b, rng.uniform(5.0, 10.0), stairs=-1, turns=False)
    A.go(b, "stand")
    A.rest(b, rng.uniform(2.0, 5.0))


SCENARIOS = {
    "routine": sc_routine,
    "bridges": sc_bridges,
    "clams": sc_clams,
    "stretch": sc_stretch,
    "hard": sc_hard,
    "daily": sc_daily,
}


# ----------------------------------------------------------------------------- simulate


def _rngs(scenario, seed, leg, placement, mount):
    key = zlib.crc32(f"{scenario}|{leg}|{placement}|{mount}".encode())
    return [np.random.default_rng([int(seed) & 0xFFFFFFFF, key, k]) for k in (1, 2, 3)]


def _angle(u, v):
    return float(np.degrees(np.arccos(np.clip(np.dot(u, v), -1.0, 1.0))))


def simulate(scenario="routine", seed=1, leg="right", placement="thigh", mount="nominal",
             rate_hz=104.0, gyro=True, errors=True, return_kinematics=False):
    """Simulate one session. Returns (Recording, truth) [, Kinematics].

    scenario: a name of SCENARIOS, or a function (body, mount) playing one (tests).

    rate_hz None draws one of 52/100/104/208 Hz from the seed. errors=False gives the ideal
    sensor (no wobble, noise, bias, scale, clock error, jitter, drops or bad reads); the body
    motion and the mount are the same as with errors=True."""
    play = scenario if callable(scenario) else SCENARIOS.get(scenario)
    if play is None:
        raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    scenario = getattr(play, "__name__", "custom") if callable(scenario) else scenario
    if leg not in ("left", "right") or placement not in ("thigh", "hip"):
        raise ValueError("leg must be left|right and placement thigh|hip")
    r_body, r_sens, r_mount = _rngs(scenario, seed, leg, placement, mount)
    if rate_hz is None:
        rate_hz = float(RATES[int(r_sens.integers(len(RATES)))])
    rate_hz = float(rate_hz)
    person = Person.draw(r_body)
    b = Body(r_body, leg, person, placement)
    play(b, mount)
    mnt = draw_mount(r_mount, mount)
    kin = kinematics(b, mnt, placement)
    err = SensorErrors.draw(r_sens, placement) if errors else SensorErrors.ideal()
    t, acc, gyr, tmap, faults = sample(kin, r_sens, rate_hz, err, gyro=gyro)

    def tm(x):
        return round(float(tmap(x)), 3)

    reps = []
    for r in b.reps:
        i0, i1 = r.pop("_idx")
        rom = _angle(kin.gravity_dir(i0), kin.gravity_dir(i1))
        reps.append({**r, "t_start": tm(r["t_start"]), "t_top": tm(r["t_top"]),
                     "t_end": tm(r["t_end"]), "rom_deg": round(rom, 2)})
    conv = lambda lst: [{**d, "t_start": tm(d["t_start"]), "t_end": tm(d["t_end"])} for d in lst]
    truth = {
        "seed": int(seed), "kind": scenario, "leg": leg, "placement": placement,
        "mount_tier": mount, "fs": rate_hz, "duration_s": round(float(t[-1] - t[0]), 3),
        "reps": reps, "sets": conv(b.sets), "holds": conv(b.holds),
        "distractors": conv(b.distractors),
        "gyro": bool(gyro), "source": "repband.sim",
        "mount_rotvec_deg": [round(float(x), 2) for x in np.degrees(mnt.as_rotvec())],
        "sensor_faults": faults,
    }
    meta = {"placement": placement, "leg": leg,
            "rate_hz": f"{rate_hz:g}", "source": "repband.sim", "scenario": scenario,
            "seed": str(seed), "mount": mount}
    rec = Recording(t=t, acc=acc, gyro=gyr, meta=meta)
    if return_kinematics:
        return rec, truth, kin
    return rec, truth


def write_recording(dirpath, name, rec, truth):
    """Write NAME.csv and NAME.json into dirpath; returns the csv path."""
    os.makedirs(dirpath, exist_ok=True)
    csv = os.path.join(dirpath, name + ".csv")
    write_csv(csv, rec)
    with open(os.path.join(dirpath, name + ".json"), "w", encoding="utf-8") as f:
        json.dump(truth, f, indent=1)
        f.write("\n")
    return csv


def _as_list(x, kind=str):
    if x is None:
        return []
    if isinstance(x, (list, tuple)):
        return [kind(v) for v in x]
    if isinstance(x, str):
        return [kind(v) for v in x.replace(",", " ").split()]
    return [kind(x)]


def seeds_from(spec) -> list[int]:
    """Seeds from an int, a list, 'N', 'N,M' or 'FIRST-LAST'."""
    if isinstance(spec, str) and "-" in spec.strip("-"):
        first, last = spec.split("-")
        return list(range(int(first), int(last) + 1))
    return _as_list(spec, int)


def cmd_simulate(out=".", scenario="routine", seed=1, leg="right", placement="thigh",
                 mount="nominal", rate=104.0, gyro=True, quiet=False, *, out_dir=None,
                 scenarios=None, seeds=None, rate_hz=None, clips=None, after_walk=False, slant=0):
    """Write recordings for every (scenario, seed). scenario: a name, 'a,b', or 'all';
    seed: an int, a list, or 'first-last'. Prints one line per file unless quiet.
    clips: write daily-living clips instead (repband.sim.clips; names with - for spaces,
    'a,b' or 'all'); mount pocket writes each in the pocket's eight ways, each turned
    `slant` degrees in the pocket's plane."""
    out = out_dir or out
    seed_list = seeds_from(seeds if seeds is not None else seed)
    if slant and (clips is None or mount != "pocket"):
        raise ValueError("slant is for --clips with mount pocket (a phone in a trouser pocket)")
    if clips is not None:
        return _write_clips(out, clips, seed_list, placement, mount, gyro, after_walk, slant, quiet)
    if mount == "pocket":
        raise ValueError("mount pocket is for --clips (a phone in a trouser pocket)")
    scen = _as_list(scenarios if scenarios is not None else scenario)
    if scen == ["all"]:
        scen = list(SCENARIOS)
    rate = rate_hz if rate_hz is not None else rate
    for sc in scen:
        if sc not in SCENARIOS:
            raise ValueError(f"unknown scenario {sc!r}; known: {', '.join(SCENARIOS)}")
    written = []
    for sc in scen:
        for sd in seed_list:
            rec, truth = simulate(sc, sd, leg=leg, placement=placement, mount=mount,
                                  rate_hz=rate, gyro=gyro)
            name = f"{sc}_{mount}_{leg}_{sd}" + _sensor_suffix(placement, gyro)
            path = write_recording(out, name, rec, truth)
            written.append(path)
            if not quiet:
                n_full = sum(r["kind"] == "full" for r in truth["reps"])
                print(f"{path}: {truth['duration_s'] / 60:.1f} min at {truth['fs']:g} Hz, "
                      f"{n_full} full reps in {len(truth['sets'])} sets, "
                      f"{len(truth['holds'])} holds, {len(truth['distractors'])} other activities")
    return 0


def _sensor_suffix(placement, gyro):
    """What a file's name adds for a hip band and an accelerometer-only one."""
    return ("_hip" if placement == "hip" else "") + ("" if gyro else "_acc")


def _write_clips(out, clips, seed_list, placement, mount, gyro, after_walk, slant, quiet):
    from .clips import CLIPS, POCKET_WAYS, simulate_clip

    names = _as_list(clips)
    names = list(CLIPS) if names == ["all"] else [n.replace("-", " ") for n in names]
    for n in names:
        if n not in CLIPS:
            raise ValueError(f"unknown clip {n!r}; known: {', '.join(c.replace(' ', '-') for c in CLIPS)}")
    ways = range(len(POCKET_WAYS)) if mount == "pocket" else [0]
    for n in names:
        for sd in seed_list:
            for way in ways:
                rec, truth = simulate_clip(n, sd, placement, gyro, mount, way, walk_first=after_walk,
                                           slant=slant)
                name = (f"clip_{n.replace(' ', '-')}_{mount}" + (f"{way}" if mount == "pocket" else "")
                        + (f"-slant{slant:g}" if slant else "")
                        + f"_{sd}" + _sensor_suffix(placement, gyro) + ("_after-walk" if after_walk else ""))
                path = write_recording(out, name, rec, truth)
                if not quiet:
                    print(f"{path}: {truth['duration_s']:.0f} s at {truth['fs']:g} Hz, {truth['leg']} leg")
    return 0
