"""Postures, transitions, look-alike activities and the three exercises, on a `Body`.

Every activity starts exactly at the body's current pose and ends at a rest pose, so the
fine-grid trajectory stays continuous (no jumps in position or orientation).
"""
from __future__ import annotations

from collections import deque
from typing import NamedTuple

import numpy as np
from scipy.spatial.transform import Rotation

from .body import (DEG, FS, G, Body, Pose, axis_rot, hip_rot, minjerk, posture_rot, ramp_env,
                   rmul, rx, ry, rz, smooth_noise)

LYING = {"hook", "supine", "side_left", "side_right", "prone"}


# ----------------------------------------------------------------------------- postures


def side_down_for(b: Body, sensor_top: bool) -> str:
    """The side to lie on so that the sensor leg is the top (or bottom) leg."""
    if sensor_top:
        return "side_right" if b.leg == "left" else "side_left"
    return "side_left" if b.leg == "left" else "side_right"


def sensor_is_top(b: Body, posture: str) -> bool:
    return posture == side_down_for(b, True)


def target(b: Body, name: str) -> Pose:
    rng, p, sg, h = b.rng, b.p, b.sigma, b.heading
    hip = b.pose.hip.copy()
    jit = rng.uniform(-1, 1, 3)
    if name == "stand":
        pel = posture_rot("upright", h) * ry(rng.uniform(-1, 3))
        thr = hip_rot(2 + 2 * jit[0], 3 + jit[1], 4 * jit[2], sg)
        z = p.hip_h
    elif name == "sit":
        pel = posture_rot("upright", h) * ry(-8 + 4 * jit[0])
        thr = hip_rot(82 + 6 * jit[1], 8 + 5 * jit[2], 8 + 8 * jit[0], sg)
        z = 0.47
    elif name == "kneel":
        pel = posture_rot("upright", h) * ry(15 + 8 * jit[0])
        thr = hip_rot(12 + 6 * jit[1], 4 + 2 * jit[2], 0, sg)
        z = 0.08 + p.thigh_len * np.cos(15 * DEG)
    elif name in ("half_kneel_back", "half_kneel_front"):
        pel = posture_rot("upright", h) * ry(2 * jit[0])
        if name == "half_kneel_back":
            thr = hip_rot(2 * jit[1], 3 + 2 * jit[2], 0, sg)
        else:
            thr = hip_rot(85 + 5 * jit[1], 6 + 3 * jit[2], 5, sg)
        z = 0.08 + p.thigh_len
    elif name == "floor_sit":
        pel = posture_rot("upright", h) * ry(-15 + 5 * jit[0])
        if rng.random() < 0.5:  # cross-legged
            thr = hip_rot(65 + 8 * jit[1], 25 + 8 * jit[2], 35 + 8 * jit[0], sg)
        else:  # long sitting / knees up
            thr = hip_rot(80 + 10 * jit[1], 6 + 4 * jit[2], 8 * jit[0], sg)
        z = 0.12
    elif name == "hook":  # supine, knees bent, feet on the floor
        pel = posture_rot("supine", h) * rx(2 * jit[0])
        thr = hip_rot(48 + 8 * jit[1], 4 + 3 * jit[2], 2 * jit[0], sg)
        z = 0.10
    elif name == "supine":  # legs straight
        pel = posture_rot("supine", h) * rx(2 * jit[0])
        thr = hip_rot(4 + 3 * jit[1], 6 + 3 * jit[2], 15 + 10 * jit[0], sg)
        z = 0.10
    elif name in ("side_left", "side_right"):
        top = sensor_is_top(b, name)
        pel = posture_rot(name, h) * rz(4 * jit[0])
        thr = hip_rot(45 + 8 * jit[1], (-4 if top else 3) + 2 * jit[2], 3 * jit[0], sg)
        z = 0.10 + (0.18 if top else 0.0)
    elif name == "prone":
        pel = posture_rot("prone", h) * rx(2 * jit[0])
        thr = hip_rot(-3 + 3 * jit[1], 5 + 3 * jit[2], -10 + 8 * jit[0], sg)
        z = 0.10
    elif name == "squat_low":
        pel = posture_rot("upright", h) * ry(30 + 8 * jit[0])
        thr = hip_rot(75 + 10 * jit[1], 15 + 5 * jit[2], 12, sg)
        z = 0.45 + 0.08 * jit[0]
    else:
        raise ValueError(name)
    hip[2] = z
    return Pose(pel, thr, hip)


# undirected edges with base durations (s)
EDGES = {
    ("stand", "sit"): 1.8, ("stand", "kneel"): 2.2, ("stand", "half_kneel_back"): 2.2,
    ("stand", "half_kneel_front"): 2.2, ("kneel", "half_kneel_back"): 1.3,
    ("kneel", "half_kneel_front"): 1.3, ("kneel", "floor_sit"): 1.8, ("kneel", "prone"): 2.6,
    ("floor_sit", "hook"): 2.0, ("floor_sit", "supine"): 2.0, ("hook", "supine"): 1.2,
    ("hook", "side_left"): 1.8, ("hook", "side_right"): 1.8, ("supine", "side_left"): 1.6,
    ("supine", "side_right"): 1.6, ("side_left", "prone"): 1.6, ("side_right", "prone"): 1.6,
    ("side_left", "floor_sit"): 2.2, ("side_right", "floor_sit"): 2.2,
}
_ADJ: dict[str, list[tuple[str, float]]] = {}
for (a, c), d in EDGES.items():
    _ADJ.setdefault(a, []).append((c, d))
    _ADJ.setdefault(c, []).append((a, d))


def _path(a, c):
    prev = {a: None}
    q = deque([a])
    while q:
        u = q.popleft()
        if u == c:
            break
        for v, _ in _ADJ[u]:
            if v not in prev:
                prev[v] = u
                q.append(v)
    out = [c]
    while prev[out[-1]] is not None:
        out.append(prev[out[-1]])
    return out[::-1]


def _hop_kind(a, c):
    if a == "sit" and c == "stand":
        return "sit_to_stand"
    if a in LYING and c in LYING:
        return "roll_over"
    return "transition"


def go(b: Body, dest: str, kind=None):
    """Move through the posture graph to `dest` (min-jerk hops, short pauses between)."""
    path = _path(b.posture, dest)
    for a, c in zip(path[:-1], path[1:]):
        d = dict(_ADJ[a])[c] * b.p.speed * b.rng.uniform(0.8, 1.25)
        t0 = b.t
        tgt = target(b, c)
        if {a, c} in ({"floor_sit", "hook"}, {"floor_sit", "supine"}):
            tgt.hip[:2] += 0.4 * np.array([np.cos(b.heading * DEG), np.sin(b.heading * DEG)])
        b.move_to(tgt, d)
        b.posture = c
        if c != dest:
            b.still(b.rng.uniform(0.2, 0.9), sway=0.4)
        b.mark(kind or _hop_kind(a, c), t0, b.t)


def rest(b: Body, dur, kind=None):
    sway = {"stand": b.p.sway_stand, "sit": 0.5, "floor_sit": 0.5}.get(b.posture, 0.25)
    t0 = b.t
    b.still(dur, sway=sway)
    kind = kind or {"stand": "stand", "sit": "sit", "floor_sit": "floor_sit",
                    "hook": "supine_rest", "supine": "supine_rest", "side_left": "side_rest",
                    "side_right": "side_rest", "prone": "prone_rest", "kneel": "kneel",
                    "half_kneel_back": "half_kneel", "half_kneel_front": "half_kneel",
                    }.get(b.posture, b.posture)
    b.mark(kind, t0, b.t)


# ----------------------------------------------------------------------------- gait


def _impacts(t, times, amp, width=0.02):
    """Zero-mean shock pulses (up, then a longer shallow rebound), sum over `times`."""
    out = np.zeros_like(t)
    for tc, a in zip(times, amp):
        u = t - tc
        m1 = (u >= 0) & (u < width)
        out[m1] += a * np.sin(np.pi * u[m1] / width)
        m2 = (u >= width) & (u < 3 * width)
        out[m2] -= 0.5 * a * np.sin(np.pi * (u[m2] - width) / (2 * width))
    return out


class Gait(NamedTuple):
    """A gait other than walking: stride rate (times the person's walking one), thigh
    flexion mean and swing (deg), hip bob (m), speed (m/s), footfalls of the sensor leg
    and of the other one (g), the other's delay (strides: 0 lands both feet at once),
    extra trunk lean (deg), stairs climbed (+1 up, 0 level)."""
    rate: float
    mean: float
    swing: float
    bob: float
    speed: float
    own: tuple
    other: tuple
    other_delay: float
    lean: float
    climb: int


GAITS = {
    "jog": Gait(1.45, 20.0, 40.0, 0.06, 2.8, (2.5, 4.0), (1.0, 1.5), 0.5, 10.0, 0),
    "hop": Gait(1.0, 8.0, 10.0, 0.08, 0.3, (2.5, 4.5), (0.0, 0.0), 0.0, 0.0, 0),
    "slow_stairs_up": Gait(0.5, 32.0, 30.0, 0.03, 0.3, (0.8, 2.0), (0.3, 0.7), 0.5, 0.0, 1),
}


def walk(b: Body, dur, stairs=0, turns=True, gait=None):
    """Level walking (stairs=0) or stairs up (+1) / down (-1); or a gait of GAITS."""
    rng, p, sg = b.rng, b.p, b.sigma
    assert b.posture == "stand"
    n, t = b.local(dur)
    g = GAITS[gait] if gait else None
    if g:
        stairs = g.climb
        turns = False
    f = p.stride_hz * (g.rate if g else 0.78 if stairs else 1.0) * rng.uniform(0.95, 1.05)
    env = ramp_env(t, dur, 1.0 / f)
    ph = 2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)
    if g:
        mean, amp = g.mean, g.swing
    elif stairs > 0:
        mean, amp = 28.0, 27.0
    elif stairs < 0:
        mean, amp = 14.0, 20.0
    else:
        mean, amp = 5.0, p.walk_amp * rng.uniform(0.92, 1.05)
    flex = env * (mean + amp * np.sin(ph) + 0.12 * amp * np.sin(2 * ph + 0.7))
    abd = env * (2.0 * np.sin(ph + 1.2))
    rot = env * (4.0 * np.sin(ph + 0.4))
    # heading: turns
    dpsi = np.zeros(n)
    if turns and not stairs and dur > 8:
        for _ in range(rng.integers(0, 3)):
            tc = rng.uniform(2.0, dur - 3.0)
            dpsi += rng.choice([-1, 1]) * rng.uniform(60, 180) * minjerk((t - tc) / 1.8)
    # Pelvic rotation and obliquity follow the sensor leg's stride, mirrored for the
    # left leg like the hip angles (-sg: the right leg's phases as before).
    yaw_osc = -sg * env * 4.0 * np.sin(ph + 0.3)
    roll = -sg * env * 3.0 * np.sin(ph + 1.0)
    pitch = env * (3.0 + 1.5 * np.sin(2 * ph) + (g.lean if g else 0.0))
    P = b.pose
    pel = rmul(rz(dpsi), P.pel, rz(yaw_osc), rx(roll), ry(pitch))
    thr = rmul(hip_rot(flex, abd, rot, sg), P.thr)
    v = env * (g.speed if g else 0.45 if stairs else p.walk_speed)
    psi = (b.heading + dpsi) * DEG
    hip = np.empty((n, 3))
    hip[:, 0] = P.hip[0] + np.cumsum(v * np.cos(psi)) / FS
    hip[:, 1] = P.hip[1] + np.cumsum(v * np.sin(psi)) / FS
    bob = g.bob if g else 0.022 if not stairs else 0.03
    hip[:, 2] = P.hip[2] + env * bob * (np.cos((1 if g and g.other_delay == 0.0 else 2) * ph) - 1) * 0.5
    if stairs:  # 0.17 m per step, two steps per stride
        hip[:, 2] += stairs * 0.17 * 2 * np.cumsum(env * f) / FS
    # heel strikes: own leg near max thigh flexion, other leg half a stride later
    k = np.arange(int(np.ceil(f * dur)) + 2)
    ph0 = ph[0] - 2 * np.pi * f * t[0]
    t_own = ((np.pi / 2 + 0.25 - ph0) % (2 * np.pi) + 2 * np.pi * k) / (2 * np.pi * f)
    t_oth = t_own + (g.other_delay if g else 0.5) / f
    times = np.concatenate([t_own, t_oth])
    envi = np.interp(times, t, env)
    if g:
        a_own = rng.uniform(*g.own, len(t_own))
        a_oth = rng.uniform(*g.other, len(t_oth))
    else:
        a_own = rng.uniform(0.8, 2.0, len(t_own)) * (1.3 if stairs < 0 else 1.0)
        a_oth = rng.uniform(0.3, 0.7, len(t_oth))
    amps = np.concatenate([a_own, a_oth]) * envi * G
    acc = np.zeros((n, 3))
    acc[:, 2] = _impacts(t, times, amps)
    t0 = b.t
    b.append(pel, thr, hip, acc=acc)
    b.heading += dpsi[-1]
    b.mark(gait or ("stairs" if stairs else "walk"), t0, b.t)


def step_to_stairs(b: Body, steps, lead=True):
    """Stairs one step at a time, both feet on each step (people in pain climb so): the
    sensor leg leads and pushes the body up, or it follows the other one."""
    rng, sg = b.rng, b.sigma
    assert b.posture == "stand"
    t0 = b.t
    for _ in range(steps):
        P = b.pose
        up = P.hip + [0.0, 0.0, 0.17]
        if lead:
            b.move_to(Pose(P.pel, rmul(hip_rot(rng.uniform(50, 70), 3, 0, sg), P.thr), P.hip),
                      rng.uniform(0.5, 0.9))
            b.still(rng.uniform(0.2, 0.6), sway=0.5)
            b.move_to(Pose(P.pel, P.thr, up), rng.uniform(0.6, 1.0))
        else:
            b.move_to(Pose(P.pel, rmul(hip_rot(-10, 3, 0, sg), P.thr), up), rng.uniform(0.6, 1.0))
            b.move_to(Pose(P.pel, rmul(hip_rot(35, 3, 0, sg), P.thr), up), rng.uniform(0.4, 0.7))
            b.move_to(Pose(P.pel, P.thr, up), rng.uniform(0.4, 0.7))
        b.still(rng.uniform(0.2, 0.8), sway=0.5)
    b.mark("stairs", t0, b.t)


def car(b: Body, out=True):
    """Into a car seat (out=False: from standing, ending seated) or out of it (from the
    seat, ending standing): the pelvis swivels while the legs swing over the sill."""
    rng, sg = b.rng, b.sigma
    if b.posture != "sit":
        go(b, "sit")
    t0 = b.t
    P = b.pose
    sw = rng.uniform(50, 90) * rng.choice([-1, 1])
    b.move_to(Pose(rmul(P.pel, rz(sw * 0.5), ry(-10)),
                   rmul(hip_rot(105, 25, -20 if out else 20, sg), P.thr), P.hip),
              rng.uniform(0.8, 1.5))
    b.move_to(Pose(rmul(P.pel, rz(sw)), rmul(hip_rot(85, 15, -10, sg), P.thr) if out else P.thr,
                   P.hip), rng.uniform(0.8, 1.5))
    b.heading += sw
    b.still(rng.uniform(0.3, 1.5), sway=0.6)
    b.mark("car", t0, b.t)
    if out:
        go(b, "stand")


# ----------------------------------------------------------------------------- look-alikes


def sit_fidget(b: Body, dur):
    """Knee bouncing while sitting (heel bounce, 3-5 Hz), in bursts."""
    rng = b.rng
    assert b.posture == "sit"
    n, t = b.local(dur)
    f = rng.uniform(3.0, 5.0)
    env = ramp_env(t, dur, 0.4)
    bursts = np.clip(smooth_noise(rng, n, 1.2, knot_s=1.5, dims=1)[:, 0] + 0.6, 0, 1)
    a = rng.uniform(0.7, 2.5) * env * bursts * np.sin(2 * np.pi * f * t)
    P = b.pose
    thr = rmul(ry(-a), P.thr)
    t0 = b.t
    b.append(Rotation.from_quat(np.tile(P.pel.as_quat(), (n, 1))), thr,
             np.tile(P.hip, (n, 1)), sway=0.3)
    b.mark("sit_fidget", t0, b.t)


def squats(b: Body, reps):
    t0 = b.t
    for _ in range(reps):
        stand = b.pose
        b.move_to(target(b, "squat_low"), b.rng.uniform(1.0, 1.6))
        b.still(b.rng.uniform(0.0, 0.6), sway=0.5)
        b.move_to(Pose(stand.pel, stand.thr, stand.hip), b.rng.uniform(1.0, 1.5))
        b.still(b.rng.uniform(0.3, 1.2), sway=0.5)
    b.mark("squat", t0, b.t)


def strap_adjust(b: Body):
    """Short sharp jostles of the device on the skin; its mount ends up a few degrees off."""
    rng = b.rng
    dur = rng.uniform(2.0, 6.0)
    n, t = b.local(dur)
    jos = np.zeros((n, 3))
    acc = np.zeros((n, 3))
    for _ in range(rng.integers(2, 7)):
        tc = rng.uniform(0.2, dur - 0.5)
        w = rng.uniform(0.08, 0.3)
        bump = np.sin(np.pi * np.clip((t - tc) / w, 0, 1)) ** 2
        jos += np.multiply.outer(bump, rng.normal(0, 6.0, 3) * DEG)
        acc += np.multiply.outer(_impacts(t, [tc], [1.0], width=0.03), rng.normal(0, 0.5, 3) * G)
    shift = rng.normal(0, 2.0, 3) * DEG
    jos += np.multiply.outer(minjerk((t - dur + 0.6) / 0.4), shift)
    P = b.pose
    t0 = b.t
    b.append(Rotation.from_quat(np.tile(P.pel.as_quat(), (n, 1))),
             Rotation.from_quat(np.tile(P.thr.as_quat(), (n, 1))), np.tile(P.hip, (n, 1)),
             acc=acc, jostle=jos, sway=0.6)
    b.jostle_base = b.jostle_base + shift
    b.mark("strap_adjust", t0, b.t)


def _cycles(b: Body, dur, period, up, hold, down, jitter=0.15):
    """A 0..1 activation signal of repeated smooth cycles filling about `dur` seconds."""
    rng = b.rng
    segs = []
    while sum(len(s) for s in segs) / FS < dur:
        u = up * rng.uniform(1 - jitter, 1 + jitter)
        h = hold * rng.uniform(1 - jitter, 1 + jitter)
        d = down * rng.uniform(1 - jitter, 1 + jitter)
        gap = max(period - up - hold - down, 0.05) * rng.uniform(1 - jitter, 1 + jitter)
        a = rng.uniform(0.8, 1.1)
        tt = np.arange(1, int((u + h + d + gap) * FS) + 1) / FS
        s = np.where(tt < u, b.profile(tt / u),
                     np.where(tt < u + h, 1.0, 1.0 - b.profile((tt - u - h) / d)))
        segs.append(a * s)
    return np.concatenate(segs)


def supine_march(b: Body, dur):
    """Alternate marching in hook lying: thigh towards the chest (opposite of a bridge)."""
    rng, sg = b.rng, b.sigma
    assert b.posture == "hook"
    per = rng.uniform(1.6, 3.0)
    s = _cycles(b, dur, 2 * per, 0.3 * per, rng.uniform(0, 0.3) * per, 0.3 * per)
    n = len(s)
    other = np.roll(s, int(per * FS))
    other[: int(per * FS)] = 0
    lift = rng.uniform(30, 60)
    P = b.pose
    thr = rmul(hip_rot(lift * s, 0, 0, sg), P.thr)
    pel = rmul(P.pel, rx(sg * 2.0 * other - sg * 1.0 * s), ry(-1.5 * (s + other)))
    t0 = b.t
    b.append(pel, thr, np.tile(P.hip, (n, 1)), sway=0.15)
    b.mark("supine_march", t0, b.t)


def _clam_axis(b: Body, flex_deg, knee_deg=95.0):
    """Unit hip-to-ankle vector in the pelvis frame (the clam / knee-roll hinge)."""
    f = flex_deg * DEG
    k = knee_deg * DEG
    L, S = b.p.thigh_len, b.p.shank_len
    knee = L * np.array([np.sin(f), 0, -np.cos(f)])
    ankle = knee + S * np.array([np.sin(f - k), 0, -np.cos(f - k)])
    return ankle / np.linalg.norm(ankle)


def _hip_flex_of(thr: Rotation):
    d = thr.apply([0, 0, -1.0])
    return np.degrees(np.arctan2(d[0], -d[2]))


def supine_sway(b: Body, dur):
    """Knee rolling: both bent knees fall to one side, then the other."""
    rng, sg = b.rng, b.sigma
    assert b.posture == "hook"
    n, t = b.local(dur)
    f = 1.0 / rng.uniform(4.0, 8.0)
    amp = rng.uniform(15, 45)
    env = ramp_env(t, dur, 1.0 / f / 2)
    beta = amp * env * np.sin(2 * np.pi * f * t)
    P = b.pose
    axis = _clam_axis(b, _hip_flex_of(P.thr))
    thr = rmul(axis_rot(axis, beta), P.thr)
    pel = rmul(P.pel, rz(-0.4 * beta))
    t0 = b.t
    b.append(pel, thr, np.tile(P.hip, (n, 1)), sway=0.15)
    b.mark("supine_sway", t0, b.t)


def pelvic_tilt(b: Body, reps):
    rng = b.rng
    assert b.posture == "hook"
    per = rng.uniform(2.5, 4.5)
    s = _cycles(b, reps * per - 0.1, per, 0.3 * per, 0.2 * per, 0.3 * per)
    n = len(s)
    amp = rng.uniform(3.0, 8.0)
    P = b.pose
    pel = rmul(P.pel, ry(-amp * s))
    thr = rmul(ry(0.7 * amp * s), P.thr)  # thigh follows the pelvis only a little
    t0 = b.t
    b.append(pel, thr, np.tile(P.hip, (n, 1)), sway=0.1)
    b.mark("pelvic_tilt", t0, b.t)


def prone_exercise(b: Body, dur):
    """Press-ups / superman / punches in prone: small thigh lifts and pelvis rocking."""
    rng = b.rng
    assert b.posture == "prone"
    per = rng.uniform(3.0, 6.0)
    kind = rng.integers(0, 3)
    s = _cycles(b, dur, per, 0.25 * per, 0.3 * per, 0.25 * per)
    n = len(s)
    P = b.pose
    if kind == 0:  # superman: thigh lifts into extension
        thr = rmul(ry(rng.uniform(5, 15) * s), P.thr)
        pel = rmul(P.pel, ry(rng.uniform(2, 6) * s))
    elif kind == 1:  # press-up / extension in lying: pelvis stays, rocks a bit
        thr = rmul(ry(rng.uniform(0.5, 2) * s), P.thr)
        pel = rmul(P.pel, ry(rng.uniform(2, 5) * s))
    else:  # punches: jostle
        thr = rmul(rx(rng.uniform(1, 3) * np.sin(2 * np.pi * 1.5 * np.arange(n) / FS) * s), P.thr)
        pel = rmul(P.pel, rz(rng.uniform(1, 4) * s))
    t0 = b.t
    b.append(pel, thr, np.tile(P.hip, (n, 1)), sway=0.2)
    b.mark("prone_exercise", t0, b.t)


# ----------------------------------------------------------------------------- exercises


def rep_plan(b: Body, exercise, n_reps, kinds=None, pauses=0, tempo=None):
    """Per-rep timings and amplitude fractions for one set (tempo and fatigue drift).
    tempo: (up, hold, down, gap), the longest seconds of each rep, instead of the person's
    own tempo (tests)."""
    rng, p = b.rng, b.p
    if tempo is not None:
        up, hold, down, gap = tempo
    elif exercise == "bridge":
        if p.bridge_fast:  # one rep every 3-4 s
            up, hold, down, gap = (rng.uniform(0.8, 1.1), rng.uniform(0.2, 0.9),
                                   rng.uniform(1.0, 1.3), rng.uniform(0.6, 1.1))
        else:  # one rep every 6-8 s, top held 0-4 s
            up, hold, down, gap = (rng.uniform(0.9, 1.6), p.bridge_hold, rng.uniform(1.1, 2.0),
                                   rng.uniform(1.0, 2.5))
    else:  # clams: one rep every 3.4-5.1 s
        up, hold, down, gap = (rng.uniform(0.8, 1.4), rng.uniform(0.3, 1.3),
                               rng.uniform(0.9, 1.6), rng.uniform(0.5, 1.4))
    fatigue_amp = rng.uniform(0.0, 0.15)
    fatigue_tempo = rng.uniform(-0.1, 0.2)
    kinds = kinds or ["full"] * n_reps
    pause_at = set(rng.choice(np.arange(2, max(n_reps - 1, 3)), size=pauses, replace=False)
                   if pauses else [])
    plan = []
    for i, kind in enumerate(kinds):
        x = i / max(len(kinds) - 1, 1)
        tf = (1 + fatigue_tempo * x) * rng.normal(1, 0.08)
        amp = float(np.clip((1 - fatigue_amp * x) * rng.normal(1, 0.05), 0.8, 1.15))
        if kind == "partial":
            amp = rng.uniform(0.42, 0.63)
        elif kind == "tiny":
            amp = rng.uniform(0.06, 0.18)
        g = gap * tf * rng.uniform(0.7, 1.3)
        if i in pause_at:
            g += rng.uniform(4.0, 12.0)
        if tempo is not None:  # the given tempo is each rep's longest
            tf = rng.uniform(0.85, 1.0)
            plan.append(dict(kind=kind, amp=amp, gap=gap * tf, up=up * tf, hold=hold * tf,
                             down=down * tf))
            continue
        plan.append(dict(kind=kind, amp=amp, gap=max(g, 0.25),
                         up=max(up * tf * rng.normal(1, 0.1), 0.4),
                         hold=max(hold * tf * rng.normal(1, 0.2), 0.0),
                         down=max(down * tf * rng.normal(1, 0.1), 0.5)))
    return plan


def _activation(b: Body, plan):
    """0..1 activation for a set, with (start, top, end) sample offsets of each rep."""
    rng = b.rng
    parts, events, off = [], [], 0
    for r in plan:
        dur = r["gap"] + r["up"] + r["hold"] + r["down"]
        tt = np.arange(1, int(round(dur * FS)) + 1) / FS
        a0, a1 = r["gap"], r["gap"] + r["up"]
        a2 = a1 + r["hold"]
        squeeze = (0.03 * rng.uniform(-1, 1) * (r["hold"] > 0.8)
                   * np.sin(np.pi * np.clip((tt - a1) / max(r["hold"], 1e-3), 0, 1)) ** 2)
        s = np.where(tt < a0, 0.0,
                     np.where(tt < a1, b.profile((tt - a0) / r["up"]),
                              np.where(tt < a2, 1.0 + squeeze,
                                       1.0 - b.profile((tt - a2) / r["down"]))))
        parts.append(r["amp"] * s)
        events.append((off + int(round(a0 * FS)), off + int(round(a1 * FS)),
                       off + int(round((a2 + r["down"]) * FS)), r["kind"]))
        off += len(tt)
    tail = np.zeros(int(rng.uniform(0.5, 1.5) * FS))
    return np.concatenate(parts + [tail]), events


def _record_set(b: Body, exercise, side, n0, events):
    t0 = None
    count = npart = 0
    for i0, i1, i2, kind in events:
        ts, tt, te = (n0 + i0) / FS, (n0 + i1) / FS, (n0 + i2) / FS
        b.reps.append({"exercise": exercise, "side": side, "t_start": ts, "t_top": tt,
                       "t_end": te, "kind": kind, "_idx": (n0 + i0, n0 + i1)})
        t0 = ts if t0 is None else t0
        count += kind == "full"
        npart += kind == "partial"
    b.sets.append({"exercise": exercise, "side": side, "t_start": t0, "t_end": te,
                   "count": int(count), "n_partial": int(npart)})


def bridge_set(b: Body, n_reps, kinds=None, pauses=0, tempo=None):
    """Glute bridges from hook lying: pelvis lifts and extends, knees stay put."""
    rng, p, sg = b.rng, b.p, b.sigma
    assert b.posture == "hook"
    rom = p.bridge_rom * rng.uniform(0.9, 1.1)
    prom = p.bridge_pelvis * rng.uniform(0.9, 1.1)
    plan = rep_plan(b, "bridge", n_reps, kinds, pauses, tempo)
    s, events = _activation(b, plan)
    P = b.pose
    L = p.thigh_len
    seg0 = P.pel * P.thr
    knee = P.hip + seg0.apply([0, 0, -L])
    pel = rmul(P.pel, ry(-prom * s))
    # thigh world pitch drops by rom*s: hip flexion drops by (rom + pelvis) * s
    thr = rmul(ry(np.asarray((rom + prom) * s)), P.thr)
    knees_out = rng.uniform(0, 5)
    thr = rmul(thr, rx(sg * knees_out * s))
    seg = rmul(pel, thr)
    hip = knee - seg.apply([0, 0, -L])
    n0 = b.n
    b.append(pel, thr, hip, sway=0.12)
    _record_set(b, "bridge", None, n0, events)


def clam_set(b: Body, n_reps, kinds=None, pauses=0, tempo=None):
    """Clams with the sensor leg on top: thigh turns about the hip-to-feet line."""
    rng, p, sg = b.rng, b.p, b.sigma
    assert sensor_is_top(b, b.posture)
    total = p.clam_rom * rng.uniform(0.92, 1.08)
    roll = min(p.clam_roll, 0.3 * total)
    plan = rep_plan(b, "clam", n_reps, kinds, pauses, tempo)
    s, events = _activation(b, plan)
    P = b.pose
    axis = _clam_axis(b, _hip_flex_of(P.thr))
    thr = rmul(axis_rot(axis, -sg * (total - roll) * s), P.thr)
    pel = rmul(P.pel, rz(sg * roll * s))
    n0 = b.n
    b.append(pel, thr, np.tile(P.hip, (len(s), 1)), sway=0.12)
    _record_set(b, "clam", b.leg, n0, events)


def clam_other_leg(b: Body, n_reps):
    """The other leg does clams; the sensor thigh (bottom leg) rocks 0-25 deg with it."""
    rng, p, sg = b.rng, b.p, b.sigma
    assert b.posture == side_down_for(b, False)
    plan = rep_plan(b, "clam", n_reps)
    s, _ = _activation(b, plan)
    P = b.pose
    axis = _clam_axis(b, _hip_flex_of(P.thr))
    roll = rng.uniform(0, 8)
    rock = p.clam_bottom_rock * rng.uniform(0.8, 1.2) * (1 if rng.random() < 0.8 else -1)
    thr = rmul(axis_rot(axis, sg * rock * s), P.thr)
    pel = rmul(P.pel, rz(-sg * roll * s))
    t0 = b.t
    b.append(pel, thr, np.tile(P.hip, (len(s), 1)), sway=0.12)
    b.mark("clam_other_leg", t0, b.t)


def stretch(b: Body, n_holds, hold_range=(20.0, 45.0)):
    """Half-kneeling hip flexor stretch holds (current posture half_kneel_back/front)."""
    rng, p, sg = b.rng, b.p, b.sigma
    back = b.posture == "half_kneel_back"
    assert b.posture in ("half_kneel_back", "half_kneel_front")
    side = b.leg if back else ("right" if b.leg == "left" else "left")
    L = p.thigh_len
    for _ in range(n_holds):
        ext = p.stretch_ext * rng.uniform(0.85, 1.15)
        tilt = rng.uniform(3.0, 10.0)
        d_tuck, d_in, d_out = rng.uniform(0.8, 2.0), rng.uniform(1.5, 4.0), rng.uniform(1.5, 3.5)
        hold = rng.uniform(*hold_range)
        br_f, br_a = rng.uniform(0.2, 0.35), rng.uniform(0.6, 1.3)
        total = d_tuck + d_in + hold + d_out
        n, t = b.local(total)
        s_tuck = minjerk(t / d_tuck) * (1 - minjerk((t - d_tuck - d_in - hold) / d_out))
        s_ext = minjerk((t - d_tuck) / d_in) * (1 - minjerk((t - d_tuck - d_in - hold) / d_out))
        in_hold = minjerk((t - d_tuck - d_in) / 0.8) * (1 - minjerk((t - d_tuck - d_in - hold + 0.8) / 0.8))
        sway = in_hold * (br_a * np.sin(2 * np.pi * br_f * t)
                          + smooth_noise(rng, n, 0.6, knot_s=3.0, dims=1)[:, 0])
        e = ext * s_ext + sway  # back-thigh extension in the world, deg
        P = b.pose
        pel = rmul(P.pel, ry(-tilt * s_tuck))
        # back thigh (world) extension e: relative hip angle = -(e + tilt)
        back_thr = rmul(ry(np.asarray(e + tilt * s_tuck)), P.thr if back else hip_rot(0, 3, 0, sg))
        back_seg = rmul(pel, back_thr)
        seg0 = P.pel * (P.thr if back else hip_rot(0, 3, 0, sg))
        knee = P.hip + seg0.apply([0, 0, -L])
        hip = knee - back_seg.apply([0, 0, -L])
        if back:
            thr = back_thr
        else:  # front thigh: hip drops and moves forward, shin tilts: flexion grows a little
            grow = rng.uniform(3, 10)
            thr = rmul(ry(np.asarray(-(grow * s_ext + tilt * s_tuck + 0.3 * sway))), P.thr)
        t0 = b.t
        b.append(pel, thr, hip, sway=0.1)
        b.holds.append({"exercise": "hip_flexor_stretch", "side": side,
                        "t_start": t0 + d_tuck + d_in, "t_end": t0 + d_tuck + d_in + hold,
                        # the thigh sensor times the back (kneeling) leg's holds;
                        # the pelvis tucks under for either side
                        "scored": bool(back or b.placement == "hip")})
        rest(b, rng.uniform(2.0, 8.0))
