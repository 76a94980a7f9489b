"""The few MicroPython built-ins the core uses, with CPython stand-ins.

The MicroPython compiler folds `NAME = const(...)` by name, whichever module the
`const` came from, so importing it from here costs nothing on the board.
"""
try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython

    def const(value):
        return value
