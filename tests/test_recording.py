"""Recording format: strict reading, round trip, integer samples, bad-input messages."""
import os
import subprocess
import sys

import numpy as np
import pytest

from repband import cli
from repband.recording import Recording, RecordingError, read_csv, to_samples, write_csv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEAD = "# placement=thigh\n# leg=right\n# rate_hz=104\nt,ax,ay,az,gx,gy,gz\n"
ROW = "{t:.4f},-1.00000,0.01000,0.02000,1.000,2.000,3.000\n"


def rows(n=5, t0=1.0, dt=0.01):
    return "".join(ROW.format(t=t0 + i * dt) for i in range(n))


GOOD = HEAD + rows()

# (name, file text, line the error must name, a word the message must contain)
BAD = [
    ("empty", "", 1, "empty"),
    ("blank", "\n  \n", 1, "empty"),
    ("only_meta", "# placement=thigh\n# leg=left\n", 2, "header"),
    ("no_header", "1.0,-1,0,0\n1.1,-1,0,0\n", 1, "header"),
    ("missing_col", "t,ax,ay\n1.0,-1,0\n", 1, "az"),
    ("missing_t", "# x=1\nax,ay,az\n-1,0,0\n", 2, "t"),
    ("unknown_col", "t,ax,ay,az,temp\n1.0,-1,0,0,20\n", 1, "temp"),
    ("partial_gyro", "t,ax,ay,az,gx,gy\n1.0,-1,0,0,1,1\n", 1, "gz"),
    ("dup_col", "t,ax,ay,az,ax\n1.0,-1,0,0,0\n", 1, "twice"),
    ("header_only", HEAD, 4, "no data"),
    ("text_in_number", HEAD + rows(2) + "1.03,-1.0,abc,0.0,1,2,3\n", 7, "ay"),
    ("empty_value", HEAD + rows(2) + "1.03,-1.0,,0.0,1,2,3\n", 7, "ay"),
    ("too_few", HEAD + rows(3) + "1.05,-1.0,0.0,0.0,1,2\n", 8, "expected 7"),
    ("too_many", HEAD + rows(1) + "1.05,-1.0,0.0,0.0,1,2,3,4\n", 6, "expected 7"),
    ("nan", HEAD + rows(2) + "1.03,-1.0,0.0,nan,1,2,3\n", 7, "az"),
    ("inf", HEAD + rows(2) + "1.03,-1.0,0.0,0.0,1,2,inf\n", 7, "gz"),
    ("minus_inf", HEAD + rows(2) + "1.03,-inf,0.0,0.0,1,2,3\n", 7, "ax"),
    ("NaN_time", HEAD + "NaN,-1.0,0.0,0.0,1,2,3\n", 5, "t"),
    ("underscore", HEAD + rows(2) + "1.03,-1_0,0.0,0.0,1,2,3\n", 7, "ax"),
    ("backwards", HEAD + rows(3) + ROW.format(t=1.01), 8, "time"),
    ("same_time", HEAD + rows(3) + "1.0200,-1.00000,0.01000,0.02000,9.000,2.000,3.000\n", 8, "time"),
    ("absurd_acc", HEAD + rows(2) + "1.03,-40.0,0.0,0.0,1,2,3\n", 7, "ax"),
    ("absurd_gyro", HEAD + rows(2) + "1.03,-1.0,0.0,0.0,1,-5000,3\n", 7, "gy"),
    ("rate_text", "# rate_hz=abc\n" + GOOD.split("\n", 3)[3], 1, "rate_hz"),
    ("rate_zero", "# rate_hz=0\n" + GOOD.split("\n", 3)[3], 1, "rate_hz"),
    ("placement", "# leg=left\n# placement=knee\n" + GOOD.split("\n", 3)[3], 2, "placement"),
    ("leg", "# leg=middle\n" + GOOD.split("\n", 3)[3], 1, "leg"),
    ("meta_conflict", "# leg=left\n# leg=right\n" + GOOD.split("\n", 3)[3], 2, "leg"),
    ("comment_after_header", HEAD + rows(2) + "# note\n" + rows(1, t0=2.0), 7, "after the header"),
]


@pytest.mark.parametrize("name,text,line,word", BAD, ids=[b[0] for b in BAD])
def test_bad_input_exit_2_names_file_and_line(tmp_path, capsys, name, text, line, word):
    p = tmp_path / f"{name}.csv"
    p.write_text(text)
    with pytest.raises(RecordingError) as ei:
        read_csv(p)
    assert ei.value.line == line
    assert str(ei.value).startswith(f"{p}:{line}: ")
    assert word.lower() in ei.value.message.lower()
    rc = cli.main(["replay", str(p), "--json"])
    out, err = capsys.readouterr()
    assert rc == 2
    assert out == ""
    assert err == f"repband: {p}:{line}: {ei.value.message}\n"
    assert "Traceback" not in err


def test_not_utf8(tmp_path, capsys):
    p = tmp_path / "bin.csv"
    p.write_bytes(HEAD.encode() + b"1.0,\xff\xfe,0,0,0,0,0\n")
    assert cli.main(["replay", str(p)]) == 2
    assert capsys.readouterr().err.startswith(f"repband: {p}:5: ")


def test_missing_file_and_directory(tmp_path, capsys):
    missing = tmp_path / "nope.csv"
    assert cli.main(["replay", str(missing)]) == 2
    assert capsys.readouterr().err == f"repband: {missing}: no such file\n"
    assert cli.main(["replay", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith(f"repband: {tmp_path}: ")


def test_bad_input_in_a_subprocess_has_no_traceback(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text(HEAD + rows(2) + "1.03,-1.0,0.0,zz,1,2,3\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.join(ROOT, "host"), os.path.join(ROOT, "firmware"), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-m", "repband.cli", "replay", str(p), "--json"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == f"repband: {p}:7: column az: not a number: 'zz'\n"


def test_exact_duplicate_row_is_dropped(tmp_path):
    p = tmp_path / "dup.csv"
    p.write_text(HEAD + rows(3) + ROW.format(t=1.02) + rows(2, t0=1.03))
    rec = read_csv(p)
    assert len(rec.t) == 5
    assert np.all(np.diff(rec.t) > 0)


def test_metadata_and_free_text_comments(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("# source=MEx subject=01 file=02_act_1 exercise=bridging (CC BY 4.0, X 2019)\n"
                 "# just a note without pairs\n"
                 "# note=free text with spaces\n"
                 "# placement=hip\n\n"
                 "t,ax,ay,az\n0.0,-1,0,0\n0.01,-1,0,0\n")
    rec = read_csv(p)
    assert rec.meta == {"source": "MEx", "subject": "01", "file": "02_act_1",
                        "exercise": "bridging", "note": "free text with spaces",
                        "placement": "hip"}
    assert rec.gyro is None
    assert rec.acc.shape == (2, 3)


def test_columns_in_any_order_crlf_and_whitespace(tmp_path):
    p = tmp_path / "o.csv"
    p.write_bytes(b"ax, t ,az,ay\r\n-1.0, 5.0 ,0.5,0.25\r\n-0.5,5.01,0.0,0.0\r\n\r\n")
    rec = read_csv(p)
    assert rec.t.tolist() == [5.0, 5.01]
    assert rec.acc[0].tolist() == [-1.0, 0.25, 0.5]


def test_round_trip_and_samples(tmp_path):
    rng = np.random.default_rng(1)
    n = 500
    t = 12.5 + np.cumsum(rng.uniform(0.008, 0.011, n))
    acc = rng.normal(0, 0.5, (n, 3))
    gyro = rng.normal(0, 50, (n, 3))
    for g in (gyro, None):
        rec = Recording(t=t, acc=acc, gyro=g, meta={"placement": "thigh", "leg": "left",
                                                    "rate_hz": "104"})
        p = tmp_path / "rt.csv"
        write_csv(p, rec)
        back = read_csv(p)
        assert back.meta == rec.meta
        np.testing.assert_allclose(back.t, t, atol=5e-5)
        np.testing.assert_allclose(back.acc, acc, atol=5e-6)
        if g is None:
            assert back.gyro is None
        else:
            np.testing.assert_allclose(back.gyro, gyro, atol=5e-4)
        s = to_samples(back)
        assert s.dtype == np.int64 and s.shape == (n, 7)
        # the file's own time base, in ms (not shifted to start at zero)
        assert s[0, 0] == round(back.t[0] * 1000) and s[0, 0] > 12500
        np.testing.assert_array_equal(s[:, 1:4], np.rint(back.acc * 1000).astype(np.int64))
        if g is None:
            assert not s[:, 4:].any()
        else:
            np.testing.assert_array_equal(s[:, 4:], np.rint(back.gyro * 10).astype(np.int64))


def test_to_samples_rounding():
    rec = Recording(t=np.array([1.0004, 1.0106]), acc=np.array([[0.0015, -0.0015, 1.2344],
                                                                  [0, 0, 0]]),
                    gyro=np.array([[0.26, -0.26, 399.99], [0, 0, 0]]))
    s = to_samples(rec)
    assert s.tolist() == [[1000, 2, -2, 1234, 3, -3, 4000], [1011, 0, 0, 0, 0, 0, 0]]


def test_large_file_round_trips(tmp_path):
    """A 35 000-row file reads back whole (how fast: `repband bench`, csv_rows_per_s)."""
    n = 35000
    t = np.arange(n) / 104.0 + 3.0
    rng = np.random.default_rng(2)
    rec = Recording(t=t, acc=rng.normal(0, 1, (n, 3)), gyro=rng.normal(0, 30, (n, 3)),
                    meta={"rate_hz": "104"})
    p = tmp_path / "big.csv"
    write_csv(p, rec)
    back = read_csv(p)
    assert len(back.t) == n
    # every row, to the file's precision (t 0.1 ms, acceleration 1e-5 g, gyro 1e-3 deg/s)
    assert np.allclose(back.t, t, atol=6e-5) and np.allclose(back.acc, rec.acc, atol=6e-6)
    assert np.allclose(back.gyro, rec.gyro, atol=6e-4)
    assert len(to_samples(back)) == n
    # a bad line deep in a big file is still located
    lines = p.read_text().splitlines(keepends=True)
    lines[30001] = lines[30001].replace(",", ",x", 1)
    p.write_text("".join(lines))
    with pytest.raises(RecordingError) as ei:
        read_csv(p)
    assert ei.value.line == 30002
