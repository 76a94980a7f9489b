"""ESP32 DevKit (ESP32-DevKitC V4 or a DOIT DevKit V1 clone) + GY-521 (MPU-6050).

The cheapest build. I2C on GPIO21/22 (the usual ESP32 defaults); the GY-521 pulls
AD0 low, so the MPU-6050 answers at 0x68. DevKitC V4 has only a power LED: the LED
on GPIO2 is the DOIT clone's onboard LED or an external one. Wiring choices (ours):
INT -> GPIO4, buzzer GPIO25, vibration motor (via transistor) GPIO26, battery
divider 2 x 100 kOhm -> GPIO35, extra button GPIO27 to ground.
"""
NAME = "devkit_mpu6050"
MCU = "ESP32-D0WD(-V3)"

I2C_ID = 0
I2C_SDA = 21
I2C_SCL = 22
I2C_FREQ = 400000

IMU_CHIP = "MPU-6050"
IMU_ADDR = 0x68
IMU_INT_PIN = 4  # RTC GPIO: can wake the ESP32 from deep sleep (ext0)
# GY-521 flat on the strap, parts side out, silkscreen X arrow toward the knee.
IMU_REMAP = ((0, 1), (1, 1), (2, 1))

BUTTONS = (("BOOT", 0, True), ("A", 27, True))
SAFE_BUTTON = "A"  # held after power-up: safe boot (app.safeboot); never BOOT (GPIO0, a strapping pin)
LED_PIN = 2
LED_ACTIVE_HIGH = True
BUZZER_PIN = 25
VIBRATION_PIN = 26

BAT_ADC_PIN = 35  # ADC1 channel 7, input only
BAT_DIVIDER = (2, 1)
POWER_HOLD_PIN = None
