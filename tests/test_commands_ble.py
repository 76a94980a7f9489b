"""The band commands (scan, pair, live, sync, record, config, time) against
`--device virtual`, with a temp database and state dir; bleak's failures mapped to one
clear line (host/repband/commands_ble.py, host/repband/device.py)."""
from __future__ import annotations

import json
import shutil

import pytest

from repband import cli
from repband import device as D
from repband.db import Database
from repband.recording import read_csv
from repcore import protocol as P

V = ["--device", "virtual"]


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv(D.STATE_ENV, str(tmp_path / "state"))
    monkeypatch.setenv(D.SPEED_ENV, "fast")
    monkeypatch.delenv(D.DEVICE_ENV, raising=False)
    D.forget_virtual_bands()
    yield tmp_path
    D.forget_virtual_bands()


def run(*argv):
    return cli.main(list(argv))


def db_path(env):
    return str(env / "repband.db")


def paired(env):
    assert run("pair", *V, "--db", db_path(env)) == 0


def band_seqs(env):
    with Database(db_path(env)) as db:
        return [r[0] for r in db.conn.execute("SELECT seq FROM raw_records ORDER BY seq")]


def test_scan_lists_the_virtual_band(env, capsys):
    assert run("scan", *V) == 0
    out = capsys.readouterr().out
    assert "0A:0B:0C:0D:0E:01" in out and "repband-virtual" in out
    assert run("scan", *V, "--json") == 0
    found = json.loads(capsys.readouterr().out)
    assert found[0]["repband"] and found[0]["virtual"] and not found[0]["known"]


def test_pair_then_sync_is_idempotent(env, capsys):
    # Before pairing the band refuses: one line saying what to do.
    assert run("sync", *V, "--db", db_path(env)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "repband pair" in err and "Traceback" not in err
    paired(env)
    out = capsys.readouterr().out
    assert "paired with repband-virtual" in out and "45 records waiting" in out
    with Database(db_path(env)) as db:
        assert [d["address"] for d in db.devices()] == ["0A:0B:0C:0D:0E:01"]
    assert run("sync", *V, "--db", db_path(env)) == 0
    assert "45 new records stored" in capsys.readouterr().out
    assert band_seqs(env) == list(range(1, 46))
    band = D.virtual_band()
    assert band.log.count_from(0) == 0  # deleted on the band only after the commit
    assert run("sync", *V, "--db", db_path(env), "--json") == 0
    res = json.loads(capsys.readouterr().out)
    assert res["stored"] == 0 and res["complete"]
    assert band_seqs(env) == list(range(1, 46))
    # every record carries its device; the scan now marks the band as known
    with Database(db_path(env)) as db:
        assert db.conn.execute("SELECT count(DISTINCT device_id) FROM raw_records").fetchone()[0] == 1
        assert db.summary()["sessions"] == 1
    assert run("scan", *V, "--db", db_path(env), "--json") == 0
    assert json.loads(capsys.readouterr().out)[0]["known"]


def test_interrupted_sync_then_resumed_loses_nothing(env, capsys):
    paired(env)
    band = D.virtual_band()
    expected = [bytes(r) for r in band.log.read_from(0)]
    band.central_faults = {"disconnect_after": 3, "uuid": P.RECORDS_UUID}
    assert run("sync", *V, "--db", db_path(env), "--retries", "0") == 1
    err = capsys.readouterr().err
    assert "Run sync again to resume" in err and err.count("\n") == 1
    assert band.log.count_from(0) == 45  # nothing deleted on the band
    stored = len(band_seqs(env))
    assert stored < 45
    assert run("sync", *V, "--db", db_path(env)) == 0
    assert f"{45 - stored} new records stored" in capsys.readouterr().out
    with Database(db_path(env)) as db:
        dev = db.device_id(band.address)
        assert [db.raw(dev, s) for s in range(1, 46)] == expected


def test_sync_reconnects_by_itself(env, capsys):
    paired(env)
    D.virtual_band().central_faults = {"disconnect_after": 2, "uuid": P.RECORDS_UUID}
    assert run("sync", *V, "--db", db_path(env)) == 0
    cap = capsys.readouterr()
    assert "resuming" in cap.err and "1 reconnects" in cap.out
    assert band_seqs(env) == list(range(1, 46))


def test_device_reset(env, capsys, monkeypatch):
    paired(env)
    assert run("sync", *V, "--db", db_path(env)) == 0
    # The band is wiped and fills with another session: its seqs restart at 1.
    D.forget_virtual_bands()
    shutil.rmtree(env / "state" / "virtual-band")
    monkeypatch.setattr(D, "VIRTUAL_FACTORY", lambda root: D.VirtualBand(root, seed=2))
    assert run("sync", *V, "--db", db_path(env)) == 1
    assert "pair again" in capsys.readouterr().err  # the wiped band forgot the bond
    paired(env)
    assert run("sync", *V, "--db", db_path(env)) == 1
    err = capsys.readouterr().err
    assert "repband sync --device-reset" in err and err.count("\n") == 1
    assert run("sync", *V, "--db", db_path(env), "--device-reset") == 0
    with Database(db_path(env)) as db:
        devs = db.devices()
    assert len(devs) == 2 and devs[0]["retired_ms"] and not devs[1]["retired_ms"]
    assert devs[0]["records"] == 45 and devs[1]["records"] > 0


def test_live_prints_counts(env, capsys):
    paired(env)
    capsys.readouterr()
    assert run("live", *V, "--once") == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("no session | bridges 0")
    assert run("live", *V, "--start", "--until-end") == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("session running") for line in lines)
    last = lines[-1]
    assert last.startswith("no session") and "bridges 0" not in last
    # the session the band recorded meanwhile syncs like any other
    assert run("sync", *V, "--db", db_path(env)) == 0
    with Database(db_path(env)) as db:
        assert db.summary()["sessions"] == 2
    capsys.readouterr()
    assert run("live", *V, "--json", "--duration", "0.2") == 0
    d = json.loads(capsys.readouterr().out.splitlines()[0])
    assert d["bridge"] > 0 and d["time_set"]


def test_record_writes_a_valid_csv(env, capsys):
    paired(env)
    out = env / "rec.csv"
    assert run("record", *V, "-o", str(out), "--samples", "400", "--leg", "left") == 0
    assert "wrote 400 samples" in capsys.readouterr().out
    rec = read_csv(str(out))
    assert len(rec.t) == 400 and rec.gyro is not None and rec.meta["leg"] == "left"
    assert abs(float(rec.acc[0] @ rec.acc[0]) ** 0.5 - 1.0) < 0.3  # about 1 g
    dt = rec.t[1:] - rec.t[:-1]
    assert dt.max() < 0.011  # no gaps: 104 Hz throughout
    # lost notifications show as gaps, reported; the file stays valid
    D.virtual_band().central_faults = {"drop": [3, 4], "uuid": P.RAW_UUID}
    assert run("record", *V, "-o", str(out), "--samples", "300", "--no-gyro") == 0
    msg = capsys.readouterr().out
    assert "2 packets lost in 1 gaps" in msg
    rec = read_csv(str(out))
    assert len(rec.t) == 300 and rec.gyro is None
    assert (rec.t[1:] - rec.t[:-1]).max() > 0.1


def test_config_through_the_control_point(env, capsys):
    paired(env)
    capsys.readouterr()
    assert run("config", *V, "--leg", "left", "--placement", "hip", "--target-reps", "12",
               "--target-hold", "40", "--mode", "clam") == 0
    out = capsys.readouterr().out
    assert "set mode=clam, leg=left, placement=hip, target_reps=12, target_hold_s=40" in out
    band = D.virtual_band()
    assert {k: band.cfg[k] for k in ("leg", "placement", "mode", "target_reps", "target_hold_s")} == \
        {"leg": "left", "placement": "hip", "mode": "clam", "target_reps": 12, "target_hold_s": 40}
    ops = [op for op, _p in band.controls]
    assert ops == [P.CTRL_MODE, P.CTRL_LEG, P.CTRL_PLACEMENT, P.CTRL_TARGETS]
    assert run("config", *V, "--json") == 0
    got = json.loads(capsys.readouterr().out)
    assert got["settings"]["leg"] == "left" and got["status"]["battery"] == 87
    # the band refuses a target out of its range: one line, exit 1
    assert run("config", *V, "--target-reps", "500") == 1
    err = capsys.readouterr().err
    assert "refused 'targets': invalid parameter" in err and err.count("\n") == 1
    assert band.cfg["target_reps"] == 12


def test_time_sets_the_band_clock(env, capsys):
    paired(env)
    band = D.virtual_band()
    band.epoch_s = 0
    assert run("time", *V, "--at", "2030-01-02T03:04:05Z") == 0
    assert "clock set to 2030-01-02 03:04:05 UTC" in capsys.readouterr().out
    unix = 1893553445
    assert abs(band.epoch_s + band.ble.now_ms() // 1000 - unix) <= 2
    assert band.svc.flags & P.LIVE_TIME_SET
    assert run("time", *V, "--at", "yesterday") == 1
    assert "ISO 8601" in capsys.readouterr().err


# -- bleak's failures: one line with the remedy ------------------------------------------------


def _bleak_errors():
    from bleak.exc import (BleakBluetoothNotAvailableError, BleakBluetoothNotAvailableReason,
                           BleakDBusError, BleakDeviceNotFoundError, BleakError)

    R = BleakBluetoothNotAvailableReason
    return [
        (BleakBluetoothNotAvailableError("No powered Bluetooth adapters found. Turn on Bluetooth and try again.",
                                         R.POWERED_OFF), 2, "turned off"),
        (BleakDBusError("org.bluez.Error.NotReady", ["Resource Not Ready"]), 2, "turned off"),
        (BleakError("Bluetooth device is turned off"), 2, "turned off"),
        (BleakBluetoothNotAvailableError("Bluetooth access is denied by the user for the current application.",
                                         R.DENIED_BY_USER), 2, "no permission"),
        (BleakDBusError("org.freedesktop.DBus.Error.AccessDenied", ["Rejected send message"]), 2, "no permission"),
        (BleakBluetoothNotAvailableError("No Bluetooth adapters found.", R.NO_BLUETOOTH), 2, "no Bluetooth adapter"),
        (BleakDBusError("org.freedesktop.DBus.Error.ServiceUnknown",
                        ["The name org.bluez was not provided by any .service files"]), 2, "not running"),
        (FileNotFoundError(2, "No such file or directory: '/run/dbus/system_bus_socket'"), 2, "not running"),
        (BleakDeviceNotFoundError("AA:BB:CC:DD:EE:FF", "Device with address AA:BB:CC:DD:EE:FF was not found."),
         1, "no repband band found"),
    ]


@pytest.mark.parametrize("case", range(9))
def test_bleak_errors_are_one_clear_line(env, capsys, monkeypatch, case):
    exc, code, words = _bleak_errors()[case]

    async def boom(*a, **k):
        raise exc

    monkeypatch.setattr(D, "_bleak_discover", boom)
    monkeypatch.setattr(D, "_bleak_find", boom)
    for argv in (["scan"], ["sync", "--device", "AA:BB:CC:DD:EE:FF", "--db", db_path(env)], ["live"]):
        assert run(*argv) == code, argv
        err = capsys.readouterr().err
        assert err.startswith("repband: ") and err.count("\n") == 1 and words in err, err
        assert "Traceback" not in err and ("try again" in err or "then try" in err)


def test_no_band_found(env, capsys, monkeypatch):
    async def nothing(*a, **k):
        return None

    async def empty(*a, **k):
        return []

    monkeypatch.setattr(D, "_bleak_find", nothing)
    monkeypatch.setattr(D, "_bleak_discover", empty)
    assert run("pair", "--device", "repband") == 1
    err = capsys.readouterr().err
    assert "no repband band found at 'repband'" in err and "press its button" in err
    assert run("scan") == 1
    assert "no repband band found" in capsys.readouterr().err


def test_connection_retries_map_to_a_clear_line(env, capsys, monkeypatch):
    from bleak_retry_connector import BleakNotFoundError

    class Dev:
        address = "AA:BB:CC:DD:EE:FF"
        name = "repband"

    async def find(*a, **k):
        return Dev()

    calls = []

    async def connect(device, attempts, disconnected_callback=None):
        calls.append(attempts)
        raise BleakNotFoundError("repband - AA:BB:CC:DD:EE:FF: Failed to connect after 3 attempt(s)")

    monkeypatch.setattr(D, "_bleak_find", find)
    monkeypatch.setattr(D, "_bleak_connect", connect)
    assert run("time", "--device", "AA:BB:CC:DD:EE:FF", "--attempts", "3") == 1
    err = capsys.readouterr().err
    assert calls == [3] and "no repband band found" in err and err.count("\n") == 1
