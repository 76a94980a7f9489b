"""What a person meets when something is wrong, as they meet it: the `repband` command run
as a process, with its own user folders. Every error is one line `repband: ...` on
standard error, no traceback, the documented exit status (repband.exits), and nothing
created: no database, no folder, no file."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from repband import exits
from repband.db import Database

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def home(tmp_path):
    """A fresh user: empty data, config and state folders (inside tmp_path/home)."""
    h = tmp_path / "home"
    h.mkdir()
    return h


def repband(home: Path, *argv, cwd: Path | None = None, timeout: float = 120,
            stdout=None) -> subprocess.CompletedProcess:
    """`repband ARGV` as a fresh user runs it; its output captured (or sent to `stdout`)."""
    env = dict(os.environ, HOME=str(home), XDG_DATA_HOME=str(home / ".local/share"),
               XDG_CONFIG_HOME=str(home / ".config"), XDG_STATE_HOME=str(home / ".local/state"),
               REPBAND_VIRTUAL_SPEED="fast", PYTHONPATH=os.pathsep.join([str(ROOT / "host"), str(ROOT / "firmware")]))
    for k in ("REPBAND_STATE_DIR", "REPBAND_CONFIG", "REPBAND_DEVICE", "DBUS_SYSTEM_BUS_ADDRESS"):
        env.pop(k, None)
    return subprocess.run([sys.executable, "-m", "repband.cli", *map(str, argv)], cwd=cwd or home, env=env,
                          stdout=subprocess.PIPE if stdout is None else stdout, stderr=subprocess.PIPE, text=True,
                          timeout=timeout)


def tree(*roots: Path) -> set[str]:
    return {str(p) for r in roots for p in r.rglob("*")} | {str(r) for r in roots if r.exists()}


def one_line_error(proc, status: int, *words: str) -> str:
    err = proc.stderr
    assert proc.returncode == status, (proc.returncode, err, proc.stdout)
    assert err.startswith("repband: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for w in words:
        assert w in err, (w, err)
    return err


READERS = [["sessions"], ["stats"], ["report"], ["export", "--format", "csv"], ["db"], []]


@pytest.mark.parametrize("argv", READERS + [["sync", "--device", "virtual"], ["demo"]], ids=str)
def test_db_that_is_a_folder(home, argv):
    folder = home / "data"
    folder.mkdir()
    before = tree(home)
    proc = repband(home, *argv, "--db", folder)
    one_line_error(proc, exits.FIX, "is a folder, not a database file")
    assert tree(home) == before


@pytest.mark.parametrize("argv", READERS + [["sync", "--device", "virtual"], ["pair", "--device", "virtual"],
                                            ["demo"]], ids=str)
def test_db_in_a_folder_that_does_not_exist(home, argv):
    before = tree(home)
    proc = repband(home, *argv, "--db", home / "no" / "such" / "x.db")
    one_line_error(proc, exits.FIX, "does not exist")
    assert tree(home) == before  # no folder made, and the virtual band was never switched on


@pytest.mark.parametrize("argv", READERS, ids=str)
def test_reading_commands_on_a_fresh_machine_create_nothing(home, argv):
    before = tree(home)
    proc = repband(home, *argv)
    if argv:
        one_line_error(proc, exits.FIX, "no database yet at", "repband sync")
    else:  # the state screen says so and goes on
        assert proc.returncode == exits.OK and "Database: none yet" in proc.stdout and not proc.stderr
    assert tree(home) == before


def test_mistyped_db_is_not_created(home):
    proc = repband(home, "db", "--db", "typo.db")
    one_line_error(proc, exits.FIX, f"no database yet at {home / 'typo.db'}")
    assert not (home / "typo.db").exists()


def test_a_file_that_is_not_a_database(home):
    bad = home / "notdb.txt"
    bad.write_text("shopping list\n")
    for argv in (["db"], ["sessions"], ["stats"]):
        one_line_error(repband(home, *argv, "--db", bad), exits.FIX, str(bad))
    assert bad.read_text() == "shopping list\n"
    # the demo makes a database of its own: it leaves an existing file alone
    one_line_error(repband(home, "demo", "--db", bad), exits.FIX, "exists")
    assert bad.read_text() == "shopping list\n"


def test_a_path_the_system_refuses(home):
    proc = repband(home, "simulate", "--out", "/proc/sim")
    one_line_error(proc, exits.FIX, "/proc/sim")


def test_period_the_wrong_way_round(home, tmp_path):
    db = home / "r.db"
    Database(db).close()
    before = tree(home)
    proc = repband(home, "stats", "--db", db, "--since", "2026-03-10", "--until", "2026-03-01")
    one_line_error(proc, exits.FIX, "--since 2026-03-10 is after --until 2026-03-01")
    assert tree(home) == before


@pytest.mark.parametrize("where", [["--out", "no/such/r.html"], ["--png", "no/such/charts"]], ids=str)
def test_report_into_a_folder_that_does_not_exist(home, where):
    """A mistyped report or chart path makes no folder tree (and no file elsewhere):
    refused before any work, like a --db in a missing folder."""
    from repband import history as H

    db = home / "r.db"
    with Database(db) as d:
        H.fill_demo(d, 3, seed=1)
    before = tree(home)
    proc = repband(home, "report", "--db", db, *where)
    one_line_error(proc, exits.FIX, f"the folder {home / 'no' / 'such'} does not exist")
    assert tree(home) == before


@pytest.mark.parametrize("argv", [[], ["sessions"], ["scan", "--device", "virtual"], ["--version"]], ids=str)
def test_output_into_a_pipe_closed_early(home, argv):
    """`repband sessions | head -1`: the reader stops reading; repband stops quietly
    (no "Broken pipe; check the path" error, no traceback) with status OK."""
    db = home / "r.db"
    Database(db).close()
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before repband writes a byte
    try:
        proc = repband(home, *argv, *([] if argv == ["--version"] else ["--db", db]), stdout=write_end, timeout=60)
    finally:
        os.close(write_end)
    assert (proc.returncode, proc.stderr) == (exits.OK, "")


def test_version(home):
    from repband import __version__

    proc = repband(home, "--version")
    assert proc.returncode == 0 and proc.stdout.startswith(f"repband {__version__} (band protocol ")
