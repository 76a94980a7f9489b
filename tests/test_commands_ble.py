"""The band commands (scan, pair, live, sync, record, config, time) against
`--device virtual` (the whole virtual band: firmware app, emulated hardware and radio,
its flash in a temp state dir, kept between commands), with a temp database; bleak's
failures mapped to one clear line (host/repband/commands_ble.py,
host/repband/device.py)."""
from __future__ import annotations

import asyncio
import json
import shutil

import pytest

from repband import cli
from repband import device as D
from repband.db import Database
from repband.recording import read_csv
from repband.link import control
from repband.virtual.device import VirtualClient, open_band
from repcore import protocol_host as P

V = ["--device", "virtual"]
BAND = "0A:0B:0C:0D:0E:01"


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv(D.STATE_ENV, str(tmp_path / "state"))
    monkeypatch.setenv(D.SPEED_ENV, "fast")
    monkeypatch.delenv(D.DEVICE_ENV, raising=False)
    return tmp_path


def run(*argv):
    return cli.main(list(argv))


def db_path(env):
    return str(env / "repband.db")


def paired(env):
    assert run("pair", *V, "--db", db_path(env)) == 0


def band_seqs(env):
    with Database(db_path(env)) as db:
        return [r[0] for r in db.conn.execute("SELECT seq FROM raw_records ORDER BY seq")]


def on_band(env) -> list[bytes]:
    """The records on the band's flash (between commands: the band is off)."""
    from app.app import _LOG_CAPACITY as LOG_CAPACITY
    from repcore.store import SessionLog

    log = SessionLog(str(env / "state" / "virtual-band" / "log"), LOG_CAPACITY)
    try:
        return [bytes(r) for r in log.read_from(0)]
    finally:
        log.close()


def band_config(env) -> dict:
    return json.loads((env / "state" / "virtual-band" / "config.json").read_text())


def faults_once(monkeypatch, **faults):
    """The emulation's link faults (Central.faults) on the next connection only."""
    connect = VirtualClient.connect
    left = [faults]

    async def faulty(self, *a, **kw):
        r = await connect(self, *a, **kw)
        if left:
            self.faults(**left.pop())
        else:
            self.clear_faults()
        return r

    monkeypatch.setattr(VirtualClient, "connect", faulty)


def test_scan_lists_the_virtual_band(env, capsys):
    assert run("scan", *V) == 0
    out = capsys.readouterr().out
    assert out.startswith(BAND) and "repband" in out
    assert run("scan", *V, "--json") == 0
    found = json.loads(capsys.readouterr().out)
    assert found[0]["repband"] and found[0]["virtual"] and not found[0]["known"]


def test_pair_then_sync_is_idempotent(env, capsys):
    # Before pairing the band refuses: one line saying what to do.
    assert run("sync", *V, "--db", db_path(env)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "repband pair" in err and "Traceback" not in err
    # A new band was worn through a simulated routine: a session waits on it.
    n = len(on_band(env))
    assert n > 20
    paired(env)
    out = capsys.readouterr().out
    assert f"paired with repband ({BAND})" in out and f"{n} records waiting" in out
    with Database(db_path(env)) as db:
        assert [d["address"] for d in db.devices()] == [BAND]
    assert run("sync", *V, "--db", db_path(env)) == 0
    assert f"{n} new records stored" in capsys.readouterr().out
    assert band_seqs(env) == list(range(1, n + 1))
    assert on_band(env) == []  # deleted on the band only after the commit
    assert run("sync", *V, "--db", db_path(env), "--json") == 0
    res = json.loads(capsys.readouterr().out)
    assert res["stored"] == 0 and res["complete"]
    assert band_seqs(env) == list(range(1, n + 1))
    # every record carries its device; the scan now marks the band as known
    with Database(db_path(env)) as db:
        assert db.conn.execute("SELECT count(DISTINCT device_id) FROM raw_records").fetchone()[0] == 1
        assert db.summary()["sessions"] == 1
    assert run("scan", *V, "--db", db_path(env), "--json") == 0
    assert json.loads(capsys.readouterr().out)[0]["known"]


def test_interrupted_sync_then_resumed_loses_nothing(env, capsys, monkeypatch):
    paired(env)
    expected = on_band(env)
    n = len(expected)
    faults_once(monkeypatch, disconnect_after=3, uuid=P.RECORDS_UUID)
    assert run("sync", *V, "--db", db_path(env), "--retries", "0") == 1
    err = capsys.readouterr().err
    assert "Run sync again to resume" in err and err.count("\n") == 1
    assert on_band(env) == expected  # nothing deleted on the band
    stored = len(band_seqs(env))
    assert 0 < stored < n
    assert run("sync", *V, "--db", db_path(env)) == 0
    assert f"{n - stored} new records stored" in capsys.readouterr().out
    with Database(db_path(env)) as db:
        dev = db.device_id(BAND)
        assert [db.raw(dev, s) for s in range(1, n + 1)] == expected


def test_sync_reconnects_by_itself(env, capsys, monkeypatch):
    paired(env)
    n = len(on_band(env))
    faults_once(monkeypatch, disconnect_after=2, uuid=P.RECORDS_UUID)
    assert run("sync", *V, "--db", db_path(env)) == 0
    cap = capsys.readouterr()
    assert "resuming" in cap.err and "1 reconnects" in cap.out
    assert band_seqs(env) == list(range(1, n + 1))


def test_device_reset(env, capsys):
    paired(env)
    assert run("sync", *V, "--db", db_path(env)) == 0
    n = len(band_seqs(env))
    # The band is wiped and used with another phone for a short session: its seqs
    # restart at 1.
    shutil.rmtree(env / "state" / "virtual-band")

    async def session(c):
        await control(c, P.CTRL_START)
        await asyncio.sleep(2.0)
        await control(c, P.CTRL_STOP)

    band = open_band(env / "state" / "virtual-band", routine=False)
    try:
        band.run_host(band.with_client(session, addr=b"\x02" * 6))
    finally:
        band.close()
    assert run("sync", *V, "--db", db_path(env)) == 1
    assert "pair again" in capsys.readouterr().err  # the wiped band forgot the bond
    # Issue 11: a wiped band has a new identity at the known address: recognised, never
    # merged into the old band's history, neither by pair nor by sync.
    for argv in (["pair"], ["sync"]):
        assert run(*argv, *V, "--db", db_path(env)) == 1
        err = capsys.readouterr().err
        assert "is not the band paired here" in err and "it was wiped" in err and err.count("\n") == 1
        assert "repband pair --replace" in err
    with Database(db_path(env)) as db:
        assert len(db.devices()) == 1 and db.record_count() == n
    assert run("pair", *V, "--db", db_path(env), "--replace") == 0
    assert "retired device 1" in capsys.readouterr().out
    assert run("sync", *V, "--db", db_path(env)) == 0
    with Database(db_path(env)) as db:
        devs = db.devices()
    assert len(devs) == 2 and devs[0]["retired_ms"] and not devs[1]["retired_ms"]
    assert devs[0]["records"] == n and devs[1]["records"] > 0
    assert devs[0]["identity"] != devs[1]["identity"] and len(devs[1]["identity"]) == 32


def test_identity_kept_and_an_unencrypted_link_refused(env, capsys, monkeypatch):
    """Issue 11: the host knew a band only by its address, and nothing checked that the
    link was encrypted before syncing."""
    paired(env)
    ident = (env / "state" / "virtual-band" / "identity").read_bytes()
    assert run("sync", *V, "--db", db_path(env)) == 0
    with Database(db_path(env)) as db:
        assert db.identity(BAND) == ident[:16].hex()
    assert (env / "state" / "virtual-band" / "identity").read_bytes() == ident  # the same across boots
    connect = VirtualClient.connect

    async def unencrypted(self, timeout=30.0, encrypt=True):
        return await connect(self, timeout, encrypt=False)

    monkeypatch.setattr(VirtualClient, "connect", unencrypted)
    capsys.readouterr()
    assert run("sync", *V, "--db", db_path(env)) == 1
    err = capsys.readouterr().err
    assert "not encrypted" in err and "refusing" in err and err.count("\n") == 1


def test_a_known_band_claiming_an_older_protocol_is_refused(env, capsys, monkeypatch):
    """Issue 11: a band at a known address that says it speaks protocol 1.1 has no
    identity to read, so the identity check (and the encrypted-link check that reading
    it is) was skipped, and its records merged into the paired band's history."""
    from repcore import protocol as FP

    paired(env)
    assert run("sync", *V, "--db", db_path(env)) == 0
    with Database(db_path(env)) as db:
        n = db.record_count()
    monkeypatch.setattr(FP, "VERSION_STRING", "1.1")  # what the virtual band's firmware reports
    capsys.readouterr()
    for argv in (["sync"], ["pair"]):
        assert run(*argv, *V, "--db", db_path(env)) == 1
        err = capsys.readouterr().err
        assert "protocol 1.1" in err and "identity" in err and err.count("\n") == 1, err
    with Database(db_path(env)) as db:
        assert db.record_count() == n and len(db.devices()) == 1
    assert run("pair", *V, "--db", db_path(env), "--replace") == 0  # taken as a new band, on purpose
    assert run("sync", *V, "--db", db_path(env)) == 0
    with Database(db_path(env)) as db:
        devs = db.devices()
    assert len(devs) == 2 and devs[0]["retired_ms"] and devs[0]["records"] == n and not devs[1]["identity"]


def test_forget_wipes_the_band_and_this_computer_forgets_it(env, capsys):
    paired(env)
    ident = (env / "state" / "virtual-band" / "identity").read_bytes()
    assert run("forget", *V, "--db", db_path(env)) == 1  # a session waits on the band
    assert "not synced yet" in capsys.readouterr().err and on_band(env)
    assert run("sync", *V, "--db", db_path(env)) == 0
    assert run("forget", *V, "--db", db_path(env)) == 0
    out = capsys.readouterr().out
    assert "wiped" in out and "retired device 1" in out
    assert not (env / "state" / "virtual-band" / "bonds.json").exists() or \
        (env / "state" / "virtual-band" / "bonds.json").read_text() in ("[]", "")
    with Database(db_path(env)) as db:
        assert db.devices()[0]["retired_ms"] and db.record_count() > 0  # the history stays
    # the band restarts as a new one: a new identity, no bond, pairable by anyone
    assert run("pair", *V, "--db", db_path(env)) == 0
    assert (env / "state" / "virtual-band" / "identity").read_bytes() != ident
    with Database(db_path(env)) as db:
        assert len(db.devices()) == 2


def test_live_prints_counts(env, capsys):
    paired(env)
    capsys.readouterr()
    assert run("live", *V, "--once") == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("no session | bridges 0")
    # No session running: it says how to start one and how to leave
    assert run("live", *V, "--duration", "2") == 0
    err = capsys.readouterr().err
    assert "no session running: start one with a press of the band's button, or `repband live --start`" in err
    assert "Ctrl-C leaves" in err
    # The band is worn through the routine while `live` runs: the counts go up.
    assert run("live", *V, "--start", "--until-end") == 0
    lines = capsys.readouterr().out.splitlines()
    running = [line for line in lines if line.startswith("session running")]
    assert len(running) > 10 and len(set(running)) > 10
    last = lines[-1]
    assert last.startswith("no session") and "bridges 0" not in last
    # the session the band recorded meanwhile syncs like any other
    assert run("sync", *V, "--db", db_path(env)) == 0
    with Database(db_path(env)) as db:
        assert db.summary()["sessions"] == 2
    capsys.readouterr()
    assert run("live", *V, "--json", "--duration", "200") == 0  # the band's seconds
    cap = capsys.readouterr()
    states = [json.loads(line) for line in cap.out.splitlines()]
    assert cap.err == ""  # JSON: no hint either
    cells = ("bridge", "clam_left", "clam_right", "stretch_left", "stretch_right")
    assert not states[0]["session_active"] and states[-1]["time_set"]
    assert states[-1]["session_active"] and sum(states[-1][k] for k in cells) > 0  # the routine began


def test_record_writes_a_valid_csv(env, capsys, monkeypatch):
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
    faults_once(monkeypatch, drop=[3, 4], uuid=P.RAW_UUID)
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
    want = {"leg": "left", "placement": "hip", "mode": "clam", "target_reps": 12, "target_hold_s": 40}
    assert {k: band_config(env)[k] for k in want} == want  # the firmware saved them
    assert run("config", *V, "--json") == 0
    got = json.loads(capsys.readouterr().out)
    assert got["settings"]["leg"] == "left" and 0 < got["status"]["battery"] <= 100
    # a target out of the band's range is refused before connecting, with the range
    for flag, value, words in (("--target-reps", "0", "from 1 to 100"), ("--target-reps", "500", "from 1 to 100"),
                               ("--target-hold", "4", "from 5 to 300 s"), ("--target-reps", "ten", "from 1 to 100")):
        with pytest.raises(SystemExit) as exit_:
            run("config", *V, flag, value)
        assert exit_.value.code == 2
        assert words in capsys.readouterr().err
    assert band_config(env)["target_reps"] == 12


def test_target_ranges_are_the_bands():
    """The CLI refuses what the band's config refuses (firmware/app/config.py)."""
    from app import config as band_config_spec

    from repband import commands_ble as C

    spec = band_config_spec._SPEC
    assert spec["target_reps"][1:] == C.TARGET_REPS and spec["target_hold_s"][1:] == C.TARGET_HOLD_S


def test_config_shows_what_the_band_holds(env, capsys):
    """Protocol 1.1: `config` reads the settings from the band, not from this computer's
    memory: a setting changed on the band's flash (another computer, a reflash) shows,
    and one target given alone keeps the band's other target."""
    paired(env)
    cfg_path = env / "state" / "virtual-band" / "config.json"
    cfg = band_config(env)
    cfg.update(leg="left", target_hold_s=45, buzzer=False)
    cfg_path.write_text(json.dumps(cfg))  # the band is off between commands
    capsys.readouterr()
    assert run("config", *V, "--json") == 0
    got = json.loads(capsys.readouterr().out)["settings"]
    assert got["source"] == "band"
    assert {k: got[k] for k in ("leg", "target_hold_s", "buzzer", "vibration")} == {
        "leg": "left", "target_hold_s": 45, "buzzer": False, "vibration": True}
    assert run("config", *V, "--target-reps", "14") == 0
    out = capsys.readouterr().out
    assert "set target_reps=14, target_hold_s=45" in out
    assert "settings on the band: leg=left, placement=thigh, mode=auto, target_reps=14, " \
           "target_hold_s=45" in out and "feedback vibration+led" in out
    assert band_config(env)["target_hold_s"] == 45


def test_config_on_a_band_speaking_protocol_1_0(env, capsys, monkeypatch):
    """Firmware from before the settings characteristic: `config` shows what this
    computer wrote, and says that the band cannot report its own."""
    from repcore import protocol as band_protocol

    monkeypatch.setattr(band_protocol, "VERSION_STRING", "1.0")
    paired(env)
    assert run("config", *V, "--leg", "left") == 0
    capsys.readouterr()
    assert run("config", *V) == 0
    out = capsys.readouterr().out
    assert "settings written from this computer (the band's firmware speaks protocol 1.0 " \
           "and cannot report its own): leg=left" in out
    assert run("config", *V, "--json") == 0
    assert json.loads(capsys.readouterr().out)["settings"]["source"] == "this computer"


def test_time_sets_the_band_clock(env, capsys):
    paired(env)
    assert run("time", *V, "--at", "2030-01-02T03:04:05Z") == 0  # read back through CTS
    assert f"{BAND}): clock set to 2030-01-02 03:04:05 UTC" in capsys.readouterr().out
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


def _band_on_for_a_while(monkeypatch, press=False):
    """The virtual band as the commands get it, but switched on 2 minutes 10 s ago
    (and, with `press`, its button pressed just now): past its boot pairing window."""
    import repband.virtual.device as vd

    real = vd.open_band

    def opened(*a, **kw):
        band = real(*a, **kw)
        band.advance(band.clock.s + 130.0)
        if press:
            band.press(0, ms=150)
            band.advance(band.clock.s + 0.5)
        return band

    monkeypatch.setattr(vd, "open_band", opened)


def test_pair_refused_outside_the_pairing_window(env, capsys, monkeypatch):
    # The band is bonded to another phone already.
    band = open_band(env / "state" / "virtual-band")
    try:
        async def phone(c):
            assert c.is_connected and c.band.service.encrypted
        band.run_host(band.with_client(phone, addr=b"\x0b" * 6))
        band.advance(band.clock.s + 0.5)  # it writes the bond to flash
    finally:
        band.close()
    cfg = band_config(env)
    cfg["sleep_idle_s"] = 600  # lying on the desk, awake
    (env / "state" / "virtual-band" / "config.json").write_text(json.dumps(cfg))
    _band_on_for_a_while(monkeypatch)
    assert run("pair", *V, "--db", db_path(env)) == 1
    err = capsys.readouterr().err
    assert err == ("repband: the band refused to pair: press its button (or switch it on) and run "
                   "`repband pair` within 2 minutes\n")
    bonds = env / "state" / "virtual-bonds.json"
    assert not bonds.exists() or BAND not in json.loads(bonds.read_text())  # the refused key is forgotten
    with Database(db_path(env)) as db:
        assert db.devices() == []
    assert run("sync", *V, "--db", db_path(env)) == 1  # not paired
    assert "repband pair" in capsys.readouterr().err
    # Pressing the button opens the window: the same command pairs.
    _band_on_for_a_while(monkeypatch, press=True)
    paired(env)
    assert f"paired with repband ({BAND})" in capsys.readouterr().out
    _band_on_for_a_while(monkeypatch)  # and the bond works outside the window
    assert run("sync", *V, "--db", db_path(env)) == 0


def test_setup_reaches_the_band_at_pairing_and_after_each_setup(env, capsys, monkeypatch):
    """`repband setup` chose the leg, the placement and the hold target: pairing gives
    them to the band and says so; so does the first sync after a new set-up, but not
    every sync (a leg the band switched itself stays)."""
    cfg = env / "settings.json"
    monkeypatch.setenv("REPBAND_CONFIG", str(cfg))
    assert run("setup", "-y", "--leg", "left", "--placement", "hip", "--hold-seconds", "40") == 0
    capsys.readouterr()
    paired(env)
    out = capsys.readouterr().out
    assert "told the band what `repband setup` chose: the left hip, stretch holds of 40 s" in out
    assert {k: band_config(env)[k] for k in ("leg", "placement", "target_hold_s")} == {
        "leg": "left", "placement": "hip", "target_hold_s": 40}
    # the band switched to the other leg by itself: a sync leaves that alone
    c = band_config(env)
    c["leg"] = "right"
    (env / "state" / "virtual-band" / "config.json").write_text(json.dumps(c))
    assert run("sync", *V, "--db", db_path(env)) == 0
    assert "told the band" not in capsys.readouterr().out and band_config(env)["leg"] == "right"
    # a new set-up reaches the band at the next sync, once
    assert run("setup", "-y", "--placement", "thigh") == 0
    capsys.readouterr()
    assert run("sync", *V, "--db", db_path(env), "--json") == 0
    assert json.loads(capsys.readouterr().out)["told_band"].endswith("the left thigh, stretch holds of 40 s")
    assert band_config(env)["placement"] == "thigh" and band_config(env)["leg"] == "left"
    assert run("sync", *V, "--db", db_path(env), "--json") == 0
    assert json.loads(capsys.readouterr().out)["told_band"] is None


def test_a_band_refused_by_its_identity_is_told_nothing(env, capsys, monkeypatch):
    """Issue 11: sync and pair gave a new `repband setup` to the band before checking its
    identity, so another band at the address got the person's set-up, and the host
    noted it as given: the paired band never got it."""
    monkeypatch.setenv("REPBAND_CONFIG", str(env / "settings.json"))
    assert run("setup", "-y", "--leg", "left", "--placement", "hip", "--hold-seconds", "40") == 0
    paired(env)
    with Database(db_path(env)) as db:
        real = db.identity(BAND)
        db.set_identity(db.device_id(BAND), "00" * 16)  # as if this band were not the one paired
    assert run("setup", "-y", "--placement", "thigh") == 0
    capsys.readouterr()
    for argv in (["sync"], ["pair"]):
        assert run(*argv, *V, "--db", db_path(env)) == 1
        assert "is not the band paired here" in capsys.readouterr().err
        assert band_config(env)["placement"] == "hip"  # nothing given to a band not known
    with Database(db_path(env)) as db:
        db.set_identity(db.device_id(BAND), real)
    assert run("sync", *V, "--db", db_path(env), "--json") == 0
    assert json.loads(capsys.readouterr().out)["told_band"].endswith("the left thigh, stretch holds of 40 s")


def test_pair_without_setup_says_where_the_settings_come_from(env, capsys, monkeypatch):
    monkeypatch.setenv("REPBAND_CONFIG", str(env / "none.json"))
    paired(env)
    out = capsys.readouterr().out
    assert "the band keeps its own leg and placement" in out and f"made the database {db_path(env)}" in out
    assert out.rstrip().endswith("Next: repband sync --device virtual")


# bleak's BleakBluetoothNotAvailableError as each backend raises it (bleak 3.1:
# backends/bluezdbus/manager.py, backends/corebluetooth/CentralManagerDelegate.py,
# backends/winrt/scanner.py): (platform, reason, bleak's message, words of our line)
_NOT_AVAILABLE = [
    ("linux", "DENIED_BY_SYSTEM", "Authentication failed", "`bluetooth` group"),
    ("linux", "NO_BLUETOOTH", "No Bluetooth adapters found.", "`bluetoothctl list` shows none"),
    ("linux", "NO_BLE_CENTRAL_ROLE", "No Bluetooth adapters with BLE 'central' role found.", "Bluetooth 4.0 (LE)"),
    ("linux", "POWERED_OFF", "No powered Bluetooth adapters found. Turn on Bluetooth and try again.",
     "`bluetoothctl power on`"),
    ("darwin", "NO_BLUETOOTH", "Bluetooth is unsupported", "System Information > Bluetooth"),
    ("darwin", "DENIED_BY_USER", "Bluetooth access is denied by the user for the current application. Check macOS "
                                 "privacy settings.", "Privacy & Security > Bluetooth"),
    ("darwin", "DENIED_BY_SYSTEM", "Bluetooth access is restricted for the current application, e.g. by parental "
                                   "controls. Ask the admin to remove this restriction.",
     "Privacy & Security > Bluetooth"),
    ("darwin", "DENIED_BY_UNKNOWN", "Bluetooth is not authorized for an unknown reason. Check macOS privacy "
                                    "settings.", "Privacy & Security > Bluetooth"),
    ("darwin", "POWERED_OFF", "Bluetooth device is turned off", "Control Centre > Bluetooth"),
    ("darwin", "UNKNOWN", "Connection to the Bluetooth system service was lost. Currently trying to reconnect...",
     "wait a few seconds"),
    ("win32", "NO_BLUETOOTH", "No Bluetooth adapter found", "Device Manager > Bluetooth"),
    ("win32", "NO_BLE_CENTRAL_ROLE", "BLE 'central' role not supported on this adapter", "Bluetooth 4.0 (LE)"),
    ("win32", "POWERED_OFF", "Bluetooth radio is not powered on. Turn on Bluetooth and try again.",
     "Settings > Bluetooth & devices"),
]


@pytest.mark.parametrize("platform, reason, message, words", _NOT_AVAILABLE,
                         ids=[f"{p}-{r}" for p, r, _m, _w in _NOT_AVAILABLE])
def test_bluetooth_not_available_on_each_platform(env, capsys, monkeypatch, platform, reason, message, words):
    """What is missing and how to fix it, on the platform the person is on: one line,
    status 2 (repband.exits.FIX), for scan, pair and sync alike, nothing stored."""
    from bleak.exc import BleakBluetoothNotAvailableError, BleakBluetoothNotAvailableReason

    exc = BleakBluetoothNotAvailableError(message, BleakBluetoothNotAvailableReason[reason])

    async def boom(*a, **k):
        raise exc

    monkeypatch.setattr(D, "_platform", lambda: platform)
    monkeypatch.setattr(D, "_bleak_discover", boom)
    monkeypatch.setattr(D, "_bleak_find", boom)
    for argv in (["scan"], ["pair", "--db", db_path(env)], ["sync", "--device", "AA:BB:CC:DD:EE:FF", "--db", db_path(env)]):
        assert run(*argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("repband: ") and err.count("\n") == 1 and words in err, (argv, err)
        assert "try again" in err and "Bluetooth error" not in err
    assert not (env / "repband.db").exists()


def test_no_system_dbus(env, capsys, monkeypatch):
    """No D-Bus on the computer (a container, a minimal system): dbus-fast fails to
    connect before bleak can say anything; that is what is missing, said as such."""
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={env / 'no-such-socket'}")
    monkeypatch.setattr(D, "_platform", lambda: "linux")
    for argv in (["scan", "--scan-timeout", "1"], ["sync", "--device", "AA:BB:CC:DD:EE:FF", "--timeout", "1"]):
        assert run(*argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("repband: the Bluetooth service cannot be reached: this computer's system D-Bus") \
            and err.count("\n") == 1, err


def test_not_paired_over_bluez_says_so():
    from bleak.exc import BleakDBusError

    assert D.explain(BleakDBusError("org.bluez.Error.NotPermitted", ["Not paired"])).args[0].startswith(
        "this computer is not paired with the band: run `repband pair`")


def test_the_search_for_a_band_counts_its_seconds(env, capsys, monkeypatch):
    """A band that is not there takes the whole --timeout to say so: meanwhile a
    terminal shows what is searched for and for how long (nothing when not a terminal)."""
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    async def absent(spec, timeout):
        await asyncio.sleep(timeout)
        return None

    monkeypatch.setattr(D, "_bleak_find", absent)
    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    assert run("sync", "--device", "AA:BB:CC:DD:EE:FF", "--timeout", "3", "--db", db_path(env)) == 1
    shown = term.getvalue()
    assert "looking for the band AA:BB:CC:DD:EE:FF: " in shown and "of up to 3 s" in shown
    assert shown.rstrip().endswith("no repband band found at 'AA:BB:CC:DD:EE:FF': wake the band (press its "
                                   "button), keep it within a few metres, check it shows up in `repband scan`, "
                                   "then try again (or use --device virtual)")
