"""Seeed Studio XIAO ESP32S3 + LSM6DS3TR-C breakout (e.g. Adafruit 4503) + LiPo.

The XIAO has no IMU; the breakout sits on the default I2C pins D4/D5. The same
wiring works with an LSM6DSOX breakout (Adafruit 4438): set IMU_CHIP to "LSM6DSOX".
Both answer at 0x6A with SA0/SDO low (the Adafruit boards' default) or 0x6B high.

Our wiring choices (not vendor facts): INT1 to D3, a vibration motor through a
transistor on D1, a push button to ground on D8, and a 2 x 100 kOhm divider from the
battery to A0, since the XIAO ESP32S3 has no battery-voltage divider of its own.
"""
NAME = "xiao_esp32s3_lsm6ds3"
MCU = "ESP32-S3"

I2C_ID = 0
I2C_SDA = 5  # D4
I2C_SCL = 6  # D5
I2C_FREQ = 400000

IMU_CHIP = "LSM6DS3TR-C"
IMU_ADDR = 0x6A
IMU_INT_PIN = 4  # D3 <- INT1 (our wiring; RTC-capable GPIO for deep-sleep wake)
# Mount the breakout flat on the strap, parts side out (away from the leg) and the
# silkscreen X arrow toward the knee: chip axes = mount axes.
IMU_REMAP = ((0, 1), (1, 1), (2, 1))

BUTTONS = (("BOOT", 0, True), ("A", 7, True))  # A: D8 to GND, internal pull-up
SAFE_BUTTON = "A"  # held after power-up: safe boot (app.safeboot); never BOOT (GPIO0, a strapping pin)
LED_PIN = 21  # user LED (yellow)
LED_ACTIVE_HIGH = False  # UNVERIFIED polarity
BUZZER_PIN = None
VIBRATION_PIN = 2  # D1 -> transistor -> coin motor (our wiring)

BAT_ADC_PIN = 1  # A0 / D0, ADC1 channel 0 (our divider)
BAT_DIVIDER = (2, 1)
POWER_HOLD_PIN = None
