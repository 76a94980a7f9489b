"""repband's exit statuses: the one list.

docs/troubleshooting.md#exit-statuses shows the same table to people;
tests/test_exits.py checks that the two agree and that the commands return no other
status. Add a status here and a row there, never a bare number in a command.
"""

OK = 0
# The band, the link or a check failed; nothing on this computer is wrong and trying
# again may work (band not found, link lost, the band refused, a sync stopped, the demo
# found lost or duplicated records, a benchmark could not measure).
FAILED = 1
# Something to fix first, on this computer or in the command: a wrong argument, file or
# path, no database yet, a database repband cannot use, Bluetooth unavailable (service,
# adapter, power, permission). The message says what to do.
FIX = 2
# Stopped with Ctrl-C (128 + SIGINT, the shell's convention). What was stored stays.
INTERRUPTED = 130

ALL = {"OK": OK, "FAILED": FAILED, "FIX": FIX, "INTERRUPTED": INTERRUPTED}
