"""One table of exit statuses (docs/troubleshooting.md#exit-statuses), and the code uses
no other: every status a command returns is a name from repband.exits, and every name
there is a row of the table."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from repband import exits

ROOT = Path(__file__).resolve().parents[1]
HOST = ROOT / "host" / "repband"


def _table() -> dict[str, int]:
    text = (ROOT / "docs" / "troubleshooting.md").read_text()
    section = text.split("## Exit statuses", 1)[1].split("\n## ", 1)[0]
    return {name: int(status) for status, name in re.findall(r"^\| *(\d+) *\| *`?([A-Z_]+)`? *\|", section, re.M)}


def test_the_table_is_the_code():
    assert _table() == exits.ALL
    assert {k: v for k, v in vars(exits).items() if k.isupper() and k != "ALL"} == exits.ALL


def test_the_sync_guide_points_at_the_table():
    guide = (ROOT / "docs" / "user-guide-sync.md").read_text()
    assert "troubleshooting.md#exit-statuses" in guide
    assert not re.search(r"[Ee]xit status \d", guide)  # no second table to disagree with the first


def _int(node) -> int | None:
    return node.value if isinstance(node, ast.Constant) and type(node.value) is int else None


def _bare_statuses(path: Path) -> list[str]:
    """Exit statuses written as numbers: returned by a command (cmd_*, main, _run, ...),
    passed to sys.exit / SystemExit, or set as an exit status attribute or constant."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                fn.name.startswith("cmd_") or fn.name in ("main", "_run", "_fail", "run_bench")):
            for node in ast.walk(fn):
                if isinstance(node, ast.Return) and _int(node.value) not in (None, 0):
                    found.append(f"{path.name}:{node.lineno}: {fn.name} returns {_int(node.value)}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "exit", "SystemExit") and node.args and _int(node.args[0]) not in (None, 0):
            found.append(f"{path.name}:{node.lineno}: exits with {_int(node.args[0])}")
        if isinstance(node, ast.Assign) and _int(node.value) is not None:
            for t in node.targets:
                name = getattr(t, "id", getattr(t, "attr", ""))
                if (name in ("exit_code", "status") or name.startswith("EXIT_")) and _int(node.value):
                    found.append(f"{path.name}:{node.lineno}: {name} = {_int(node.value)}")
    return found


def test_no_status_is_a_bare_number():
    paths = [p for p in HOST.rglob("*.py") if p.name != "exits.py"]
    assert len(paths) > 20
    bare = [b for p in paths for b in _bare_statuses(p)]
    assert bare == []


def test_ctrl_c_while_repband_starts_is_one_line(monkeypatch, capsys):
    """Ctrl-C in the first half second (the commands' modules loading): the one line and
    status 130, not a traceback through the imports."""
    from repband import cli

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli.main(["sessions"]) == exits.INTERRUPTED
    err = capsys.readouterr().err
    assert err.startswith("repband: interrupted (Ctrl-C)") and err.count("\n") == 1, err
