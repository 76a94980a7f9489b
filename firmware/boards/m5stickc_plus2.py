"""M5Stack M5StickC Plus2 (SKU K016-P2): ESP32-PICO-V3-02, MPU6886, 200 mAh battery.

No soldering: strap the stick to the thigh. It has no power-management chip; the
power button (G35) switches the supply on and the firmware must drive the HOLD pin
(G4) high at once and keep it high, or the stick turns off when the button is
released on battery. Driving HOLD low is how the firmware powers the stick off.
"""
NAME = "m5stickc_plus2"
MCU = "ESP32-PICO-V3-02"

# Internal I2C bus: MPU6886 (0x68) and BM8563 RTC (0x51).
I2C_ID = 0
I2C_SDA = 21
I2C_SCL = 22
I2C_FREQ = 400000

IMU_CHIP = "MPU6886"
IMU_ADDR = 0x68
IMU_INT_PIN = None  # MPU6886 INT routing not found in vendor documents: poll instead
# UNVERIFIED: assumes the stick lies screen out (away from the leg) with its USB-C end
# toward the knee, and that the MPU6886 +Y axis runs along the stick toward USB-C and
# +Z out of the screen. Check against M5Stack's axis drawing or with the standing
# calibration before relying on signs.
IMU_REMAP = ((1, 1), (0, -1), (2, 1))

BUTTONS = (("A", 37, True), ("B", 39, True), ("PWR", 35, True))
SAFE_BUTTON = "A"  # held after power-up: safe boot (app.safeboot); G37, not a strapping pin
LED_PIN = 19  # red LED, shared with the IR transmitter
LED_ACTIVE_HIGH = True  # UNVERIFIED polarity
BUZZER_PIN = 2  # passive buzzer: drive with PWM
VIBRATION_PIN = None

BAT_ADC_PIN = 38  # ADC1 channel 2
BAT_DIVIDER = (2, 1)
POWER_HOLD_PIN = 4  # must be driven high at boot and held high
