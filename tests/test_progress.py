"""Progress on anything that takes more than a moment: a tqdm bar on a terminal, and
nothing when the output goes to a pipe or a file, or with --json (repband.progress)."""
from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(tmp_path, argv, terminal: bool) -> tuple[int, str, str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "host"), str(ROOT / "firmware")]),
               XDG_DATA_HOME=str(tmp_path / "data"))
    master = slave = None
    if terminal:  # standard error on a pseudo-terminal, as in a person's shell (100 columns)
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "repband.cli", *argv], stdout=subprocess.PIPE,
                            stderr=slave if terminal else subprocess.PIPE, env=env)
    err = b""
    if terminal:
        os.close(slave)
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the other end closed
                break
            if not chunk:
                break
            err += chunk
        os.close(master)
        out = proc.stdout.read()
        proc.wait(300)
    else:
        out, err = proc.communicate(timeout=300)
    return proc.returncode, out.decode(), err.decode(errors="replace")


def test_a_bar_on_a_terminal_and_none_when_piped_or_json(tmp_path):
    argv = ["demo", "--days", "1", "--end", "2026-05-02"]
    rc, out, err = _run(tmp_path, argv + ["--db", str(tmp_path / "a.db")], terminal=True)
    assert rc == 0 and "demo: 100%" in err and "1/1" in err and "day" in err, err  # "demo: 100%|███| 1/1 [...]"
    assert "\r" in err and "Explore it" in out
    rc, out, err = _run(tmp_path, argv + ["--db", str(tmp_path / "b.db")], terminal=False)
    assert rc == 0 and err == "" and "Explore it" in out
    rc, out, err = _run(tmp_path, argv + ["--db", str(tmp_path / "c.db"), "--json"], terminal=True)
    assert rc == 0 and err == "" and out.startswith("{")
