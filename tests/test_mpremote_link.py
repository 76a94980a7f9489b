"""repband.mpremote_link holds the mpremote internals repband uses (do_connect,
do_romfs, make_romfs and the State they read). Checked here against the pinned
mpremote: a new version whose internals changed fails these tests, loudly, before
`repband flash` meets it on a board."""
from __future__ import annotations

import argparse
import importlib.metadata
import inspect
import re

from mpremote import commands, main, romfs

from repband import mpremote_link as ml


def test_mpremote_is_the_pinned_version():
    assert importlib.metadata.version("mpremote") == ml.MPREMOTE_VERSION
    pyproject = (ml.__file__.rsplit("/host/", 1)[0] + "/pyproject.toml")
    assert f'"mpremote=={ml.MPREMOTE_VERSION}"' in open(pyproject).read()


def test_the_commands_take_what_we_pass():
    assert list(inspect.signature(commands.do_connect).parameters) == ["state", "args"]
    assert list(inspect.signature(commands.do_romfs).parameters) == ["state", "args"]
    assert "mpy_cross" in inspect.signature(romfs.make_romfs).parameters


def _used(fn_names, prefix):
    src = "".join(inspect.getsource(getattr(commands, n)) for n in fn_names)
    return set(re.findall(prefix + r"\.([a-z_]+)", src))


def test_our_state_offers_what_the_commands_read():
    read = _used(["do_connect", "do_romfs", "_do_romfs_deploy"], "state")
    ours = {n for n in dir(ml._State(None)) if not n.startswith("__")}
    assert read <= ours, f"mpremote's commands now use State.{sorted(read - ours)}"
    real = {n for n in dir(main.State()) if not n.startswith("__")}
    assert read <= real  # and mpremote's own State has them: the names are real


def test_our_arguments_are_the_ones_the_commands_read():
    assert _used(["do_connect"], "args") == {"device"}
    ours = set(vars(argparse.Namespace(command=["deploy"], path="", partition=0, mpy=False)))
    read = _used(["do_romfs", "_do_romfs_deploy"], "args")
    assert read <= ours, f"mpremote romfs deploy now reads args.{sorted(read - ours)}"
