"""Recordings changed the way real use changes them, for `repband evaluate --vary`: the
strap turned about the thigh or put on askew, a slower or faster pace (or one that
wanders), slow movements between still moments as recorded, smaller or larger
movements, a noisier sensor, the person moving on the moment the recording ends. A
detector that counts real people counts these the same; one fitted to its recordings
does not.

The band's axes: x along the thigh, so a turn about x is the strap worn turned round
the leg, and "upside down" also reverses x; a turn about z (out of the thigh) takes x
off the thigh, as a sensor stuck on at any angle sits.

A change of pace changes a recording's clock: `varied` returns the clock with the
recording, so a simulated recording's truth follows it. Given the spans a person
exercises in (a simulated recording's sets and holds), only they change pace: a slow
patient walks, sits and lies down as anyone does."""
from __future__ import annotations

import zlib

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.spatial.transform import Rotation

from repband.recording import Recording

# Rotations in the band's axes (new = M @ old).
TURNS = {
    "turn-half": np.diag([1.0, -1.0, -1.0]),
    "turn-half-upside-down": np.diag([-1.0, 1.0, -1.0]),
    "turn-quarter": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]),
    "turn-quarter-back": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]),
}
# The strap askew (real wearers are off by tens of degrees, any way): turned this many
# degrees about an axis drawn at random for each recording (seeded as the noise is).
ASKEW = {"askew-15": 15.0, "askew-20": 20.0, "askew-30": 30.0}
# A sensor on the thigh's outer side, spun about its own z (the axis out of the thigh)
# to an angle drawn for each recording: x no longer along the thigh. MEx's sensors sit
# so, each person's at its own angle (the turn of a bridge is within 40 deg of their z in
# 12 of 15 subjects, its rest direction anywhere round it): the angles other people's
# sensors sit at.
SPUN = "spun"
# Time stretched by this factor: the same movements, slower (> 1) or faster.
# "slowest": MEx reps rise in about 1 s; three times slower they rise in 3 s and hold
# the top up to 6 s, as the slowest patients do (their rests grow too).
PACES = {"slower": 1.3, "much-slower": 1.6, "slowest": 3.0, "faster": 0.8}
# "uneven-pace": nobody keeps one pace. Every WANDER_S a new pace, log-normal about the
# recording's own (sigma WANDER_SIGMA: two thirds of them 0.67-1.5 times as fast), the
# pace in between interpolated: a set that slows with fatigue, hurries, slows again.
WANDER_S = 5.0
WANDER_SIGMA = 0.4
# Every movement's angle from rest scaled by this factor: a stiffer or weaker person
# (< 1), a more supple one (> 1). Rest is the recording's median direction, so this
# suits recordings of one posture (a MEx file: one exercise on the mat).
RANGES = {"smaller": 0.7, "larger": 1.3}
# "slow-reps": every movement SLOW_MOVING times slower, every still moment (at rest, at a
# rep's top) as recorded: reps rise in 3 s and fall in 3 s (MEx's in about 1 s) while the
# rests between them keep their length, as the slowest patients do (a slower pace
# stretches the rests too, and a set's rhythm with them). Moving: gravity's direction
# turning faster than SLOW_SPEED of the recording's brisk turns (95th percentile).
SLOW_REPS = "slow-reps"
SLOW_MOVING = 3.0
SLOW_SPEED = 0.2
# A lower sample rate (Hz): phones record at 20-200 Hz. Every n-th sample is kept, as a
# sensor sampling at that rate reads the signal (nothing averaged in between);
# 12.5 Hz is one sample per tick.
RATES = {"rate-50": 50.0, "rate-33": 33.3, "rate-25": 25.0, "rate-20": 20.0, "rate-12": 12.5}
NOISE_G = 0.02  # added white noise per axis: a cheap IMU is ~3 mg, a phone's more
NOISE_DPS = 1.0
# "moves-on": the moment the recording ends the person moves on (rolls onto a side, sits
# up): the thigh turns MOVE_ON_DEG in MOVE_ON_S about an axis drawn for each recording,
# then lies still MOVED_REST_S. On MEx subjects the first detector never saw, most misses
# were the last rep of a set before the person moved on.
MOVES_ON = "moves-on"
MOVE_ON_DEG = 80.0
MOVE_ON_S = 1.0
MOVED_REST_S = 15.0
MOVED_NOISE_G = 0.004  # a still sensor's noise per axis (g)

VARIATIONS = {
    "turn-half": "the strap turned half way round the thigh",
    "turn-half-upside-down": "the strap turned half way round the thigh, upside down",
    "turn-quarter": "the strap turned a quarter round the thigh",
    "turn-quarter-back": "the strap turned a quarter round the thigh the other way",
    **{name: f"the strap askew: turned {deg:g} deg about a random axis" for name, deg in ASKEW.items()},
    SPUN: "the sensor spun about its z (out of the thigh) to a random angle: x off the thigh, as MEx's sit",
    "slower": f"every movement {PACES['slower']} times slower",
    "much-slower": f"every movement {PACES['much-slower']} times slower",
    "slowest": f"every movement {PACES['slowest']:g} times slower (3 s up: the slowest patients)",
    SLOW_REPS: f"every movement {SLOW_MOVING:g} times slower, every still moment (rest, a top) as recorded",
    "faster": f"every movement {1 / PACES['faster']:.2f} times faster",
    "uneven-pace": f"the pace wandering: a new one every {WANDER_S:g} s, mostly 0.67-1.5 times as fast",
    "smaller": f"every movement {RANGES['smaller']} times as large",
    "larger": f"every movement {RANGES['larger']} times as large",
    **{name: f"sampled at {hz:g} Hz" for name, hz in RATES.items()},
    "noisier": f"{NOISE_G * 1000:.0f} mg of noise added per axis ({NOISE_DPS:g} deg/s on the gyroscope)",
    MOVES_ON: f"the person moves on as the recording ends: the thigh turns {MOVE_ON_DEG:g} deg about a random axis",
}
ONE_POSTURE = frozenset(RANGES)  # only for recordings of one posture


def vary(rec: Recording, name: str, key: str = "", spans=None) -> Recording:
    """`rec` changed by variation `name`; `key` seeds the noise (the same file gets the
    same noise on every run). `spans`: see `varied`."""
    return varied(rec, name, key, spans)[0]


def varied(rec: Recording, name: str, key: str = "", spans=None):
    """(`rec` changed by variation `name`, its clock: old time -> new time, numpy-wise).
    A change of pace with `spans` ((start, end) times) changes only them."""
    t, acc, gyro = np.asarray(rec.t, dtype=float), np.asarray(rec.acc, dtype=float), rec.gyro
    if gyro is not None:
        gyro = np.asarray(gyro, dtype=float)
    if name in TURNS:
        return turned(rec, TURNS[name]), _same_clock
    if name in ASKEW:
        axis = np.random.default_rng(zlib.crc32(key.encode())).normal(size=3)
        axis *= np.radians(ASKEW[name]) / np.linalg.norm(axis)
        return turned(rec, Rotation.from_rotvec(axis).as_matrix()), _same_clock
    if name == SPUN:
        angle = np.random.default_rng(zlib.crc32(key.encode())).uniform(0.0, 360.0)
        return turned(rec, Rotation.from_euler("z", angle, degrees=True).as_matrix()), _same_clock
    if name == MOVES_ON:
        rng = np.random.default_rng(zlib.crc32(key.encode()))
        axis = rng.normal(size=3)
        return moved_on(rec, axis / np.linalg.norm(axis), rng), _same_clock
    if name in RANGES:
        return moved_more(rec, RANGES[name]), _same_clock
    if name in RATES:
        return resampled(rec, RATES[name]), _same_clock
    if name == "noisier":
        rng = np.random.default_rng(zlib.crc32(key.encode()))
        acc = acc + rng.normal(0.0, NOISE_G, acc.shape)
        gyro = None if gyro is None else gyro + rng.normal(0.0, NOISE_DPS, gyro.shape)
        return Recording(t=t, acc=acc, gyro=gyro, meta=dict(rec.meta)), _same_clock
    if name in PACES:
        slower = np.full(len(t), PACES[name])
    elif name == "uneven-pace":
        slower = wandered(t, np.random.default_rng(zlib.crc32(key.encode())))
    elif name == SLOW_REPS:
        slower = np.where(_turning(t, acc), SLOW_MOVING, 1.0)
    else:
        raise ValueError(f"unknown variation {name!r} (expected {', '.join(VARIATIONS)})")
    if spans is not None:
        inside = np.zeros(len(t), dtype=bool)
        for start, end in spans:
            inside |= (t >= start) & (t <= end)
        slower = np.where(inside, slower, 1.0)
    new_t = t[0] + np.cumsum(np.diff(t, prepend=t[0]) * slower)
    gyro = None if gyro is None else gyro / slower[:, None]

    def clock(x):
        # times past the recording's ends move with them
        x = np.asarray(x, dtype=float)
        return np.interp(x, t, new_t) + np.maximum(x - t[-1], 0.0) + np.minimum(x - t[0], 0.0)

    out = Recording(t=new_t, acc=acc, gyro=gyro, meta=dict(rec.meta))
    if name == SLOW_REPS:
        # The band samples at its own rate however slowly one moves (a slower pace keeps
        # the samples, as a lower rate with it would record them).
        out = _sampled_every(out, float(np.median(np.diff(t))))
    return out, clock


def _sampled_every(rec: Recording, dt: float) -> Recording:
    """`rec` interpolated onto samples `dt` apart."""
    t = np.arange(rec.t[0], rec.t[-1], dt)

    def at(x):
        return None if x is None else np.stack([np.interp(t, rec.t, x[:, i]) for i in range(3)], axis=1)

    return Recording(t=t, acc=at(np.asarray(rec.acc, dtype=float)), gyro=at(rec.gyro), meta=dict(rec.meta))


def _same_clock(x):
    return np.asarray(x, dtype=float)


def wandered(t, rng):
    """How many times slower each moment of times `t` is replayed at a wandering pace:
    a new pace every WANDER_S s, interpolated in between."""
    t = np.asarray(t, dtype=float)
    knots = np.arange(t[0], t[-1] + WANDER_S, WANDER_S)
    return np.interp(t, knots, np.exp(rng.normal(0.0, WANDER_SIGMA, len(knots))))


def resampled(rec: Recording, hz: float) -> Recording:
    """`rec` as a sensor sampling at `hz` reads it: every n-th sample, n the whole
    number nearest the ratio of the rates (unchanged if the recording is no faster)."""
    t = np.asarray(rec.t, dtype=float)
    n = max(1, round(1.0 / (hz * float(np.median(np.diff(t))))))
    gyro = None if rec.gyro is None else np.asarray(rec.gyro, dtype=float)[::n]
    return Recording(t=t[::n], acc=np.asarray(rec.acc, dtype=float)[::n], gyro=gyro, meta=dict(rec.meta))


def turned(rec: Recording, m) -> Recording:
    """`rec` as a band turned by rotation `m` (new axes = m @ old) would record it."""
    m = np.asarray(m, dtype=float)
    gyro = None if rec.gyro is None else np.asarray(rec.gyro, dtype=float) @ m.T
    return Recording(t=np.asarray(rec.t, dtype=float), acc=np.asarray(rec.acc, dtype=float) @ m.T,
                     gyro=gyro, meta=dict(rec.meta))


def moved_on(rec: Recording, axis, rng) -> Recording:
    """`rec`, then the thigh turning MOVE_ON_DEG about unit `axis` (the band's axes) in
    MOVE_ON_S from where it was as the recording ended, and lying still there."""
    t = np.asarray(rec.t, dtype=float)
    acc = np.asarray(rec.acc, dtype=float)
    dt = float(np.median(np.diff(t)))
    n_turn, n_rest = round(MOVE_ON_S / dt), round(MOVED_REST_S / dt)
    ending = t >= t[-1] - 0.3
    turned_by = np.radians(MOVE_ON_DEG) * np.r_[np.arange(1, n_turn + 1) / n_turn, np.ones(n_rest)]
    more = Rotation.from_rotvec(turned_by[:, None] * np.asarray(axis, dtype=float)).apply(acc[ending].mean(axis=0))
    more += rng.normal(0.0, MOVED_NOISE_G, more.shape)
    gyro = rec.gyro
    if gyro is not None:
        gyro = np.asarray(gyro, dtype=float)
        # Gravity turning by +angle about the axis is the band turning by -angle.
        rate = np.zeros((n_turn + n_rest, 3))
        rate[:n_turn] = -MOVE_ON_DEG / MOVE_ON_S * np.asarray(axis, dtype=float)
        gyro = np.vstack([gyro, np.median(gyro, axis=0) + rate])  # the median: the bias
    return Recording(t=np.r_[t, t[-1] + dt * np.arange(1, n_turn + n_rest + 1)], acc=np.vstack([acc, more]),
                     gyro=gyro, meta=dict(rec.meta))


def _direction(t, acc):
    """Gravity's direction, smoothed over 0.25 s: steady against noise, short beside a rep."""
    window = max(1, round(0.25 / float(np.median(np.diff(t)))))
    g = uniform_filter1d(acc, window, axis=0, mode="nearest")
    return g / np.linalg.norm(g, axis=1, keepdims=True)


def _turning(t, acc):
    """Where gravity's direction (smoothed over 0.25 s) turns faster than SLOW_SPEED of
    the recording's brisk turns: the thigh moving, not held."""
    u = _direction(t, acc)
    speed = np.linalg.norm(np.gradient(u, t, axis=0), axis=1)
    return speed > SLOW_SPEED * np.percentile(speed, 95)


def moved_more(rec: Recording, k: float) -> Recording:
    """`rec` with every movement `k` times as large: each sample turned by k - 1 times
    its angle from rest, about the axis from rest to where the sensor points then (rest:
    the median of gravity's direction smoothed over 0.25 s). Gravity's direction then
    lies k times as far from rest; the rest of the signal (footfalls, noise) turns with
    it."""
    t = np.asarray(rec.t, dtype=float)
    acc = np.asarray(rec.acc, dtype=float)
    u = _direction(t, acc)
    rest = np.median(u, axis=0)
    rest /= np.linalg.norm(rest)
    axis = np.cross(rest, u)
    sin_angle = np.linalg.norm(axis, axis=1)
    angle = np.arctan2(sin_angle, u @ rest)
    turn = Rotation.from_rotvec(axis * ((k - 1.0) * angle / np.maximum(sin_angle, 1e-12))[:, None])
    gyro = None if rec.gyro is None else k * turn.apply(np.asarray(rec.gyro, dtype=float))
    return Recording(t=t, acc=turn.apply(acc), gyro=gyro, meta=dict(rec.meta))


__all__ = ["VARIATIONS", "TURNS", "ASKEW", "PACES", "RANGES", "ONE_POSTURE", "SLOW_REPS", "vary", "varied",
           "turned", "moved_more", "wandered", "RATES", "resampled"]
