"""A phone in a trouser pocket before a band: the exports of phyphox and Sensor Logger
read as recordings (repband.phone): m/s² and rad/s converted, a file per sensor with its
own clock merged, iPhone axes turned into Android's, acceleration without gravity
refused with the reason; a recording in m/s² is never counted as if it were in g."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from repband import cli
from repband.phone import G
from repband.recording import Recording, read_csv, write_csv
from repband.sim import simulate

RNG = np.random.default_rng(5)


@pytest.fixture(scope="module")
def pocket(tmp_path_factory):
    """The routine with the phone at any angle in the right front pocket (the
    simulator's arbitrary mount: upside down, turned, loose), and what the detector
    makes of it as a repband recording."""
    rec, truth = simulate("routine", seed=3, mount="arbitrary", rate_hz=104.0)
    d = tmp_path_factory.mktemp("pocket")
    write_csv(d / "band.csv", rec)
    return rec, _counts(d / "band.csv"), d


def _counts(path, *extra):
    res = _replay(path, *extra)
    return {k: v for k, v in res["counts"].items() if k not in ("partial",)}


def _replay(path, *extra):
    import io
    import contextlib

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert cli.main(["replay", str(path), "--json", "--leg", "right", *extra]) == 0
    return json.loads(buf.getvalue())


def _resampled(rec, rate, t0=0.0, jitter=0.0):
    """The recording as a phone samples it: its own rate, clock origin and jitter."""
    t = np.arange(t0, rec.t[-1] - rec.t[0], 1.0 / rate)
    t = t + RNG.normal(0, jitter, len(t)) if jitter else t
    t = np.sort(t)
    src = rec.t - rec.t[0]
    acc = np.stack([np.interp(t, src, rec.acc[:, k]) for k in range(3)], axis=1)
    gyro = np.stack([np.interp(t, src, rec.gyro[:, k]) for k in range(3)], axis=1)
    return t, acc, gyro


def _close(a: dict, b: dict, tol=1):
    assert set(a) == set(b), (a, b)
    for k in a:
        assert abs(a[k] - b[k]) <= tol, (k, a, b)


def test_phyphox_acceleration_with_g(pocket, tmp_path):
    rec, want, _ = pocket
    t, acc, _g = _resampled(rec, 200.0, jitter=0.0005)
    rows = [f"{ti:.6f},{a[0] * G:.6f},{a[1] * G:.6f},{a[2] * G:.6f},{np.linalg.norm(a) * G:.6f}"
            for ti, a in zip(t, acc)]
    head = '"Time (s)","Acceleration x (m/s^2)","Acceleration y (m/s^2)","Acceleration z (m/s^2)",' \
           '"Absolute acceleration (m/s^2)"'
    f = tmp_path / "Raw Data.csv"
    f.write_text(head + "\n" + "\n".join(rows) + "\n")
    res = _replay(f)
    assert res["read_as"].startswith("phyphox Raw Data.csv: m/s² converted to g") and not res["gyro"]
    _close({k: v for k, v in res["counts"].items() if k != "partial"}, _accel_only(pocket))
    # phyphox's other CSV flavour: semicolons and decimal commas
    semi = tmp_path / "semicolon.csv"
    semi.write_text(head.replace(",", ";") + "\n" + "\n".join(r.replace(",", ";").replace(".", ",") for r in rows))
    r2 = read_csv(semi)
    r1 = read_csv(f)
    assert np.allclose(r1.acc, r2.acc) and np.allclose(r1.t, r2.t)
    assert abs(np.median(np.linalg.norm(r1.acc, axis=1)) - 1.0) < 0.05  # in g


def _accel_only(pocket):
    _rec, _want, d = pocket
    return {k: v for k, v in _replay(d / "band.csv", "--no-gyro")["counts"].items() if k != "partial"}


def _logger_csv(t_s, values, t0_ns=1_767_600_000_000_000_000):
    lines = ["time,seconds_elapsed,z,y,x"]
    for ti, v in zip(t_s, values):
        lines.append(f"{t0_ns + int(ti * 1e9)},{ti:.6f},{v[2]:.6f},{v[1]:.6f},{v[0]:.6f}")
    return "\n".join(lines) + "\n"


def _gravity(acc, rate):
    """A slow average: what the phone's sensor fusion calls gravity."""
    k = int(rate)
    pad = np.pad(acc, ((k, k), (0, 0)), mode="edge")
    c = np.cumsum(pad, axis=0)
    return (c[2 * k:] - c[:-2 * k]) / (2 * k)


@pytest.mark.parametrize("platform", ["Android", "iOS"])
def test_sensor_logger_export_merges_its_files(pocket, tmp_path, platform):
    """A file per sensor, each on its own clock (the gyroscope starts later and runs at
    another rate); Android: TotalAcceleration.csv; iOS: Accelerometer.csv (gravity
    removed) with Gravity.csv, both negated. Read as a folder and as the .zip."""
    rec, want, _ = pocket
    ta, acc, _ = _resampled(rec, 100.0, jitter=0.0003)
    tg, _, gyro = _resampled(rec, 98.0, t0=0.37, jitter=0.0003)
    files = {"Gyroscope.csv": _logger_csv(tg, np.radians(gyro)),
             "Metadata.csv": f"version,device name,recording time,platform\n3,test phone,2026-01-05,{platform}\n"}
    if platform == "Android":
        files["TotalAcceleration.csv"] = _logger_csv(ta, acc * G)
    else:
        grav = _gravity(acc, 100.0)
        files["Accelerometer.csv"] = _logger_csv(ta, -(acc - grav) * G)
        files["Gravity.csv"] = _logger_csv(ta, -grav * G)
    folder = tmp_path / "export"
    folder.mkdir()
    for n, text in files.items():
        (folder / n).write_text(text)
    res = _replay(folder)
    assert res["gyro"] and "with Gyroscope.csv" in res["read_as"]
    assert ("an iPhone's" in res["read_as"]) == (platform == "iOS")
    _close({k: v for k, v in res["counts"].items() if k != "partial"}, want)
    z = tmp_path / "export.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for n, text in files.items():
            zf.writestr(f"2026-01-05_08-00-00/{n}", text)
    assert _replay(z)["counts"] == res["counts"]


@pytest.mark.parametrize("files, words", [
    ({"Raw Data.csv": '"Time (s)","Linear Acceleration x (m/s^2)","Linear Acceleration y (m/s^2)",'
                      '"Linear Acceleration z (m/s^2)","Absolute acceleration (m/s^2)"\n0,0.1,0.2,0.3,0.4\n'
                      '0.01,0.1,0.2,0.3,0.4\n'}, 'no gravity in it (phyphox "Acceleration without g")'),
    ({"Accelerometer.csv": "time,seconds_elapsed,z,y,x\n1,0.0,0.1,0.2,0.3\n2,0.01,0.1,0.2,0.3\n"},
     "no gravity in it (Sensor Logger's Accelerometer.csv, and no Gravity.csv to add to it)"),
    ({"Gyroscope.csv": "time,seconds_elapsed,z,y,x\n1,0.0,0.1,0.2,0.3\n2,0.01,0.1,0.2,0.3\n"},
     "no accelerometer file of phyphox or Sensor Logger in it"),
])
def test_exports_that_cannot_be_counted_say_why(tmp_path, capsys, files, words):
    for n, text in files.items():
        (tmp_path / n).write_text(text)
    for target in [tmp_path] + [tmp_path / n for n in files if "Gyroscope" not in n]:
        assert cli.main(["replay", str(target)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("repband: ") and err.count("\n") == 1 and ("no gravity" in err or words in err), err
    assert cli.main(["replay", str(tmp_path)]) == 2
    assert words in capsys.readouterr().err


def test_a_phone_csv_of_another_app_gets_the_expected_columns(tmp_path, capsys):
    f = tmp_path / "phone.csv"
    f.write_text("timestamp,accX,accY,accZ\n0,0.1,9.8,0.2\n0.01,0.1,9.8,0.2\n")
    assert cli.main(["replay", str(f)]) == 2
    err = capsys.readouterr().err
    assert "unknown column(s) 'timestamp', 'accX', 'accY', 'accZ'" in err
    assert "repband reads t,ax,ay,az[,gx,gy,gz] (g and deg/s" in err and "phyphox or Sensor Logger" in err


def test_metres_per_second_squared_are_never_read_as_g(pocket, tmp_path, capsys):
    rec, want, _ = pocket
    ms2 = Recording(t=rec.t, acc=rec.acc * G, gyro=rec.gyro, meta={"leg": "right"})
    f = tmp_path / "ms2.csv"
    write_csv(f, ms2)
    assert cli.main(["replay", str(f)]) == 2
    err = capsys.readouterr().err
    assert "look like m/s², not g" in err and "# acc_unit=m/s^2" in err and err.count("\n") == 1
    g = tmp_path / "declared.csv"
    g.write_text("# acc_unit=m/s^2\n# gyro_unit=rad/s\n" + _with_rad_s(f.read_text()))
    _close(_counts(g), want, tol=0)


def _with_rad_s(text: str) -> str:
    lines = text.splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.startswith("t,"))
    out = lines[:i + 1]
    for ln in lines[i + 1:]:
        v = ln.split(",")
        out.append(",".join(v[:4] + [f"{np.radians(float(x)):.8f}" for x in v[4:]]))
    return "\n".join(out) + "\n"
