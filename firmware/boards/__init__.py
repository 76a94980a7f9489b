"""Board profiles: one small module per supported board, plain constants only.

Every pin here is checked against the vendor's documents; hardware/sources.md says
where each one comes from and which are our own wiring choices. The app imports the
profile named in its config, e.g. `boards.load("m5stickc_plus2")`.

Conventions shared by all profiles:
  IMU_REMAP: for mount axes x, y, z, the (chip axis, sign) they come from. The mount
    frame: +x down the thigh toward the knee, +z out of the leg (away from the skin),
    +y = z cross x (right-handed).
  BUTTONS: tuple of (name, gpio, active_low).
  SAFE_BUTTON: the name of the button held after power-up for a safe boot (app.safeboot);
    not on a strapping pin (ESP32: GPIO0, 2, 5, 12, 15; ESP32-S3: GPIO0, 3, 45, 46),
    which held at reset selects the ROM's boot mode instead.
  BAT_DIVIDER: (num, den): battery volts = ADC-pin volts * num / den.
  A pin of None means the board has no such part (the app skips that feature).
"""

NAMES = ("m5stickc_plus2", "xiao_esp32s3_lsm6ds3", "devkit_mpu6050")


def load(name):
    if name not in NAMES:
        raise ValueError("unknown board %r, expected one of %r" % (name, NAMES))
    return __import__("boards." + name, None, None, [name])
