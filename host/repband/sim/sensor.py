"""The IMU: mount on the skin, soft-tissue wobble, clock, sampling and sensor errors."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import bilinear, lfilter, lfilter_zi
from scipy.spatial.transform import Rotation

from .body import FS, Kinematics

ACC_RANGE_G = 4.0
GYRO_RANGE_DPS = 500.0
RATES = (52.0, 100.0, 104.0, 208.0)


def draw_mount(rng, tier: str) -> Rotation:
    """Device orientation on the thigh relative to the nominal mount."""
    def small(max_deg):
        ax = rng.normal(size=3)
        return Rotation.from_rotvec(ax / np.linalg.norm(ax) * np.radians(rng.uniform(0, max_deg)))

    if tier == "nominal":
        return small(8.0)
    if tier == "loose":
        return small(30.0)
    if tier == "arbitrary":
        u = rng.random()
        if u < 0.3:
            return Rotation.random(random_state=int(rng.integers(2**31)))
        # upside down, or turned 90/180/270 deg about the thigh axis, plus a loose wobble
        bases = [Rotation.from_euler("z", 180, degrees=True),    # x up the thigh
                 Rotation.from_euler("x", 90, degrees=True),
                 Rotation.from_euler("x", 180, degrees=True),
                 Rotation.from_euler("x", 270, degrees=True),
                 Rotation.from_euler("y", 180, degrees=True),    # upside down, facing in
                 Rotation.from_euler("zx", [180, 90], degrees=True)]
        return bases[int(rng.integers(len(bases)))] * small(15.0)
    raise ValueError(f"unknown mount tier {tier!r}")


@dataclass
class SensorErrors:
    clock: float  # device clock rate error (fraction)
    t0: float  # timestamp origin, s
    wobble_hz: float
    wobble_zeta: float
    acc_M: np.ndarray
    gyr_M: np.ndarray
    acc_bias: np.ndarray  # g
    gyr_bias: np.ndarray  # dps
    acc_noise: float  # g rms
    gyr_noise: float  # dps rms
    jitter: float  # s rms, timestamps
    drop_rate: float
    bad_rate: float

    @classmethod
    def draw(cls, rng, placement="thigh"):
        def mat(scale):
            return (np.eye(3) + np.diag(rng.uniform(-scale, scale, 3))
                    + (1 - np.eye(3)) * rng.uniform(-0.01, 0.01, (3, 3)))
        hz = rng.uniform(10.0, 15.0) * (1.4 if placement == "hip" else 1.0)
        return cls(clock=rng.uniform(-0.01, 0.01), t0=rng.uniform(0.5, 5.0),
                   wobble_hz=hz, wobble_zeta=rng.uniform(0.12, 0.3),
                   acc_M=mat(0.03), gyr_M=mat(0.03),
                   acc_bias=rng.normal(0, 0.025, 3), gyr_bias=rng.normal(0, 2.0, 3),
                   acc_noise=rng.uniform(0.002, 0.004), gyr_noise=rng.uniform(0.07, 0.14),
                   jitter=rng.uniform(0.0002, 0.0012), drop_rate=rng.uniform(2e-4, 1.5e-3),
                   bad_rate=rng.uniform(5e-5, 4e-4))

    @classmethod
    def ideal(cls):
        return cls(0.0, 0.0, 0.0, 0.0, np.eye(3), np.eye(3), np.zeros(3), np.zeros(3),
                   0.0, 0.0, 0.0, 0.0, 0.0)


def _wobble(x, hz, zeta):
    """Soft tissue: the device is a damped mass-spring on the bone (base excitation)."""
    w = 2 * np.pi * hz
    b, a = bilinear([2 * zeta * w, w * w], [1.0, 2 * zeta * w, w * w], fs=FS)
    zi = lfilter_zi(b, a)
    return np.stack([lfilter(b, a, x[:, i], zi=zi * x[0, i])[0] for i in range(3)], axis=1)


def _quant(x, full):
    lsb = full / 32768.0
    return np.clip(np.round(x / lsb), -32768, 32767) * lsb


def sample(kin: Kinematics, rng, rate_hz: float, err: SensorErrors, gyro=True):
    """Sample the ideal signals as the device would. Returns (t, acc, gyr|None, tmap, faults).

    ``tmap(model_time)`` gives the recording's timestamp of a model instant (truth times)."""
    f, w = kin.f, kin.w
    if err.wobble_hz > 0:
        f = _wobble(f, err.wobble_hz, err.wobble_zeta)
        w = _wobble(w, err.wobble_hz * 0.9, err.wobble_zeta * 1.3)
    T = kin.t[-1]
    period = 1.0 / (rate_hz * (1.0 + err.clock))  # true spacing of the IMU's samples
    n = int(np.floor(T / period))
    tau = np.arange(n) * period
    acc = np.stack([np.interp(tau, kin.t, f[:, i]) for i in range(3)], axis=1)
    gyr = np.stack([np.interp(tau, kin.t, w[:, i]) for i in range(3)], axis=1)
    acc = acc @ err.acc_M.T + err.acc_bias + rng.normal(0, 1, acc.shape) * err.acc_noise
    acc = _quant(acc, ACC_RANGE_G)
    if gyro:
        drift = np.cumsum(rng.normal(0, 1, gyr.shape), axis=0) * (0.002 if err.gyr_noise else 0)
        gyr = gyr @ err.gyr_M.T + err.gyr_bias + drift + rng.normal(0, 1, gyr.shape) * err.gyr_noise
        gyr = _quant(gyr, GYRO_RANGE_DPS)
    jit = np.clip(rng.normal(0, 1, n) * err.jitter, -0.3 / rate_hz, 0.3 / rate_hz)
    t = err.t0 + np.arange(n) / rate_hz + jit
    faults = {"dropped": 0, "zeros": 0, "repeats": 0}
    # bad reads: all zeros, or a repeat of the previous sample's values
    if err.bad_rate > 0:
        idx = np.flatnonzero(rng.random(n) < err.bad_rate)
        idx = idx[idx > 0]
        for i in idx:
            if rng.random() < 0.5:
                acc[i] = 0.0
                gyr[i] = 0.0
                faults["zeros"] += 1
            else:
                acc[i] = acc[i - 1]
                gyr[i] = gyr[i - 1]
                faults["repeats"] += 1
    keep = np.ones(n, bool)
    if err.drop_rate > 0:
        starts = np.flatnonzero(rng.random(n) < err.drop_rate)
        for s in starts:
            k = 1 if rng.random() < 0.8 else int(rng.integers(2, 7))
            keep[s:s + k] = False
        keep[0] = keep[-1] = True
        faults["dropped"] = int((~keep).sum())
    t, acc, gyr = t[keep], acc[keep], gyr[keep]

    def tmap(x):
        return err.t0 + np.asarray(x) * (1.0 + err.clock)

    return t, acc, (gyr if gyro else None), tmap, faults
