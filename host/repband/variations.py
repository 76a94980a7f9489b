"""Recordings changed the way real use changes them, for `repband evaluate --vary`: the
strap turned about the thigh, a slower or faster pace, a noisier sensor. A detector that
counts real people counts these the same; one fitted to its recordings does not.

The band's axes: x along the thigh, so a turn about x is the strap worn turned round
the leg, and "upside down" also reverses x."""
from __future__ import annotations

import zlib

import numpy as np

from repband.recording import Recording

# Rotations in the band's axes (new = M @ old).
TURNS = {
    "turn-half": np.diag([1.0, -1.0, -1.0]),
    "turn-half-upside-down": np.diag([-1.0, 1.0, -1.0]),
    "turn-quarter": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]),
    "turn-quarter-back": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]),
}
# Time stretched by this factor: the same movements, slower (> 1) or faster.
PACES = {"slower": 1.3, "much-slower": 1.6, "faster": 0.8}
NOISE_G = 0.02  # added white noise per axis: a cheap IMU is ~3 mg, a phone's more
NOISE_DPS = 1.0

VARIATIONS = {
    "turn-half": "the strap turned half way round the thigh",
    "turn-half-upside-down": "the strap turned half way round the thigh, upside down",
    "turn-quarter": "the strap turned a quarter round the thigh",
    "turn-quarter-back": "the strap turned a quarter round the thigh the other way",
    "slower": f"every movement {PACES['slower']} times slower",
    "much-slower": f"every movement {PACES['much-slower']} times slower",
    "faster": f"every movement {1 / PACES['faster']:.2f} times faster",
    "noisier": f"{NOISE_G * 1000:.0f} mg of noise added per axis ({NOISE_DPS:g} deg/s on the gyroscope)",
}
CHANGES_TIME = frozenset(PACES)


def vary(rec: Recording, name: str, key: str = "") -> Recording:
    """`rec` changed by variation `name`; `key` seeds the noise (the same file gets the
    same noise on every run)."""
    t, acc, gyro = np.asarray(rec.t, dtype=float), np.asarray(rec.acc, dtype=float), rec.gyro
    if gyro is not None:
        gyro = np.asarray(gyro, dtype=float)
    if name in TURNS:
        return turned(rec, TURNS[name])
    if name in PACES:
        k = PACES[name]
        t = t * k
        gyro = None if gyro is None else gyro / k
    elif name == "noisier":
        rng = np.random.default_rng(zlib.crc32(key.encode()))
        acc = acc + rng.normal(0.0, NOISE_G, acc.shape)
        gyro = None if gyro is None else gyro + rng.normal(0.0, NOISE_DPS, gyro.shape)
    else:
        raise ValueError(f"unknown variation {name!r} (expected {', '.join(VARIATIONS)})")
    return Recording(t=t, acc=acc, gyro=gyro, meta=dict(rec.meta))


def turned(rec: Recording, m) -> Recording:
    """`rec` as a band turned by rotation `m` (new axes = m @ old) would record it."""
    m = np.asarray(m, dtype=float)
    gyro = None if rec.gyro is None else np.asarray(rec.gyro, dtype=float) @ m.T
    return Recording(t=np.asarray(rec.t, dtype=float), acc=np.asarray(rec.acc, dtype=float) @ m.T,
                     gyro=gyro, meta=dict(rec.meta))


__all__ = ["VARIATIONS", "TURNS", "PACES", "CHANGES_TIME", "vary", "turned"]
