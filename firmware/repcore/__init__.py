"""repband's portable core: IMU samples in, exercise events out.

Nothing in this package imports board-specific modules; it runs unchanged on the
board, under CPython and inside a MicroPython interpreter in the tests.
"""
