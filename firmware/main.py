"""Board entry point: pick the board profile, build the real HAL, run the app.

The board is named in `/board` (one line, written by `repband flash --board NAME`);
without that file it is guessed: an ESP32-S3 is the XIAO build, otherwise the IMU on
GPIO21/22 tells the M5StickC Plus2 (MPU6886) from the DevKit (MPU-6050). A port with
`bluetooth` gets the GATT service (app.ble, docs/protocol.md) through `App(radio=...)`.
app.safeboot runs it: a crash is kept on flash and resets, and after 3 crashes in a row
(or with the board's SAFE_BUTTON held after power-up) the app stays off.
"""
import boards

BOARD_FILE = "/board"


def board_name():
    try:
        f = open(BOARD_FILE)
        try:
            name = f.read().strip()
        finally:
            f.close()
        if name in boards.NAMES:
            return name
        print("main: unknown board %r in %s, guessing" % (name, BOARD_FILE))
    except OSError:
        pass
    return guess_board()


def guess_board():
    import os

    if "S3" in os.uname().machine:
        return "xiao_esp32s3_lsm6ds3"
    try:
        from machine import I2C, Pin

        i2c = I2C(0, scl=Pin(22), sda=Pin(21), freq=400000)
        who = i2c.readfrom_mem(0x68, 0x75, 1)[0]
        if who == 0x19:
            return "m5stickc_plus2"
    except OSError:
        pass
    return "devkit_mpu6050"


def radio():
    """The bluetooth.BLE object, or None on a port built without bluetooth (the app
    then imports nothing of app.ble and runs without the GATT service)."""
    try:
        import bluetooth
    except ImportError:
        return None
    try:
        return bluetooth.BLE()
    except OSError as e:
        print("main: no bluetooth: %r" % (e,))
        return None


def main():
    name = board_name()
    board = boards.load(name)
    from app.hal import EspHal

    hal = EspHal(board)
    # The latch first: a board with one switches off when the button is let go.
    hal.power_hold(True)
    print("repband: board %s" % name)
    from app import safeboot

    def start():
        from app.app import App

        App(hal, board, radio=radio(), on_healthy=lambda: safeboot.healthy(hal.root)).run()

    # Safe boot (crashes in a row, or the board's SAFE_BUTTON held after power-up)
    # leaves the app off; any crash is kept on flash for `repband crash-log`.
    safeboot.run(hal, board, start)


main()
