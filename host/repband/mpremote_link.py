"""mpremote's internals that repband uses, in one place (issue 12): its command line is
its public interface, but flashing needs a connection held open across many steps
(probe, hash, write, verify) and mpremote's own ROMFS builder and deploy.

`BoardLink` opens a board with ``do_connect`` and holds its transport in the raw REPL;
`romfs_deploy` runs ``do_romfs`` (``mpremote romfs deploy``) on that transport;
`make_romfs_image` packs a directory with ``mpremote.romfs.make_romfs``. Each builds the
state and argument objects those functions read (`_State`, an argparse Namespace), which
is what changes between mpremote versions: tests/test_mpremote_link.py checks them
against the pinned mpremote (pyproject.toml) and fails loudly when they differ.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import time
from pathlib import Path

MPREMOTE_VERSION = "1.27.0"  # the pinned version these internals are checked against
CONNECT_TIMEOUT = 10.0  # seconds to get the raw REPL prompt (includes a soft reset)
# What app.safeboot prints when the host's Ctrl-C interrupts the band's app: the band
# restarts in safe boot (its app's watchdog cannot be stopped), back within RESTART_TIMEOUT.
RESTART_LINE = b"restarting in safe boot"
RESTART_TIMEOUT = 10.0


def _error(msg: str, code: int | None = None):
    from repband.flash import FlashError

    return FlashError(msg) if code is None else FlashError(msg, code)


class _State:
    """What mpremote's ``State`` (mpremote.main) offers the commands we call
    (``do_connect``: ``transport``; ``do_romfs``: ``transport``, ``ensure_raw_repl``,
    ``did_action``)."""

    def __init__(self, transport=None):
        self.transport = transport
        self._auto_soft_reset = True

    def ensure_raw_repl(self, soft_reset=None):
        # Already in the raw REPL: no soft reset in the middle of a flash.
        if not self.transport.in_raw_repl:
            self.transport.enter_raw_repl(soft_reset=False)

    def did_action(self):
        pass


class BoardLink:
    """An mpremote connection in raw REPL mode."""

    def __init__(self, port: str | None, out):
        from mpremote.transport import TransportError

        self.out = out
        self.transport = None
        self._open(port)
        captured = io.StringIO()
        try:
            with contextlib.redirect_stdout(captured):
                self._interrupt()
                self.transport.enter_raw_repl(soft_reset=True, timeout_overall=CONNECT_TIMEOUT)
        except (TransportError, OSError) as exc:
            self.close(restart=False)
            raise _error(
                f"{self.port} did not answer as a MicroPython board ({exc}); is MicroPython "
                "installed, and is no other program (a serial monitor) using the port? A band "
                "asleep hears nothing: move it to wake it and run this again") from None

    def _open(self, port: str | None) -> None:
        from mpremote.commands import CommandError, do_connect
        from mpremote.transport import TransportError

        state = _State()
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                do_connect(state, argparse.Namespace(device=[port if port else "auto"]))
        except CommandError as exc:
            msg = str(exc)
            if port is None:
                raise _error("no board found: no USB serial port is attached (plug the "
                             "board in, or give --port PORT)") from None
            if not os.path.exists(port) and not port.startswith(("rfc2217:", "socket:")):
                raise _error(f"port {port} does not exist (list ports with "
                             "`python -m mpremote connect list`)") from None
            raise _error(f"cannot open port {port}: {msg}") from None
        except (TransportError, OSError) as exc:
            raise _error(f"cannot open port {port or 'auto'}: {exc}") from None
        self.transport = state.transport
        self.port = self.transport.device_name

    def _interrupt(self) -> None:
        """Ctrl-C, as mpremote's raw REPL entry sends first. A band running its app
        answers that it restarts in safe boot (app.safeboot: the app's watchdog cannot be
        stopped, so it would reset the board in the middle of a flash): wait until it is
        back at its prompt, reopening the port if the restart took it away (native USB)."""
        t = self.transport
        t.serial.write(b"\r\x03")
        if not t.read_until(1, RESTART_LINE, timeout=0.5, timeout_overall=2.0).endswith(RESTART_LINE):
            return
        try:
            t.read_until(1, b">>> ", timeout=RESTART_TIMEOUT, timeout_overall=RESTART_TIMEOUT)
            return
        except OSError:  # the port went with the chip's reset
            pass
        port = self.port
        self.close(restart=False)
        deadline = time.monotonic() + RESTART_TIMEOUT
        while True:
            time.sleep(0.5)
            try:
                self._open(port)
                return
            except Exception:  # FlashError: not back yet
                if time.monotonic() > deadline:
                    raise

    def exec(self, code: str) -> str:
        return self.transport.exec(code).decode("utf-8", "replace")

    def eval_repr(self, code: str):
        import ast

        from repband.flash import EXIT_FAILED

        text = self.exec(code).strip()
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise _error(f"unexpected answer from the board: {text[:200]!r}", EXIT_FAILED) from None

    def romfs_deploy(self, image_file: Path, partition: int) -> str:
        """``mpremote romfs deploy IMAGE`` on this connection; returns its output."""
        from mpremote.commands import CommandError, do_romfs

        args = argparse.Namespace(command=["deploy"], path=str(image_file), partition=partition,
                                  mpy=False)
        captured = io.StringIO()
        try:
            with contextlib.redirect_stdout(captured):
                do_romfs(_State(self.transport), args)
        except CommandError as exc:
            raise _error(f"mpremote romfs deploy: {exc}") from None
        except SystemExit:
            # Its refusals (image invalid or too big) come before it writes anything.
            lines = [ln for ln in captured.getvalue().splitlines() if ln.strip()]
            raise _error("mpremote romfs deploy refused the image: "
                         + (lines[-1] if lines else "no reason given")) from None
        return captured.getvalue()

    def close(self, restart: bool = True):
        t = self.transport
        if t is None:
            return
        self.transport = None
        try:
            if restart:
                # Back to the friendly REPL and soft-reset there: boot.py and main.py run,
                # so the app starts again.
                t.exit_raw_repl()
                t.serial.write(b"\x04")
                time.sleep(0.05)
            elif t.in_raw_repl:
                t.exit_raw_repl()
        except OSError:
            pass
        try:
            t.close()
        except OSError:
            pass


def add_port_argument(parser) -> None:
    """The --port option of the commands that talk to a board over USB."""
    parser.add_argument("--port", default=None,
                        help="serial port (default: the first USB serial port found)")


def make_romfs_image(staging: Path) -> bytes:
    """mpremote's ROMFS builder on a directory of files already compiled."""
    from mpremote.romfs import make_romfs

    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):
            image = make_romfs(str(staging), mpy_cross=False)
    except SystemExit:
        raise _error("cannot build the ROMFS image: " + captured.getvalue().strip()[-300:]) from None
    return bytes(image)
