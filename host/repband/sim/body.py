"""Rigid-segment kinematics of the pelvis and the sensor thigh, and the ideal IMU signals.

Frames
------
World: x forward, y left, z up; gravity points along -z.
Pelvis: x anterior, y left, z cranial (identity when standing facing +x).
Thigh (sensor leg): identical to the pelvis frame at hip angles zero; its long axis points
along -z (hip to knee).  Hip angles compose as ``Ry(-flex) Rx(s*abd) Rz(s*rot)``
(intrinsic), with ``s = +1`` for the left leg and ``-1`` for the right leg, so that positive
flexion moves the knee forward, positive abduction moves it outward and positive rotation
is external rotation for either leg.

The model is sampled on a fine uniform grid (``FS`` Hz).  Each sample holds the pelvis
orientation (world <- pelvis), the hip rotation (pelvis <- thigh), the position of the
sensor-side hip joint, an extra world acceleration (impacts) and a small extra rotation of
the device on the skin (strap jostles).  ``kinematics`` turns that into the ideal specific
force (g) and angular rate (deg/s) in the sensor's axes, differentiating positions and
orientations numerically.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.spatial.transform import Rotation

FS = 400.0  # model grid, Hz
G = 9.80665
DEG = np.pi / 180.0


# ----------------------------------------------------------------------------- profiles


def minjerk(u):
    u = np.clip(u, 0.0, 1.0)
    return u * u * u * (10.0 - 15.0 * u + 6.0 * u * u)


def raised_cos(u):
    u = np.clip(u, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * u)


def ramp_env(t, dur, t_ramp):
    """1 in the middle, smooth (min-jerk) ramps of length t_ramp at both ends, 0 at the ends."""
    t_ramp = max(min(t_ramp, dur / 2.0), 1e-3)
    return minjerk(t / t_ramp) * minjerk((dur - t) / t_ramp)


def smooth_noise(rng, n, sd, knot_s=0.6, dims=3, taper_s=0.4):
    """Smooth random signal (n, dims), sd about `sd`, zero (and flat) at both ends."""
    if sd <= 0 or n < 4:
        return np.zeros((n, dims))
    dur = n / FS
    sd = sd * min(1.0, dur / (4.0 * knot_s)) ** 2  # short stretches: keep it gentle
    tk = np.arange(0.0, dur + knot_s, knot_s)  # fixed knot spacing bounds the derivatives
    k = len(tk)
    vk = rng.normal(0.0, sd, size=(k, dims))
    t = np.arange(1, n + 1) / FS
    v = CubicSpline(tk, vk, axis=0)(t)
    env = ramp_env(t, dur, taper_s)
    return v * env[:, None]


# ----------------------------------------------------------------------------- rotations


def rx(a_deg):
    return Rotation.from_rotvec(np.multiply.outer(np.atleast_1d(a_deg) * DEG, [1.0, 0, 0])
                                if np.ndim(a_deg) else np.array([a_deg * DEG, 0, 0]))


def ry(a_deg):
    return Rotation.from_rotvec(np.multiply.outer(np.atleast_1d(a_deg) * DEG, [0, 1.0, 0])
                                if np.ndim(a_deg) else np.array([0, a_deg * DEG, 0]))


def rz(a_deg):
    return Rotation.from_rotvec(np.multiply.outer(np.atleast_1d(a_deg) * DEG, [0, 0, 1.0])
                                if np.ndim(a_deg) else np.array([0, 0, a_deg * DEG]))


def axis_rot(axis, a_deg):
    axis = np.asarray(axis, float)
    axis = axis / np.linalg.norm(axis)
    return Rotation.from_rotvec(np.multiply.outer(np.asarray(a_deg) * DEG, axis))


def hip_rot(flex, abd, rot, sigma):
    """Pelvis <- thigh rotation from hip angles (deg); scalars or arrays."""
    flex, abd, rot = np.broadcast_arrays(np.asarray(flex, float), np.asarray(abd, float),
                                         np.asarray(rot, float))
    ang = np.stack([-flex, sigma * abd, sigma * rot], axis=-1)
    return Rotation.from_euler("YXZ", ang, degrees=True)


_SIDE_LEFT_DOWN = np.array([[0, 0, -1], [1, 0, 0], [0, -1, 0]], float)  # columns x_p y_p z_p
_SIDE_RIGHT_DOWN = np.array([[0, 0, -1], [-1, 0, 0], [0, 1, 0]], float)
_PRONE = np.array([[0, 0, -1], [0, -1, 0], [-1, 0, 0]], float)


def posture_rot(name, heading_deg=0.0):
    """World <- pelvis rotation of a base posture (head towards -x for lying postures)."""
    if name == "upright":
        base = Rotation.identity()
    elif name == "supine":
        base = ry(-90.0)
    elif name == "prone":
        base = Rotation.from_matrix(_PRONE)
    elif name == "side_left":  # lying on the left side
        base = Rotation.from_matrix(_SIDE_LEFT_DOWN)
    elif name == "side_right":
        base = Rotation.from_matrix(_SIDE_RIGHT_DOWN)
    else:
        raise ValueError(name)
    return rz(heading_deg) * base


def qmul(p, q):
    """Hamilton product of scalar-last quaternion arrays (broadcasting)."""
    x1, y1, z1, w1 = np.moveaxis(np.asarray(p, float), -1, 0)
    x2, y2, z2, w2 = np.moveaxis(np.asarray(q, float), -1, 0)
    return np.stack([w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                     w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
                     w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
                     w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2], axis=-1)


def rmul(*rots):
    """r1 * r2 * ... (same as Rotation.__mul__, faster on long arrays)."""
    q = rots[0].as_quat()
    for r in rots[1:]:
        q = qmul(q, r.as_quat())
    return Rotation.from_quat(q)


def slerp_path(r0: Rotation, r1: Rotation, s):
    """r0 -> r1 along the shortest path, at fractions s (array)."""
    d = (r0.inv() * r1).as_rotvec()
    return rmul(r0, Rotation.from_rotvec(np.multiply.outer(np.asarray(s), d)))


# ----------------------------------------------------------------------------- the body


@dataclass
class Pose:
    pel: Rotation  # world <- pelvis
    thr: Rotation  # pelvis <- thigh (sensor leg)
    hip: np.ndarray  # sensor-side hip joint, world, m


@dataclass
class Person:
    """Per-session body and habit parameters."""

    thigh_len: float
    shank_len: float
    hip_h: float
    speed: float  # tempo factor for transitions (>1 slower)
    stride_hz: float
    walk_amp: float
    walk_speed: float
    sway_stand: float
    bridge_rom: float
    bridge_pelvis: float
    bridge_fast: bool
    bridge_hold: float
    clam_rom: float
    clam_roll: float
    clam_bottom_rock: float
    profile: str
    stretch_ext: float

    @classmethod
    def draw(cls, rng):
        rom = float(np.clip(23.0 * np.exp(rng.normal(0, 0.3)), 8.0, 43.0))
        rock = rng.uniform(0.0, 2.0) if rng.random() < 0.6 else rng.uniform(5.0, 25.0)
        return cls(
            thigh_len=rng.uniform(0.38, 0.46), shank_len=rng.uniform(0.38, 0.46),
            hip_h=rng.uniform(0.82, 0.98), speed=rng.uniform(0.8, 1.3),
            stride_hz=rng.uniform(0.85, 1.05), walk_amp=rng.uniform(19.0, 25.0),
            walk_speed=rng.uniform(1.0, 1.45), sway_stand=rng.uniform(0.4, 1.0),
            bridge_rom=rom, bridge_pelvis=float(np.clip(rng.normal(27, 4) * (rom / 23) ** 0.4,
                                                        12, 38)),
            bridge_fast=bool(rng.random() < 0.2), bridge_hold=rng.uniform(0.0, 4.0),
            clam_rom=float(np.clip(rng.normal(58.0, 9.0), 35.0, 75.0)),
            clam_roll=rng.uniform(0.0, 12.0), clam_bottom_rock=rock,
            profile="minjerk" if rng.random() < 0.6 else "cos",
            stretch_ext=rng.uniform(10.0, 25.0))


class Body:
    """Accumulates the fine-grid trajectory and the truth of one session."""

    def __init__(self, rng, leg, person: Person, placement="thigh"):
        self.rng = rng
        self.leg = leg
        self.sigma = 1.0 if leg == "left" else -1.0
        self.p = person
        self.placement = placement
        self.heading = float(rng.uniform(-180, 180))
        self.posture = "stand"
        self.pose = Pose(rz(self.heading), hip_rot(2.0, 3.0, 0.0, self.sigma),
                         np.array([0.0, 0.0, person.hip_h]))
        self._pel = [self.pose.pel.as_quat()[None]]
        self._thr = [self.pose.thr.as_quat()[None]]
        self._hip = [self.pose.hip[None]]
        self._acc = [np.zeros((1, 3))]
        self._jos = [np.zeros((1, 3))]
        self.jostle_base = np.zeros(3)
        self.n = 1
        self.reps: list[dict] = []
        self.sets: list[dict] = []
        self.holds: list[dict] = []
        self.distractors: list[dict] = []

    # ---- time
    @property
    def t(self):
        return (self.n - 1) / FS

    def local(self, dur):
        n = max(int(round(dur * FS)), 1)
        return n, np.arange(1, n + 1) / FS

    def profile(self, u):
        return minjerk(u) if self.p.profile == "minjerk" else raised_cos(u)

    # ---- appending
    def append(self, pel: Rotation, thr: Rotation, hip, acc=None, jostle=None, sway=0.0,
               sway_thigh=None):
        n = len(hip)
        if sway > 0:
            sp = smooth_noise(self.rng, n, sway * DEG)
            st = smooth_noise(self.rng, n, (sway if sway_thigh is None else sway_thigh) * DEG)
            pel = rmul(pel, Rotation.from_rotvec(sp))
            thr = rmul(Rotation.from_rotvec(st), thr)
        self._pel.append(pel.as_quat())
        self._thr.append(thr.as_quat())
        self._hip.append(np.asarray(hip, float))
        self._acc.append(np.zeros((n, 3)) if acc is None else acc)
        jb = np.broadcast_to(self.jostle_base, (n, 3))
        self._jos.append(jb.copy() if jostle is None else jb + jostle)
        self.n += n
        self.pose = Pose(Rotation.from_quat(self._pel[-1][-1]),
                         Rotation.from_quat(self._thr[-1][-1]), self._hip[-1][-1].copy())

    def still(self, dur, sway=0.0, sway_thigh=None):
        n, _ = self.local(dur)
        P = self.pose
        self.append(Rotation.from_quat(np.tile(P.pel.as_quat(), (n, 1))),
                    Rotation.from_quat(np.tile(P.thr.as_quat(), (n, 1))),
                    np.tile(P.hip, (n, 1)), sway=sway, sway_thigh=sway_thigh)

    def move_to(self, target: Pose, dur, arc=0.0):
        n, t = self.local(dur)
        s = minjerk(t / dur)
        P = self.pose
        hip = P.hip + np.multiply.outer(s, target.hip - P.hip)
        if arc:
            hip[:, 2] += arc * np.sin(np.pi * s)
        self.append(slerp_path(P.pel, target.pel, s), slerp_path(P.thr, target.thr, s), hip,
                    sway=0.3)

    # ---- truth
    def mark(self, kind, t0, t1):
        if t1 - t0 > 0.05:
            d = self.distractors
            if d and d[-1]["kind"] == kind and abs(d[-1]["t_end"] - t0) < 1e-6:
                d[-1]["t_end"] = t1
            else:
                d.append({"kind": kind, "t_start": t0, "t_end": t1})

    def arrays(self):
        return (np.concatenate(self._pel), np.concatenate(self._thr), np.concatenate(self._hip),
                np.concatenate(self._acc), np.concatenate(self._jos))


# ----------------------------------------------------------------------------- sensor frame


def nominal_sensor_rot(sigma):
    """Segment <- sensor (nominal mount): x down the segment, z lateral, y = z x x."""
    x = np.array([0.0, 0.0, -1.0])
    z = np.array([0.0, sigma, 0.0])
    y = np.cross(z, x)
    return Rotation.from_matrix(np.column_stack([x, y, z]))


@dataclass
class Kinematics:
    t: np.ndarray  # model time, s
    rot: Rotation  # world <- sensor
    f: np.ndarray  # specific force, g, sensor axes
    w: np.ndarray  # angular rate, deg/s, sensor axes
    extra: dict = field(default_factory=dict)

    def gravity_dir(self, idx):
        """Unit 'up' vector in sensor axes (what a still sensor reads, normalised)."""
        return self.rot[idx].inv().apply([0.0, 0.0, 1.0])


def kinematics(body: Body, mount: Rotation, placement="thigh") -> Kinematics:
    P, T, H, A, J = body.arrays()
    pel = Rotation.from_quat(P)
    sig = body.sigma
    if placement == "hip":
        seg = pel
        offset = np.array([0.0, sig * 0.08, -0.04])  # greater trochanter, lateral
    else:
        seg = rmul(pel, Rotation.from_quat(T))
        offset = np.array([0.0, sig * 0.085, -0.5 * body.p.thigh_len])  # mid-thigh, lateral
    rot = rmul(seg, nominal_sensor_rot(sig), mount, Rotation.from_rotvec(J))
    pos = H + seg.apply(offset)
    dt = 1.0 / FS
    vel = np.gradient(pos, dt, axis=0)
    acc = np.gradient(vel, dt, axis=0) + A
    fw = (acc + np.array([0.0, 0.0, G])) / G
    f = rot.inv().apply(fw)
    n = len(P)
    w = np.zeros((n, 3))
    if n > 2:
        q = rot.as_quat()
        qi = q[:-2] * np.array([-1.0, -1.0, -1.0, 1.0])
        w[1:-1] = Rotation.from_quat(qmul(qi, q[2:])).as_rotvec() / (2 * dt)
        w[0], w[-1] = w[1], w[-2]
    t = np.arange(n) / FS
    return Kinematics(t, rot, f, w / DEG, {"pos": pos})
