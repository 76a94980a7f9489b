#!/usr/bin/env python3
"""Power budget of repband: current per state, a typical day, battery life per board.

Every current is declared once in COMPONENTS with the id of its source; the ids are
explained in hardware/sources.md ("Power figures"). A state is a sum of components;
a profile is a board, a battery and a day of (state, hours/day). Run

    python3 hardware/power_budget.py            # markdown tables (pasted into power.md)
    python3 hardware/power_budget.py --check    # exit 1 if power.md is out of date

hardware/power.md holds this script's output verbatim between the markers
<!-- power_budget:begin --> and <!-- power_budget:end -->; tests check they agree.

Plain CPython 3, standard library only. Currents are battery-side mA, typical values.
"""
from __future__ import annotations

import sys
from pathlib import Path

# --------------------------------------------------------------------------------------
# Components: name -> (mA, source id, note). Source ids: see hardware/sources.md.
# "A" = our assumption or model (no figure read); listed in power.md "Assumptions".

COMPONENTS = {
    # ESP32 / ESP32-PICO-V3-02 (M5StickC Plus2) and ESP32-D0WD (DevKit)
    "esp32_cpu_80mhz": (25.0, "ESP32-DS", "CPU on, radio idle (modem-sleep, 80 MHz: 20-25 mA, upper value)"),
    "esp32_cpu_240mhz": (50.0, "ESP32-DS", "CPU on, radio idle (modem-sleep, 240 MHz: 30-50 mA, upper value)"),
    "esp32_ble_pm": (14.1, "IDF-PS", "BLE on with BT modem sleep + power management (ESP-IDF power_save example); needs a custom MicroPython build"),
    "esp32_light_sleep": (0.8, "ESP32-DS", "light-sleep"),
    "esp32_deep_sleep": (0.01, "ESP32-DS", "deep-sleep, RTC timer + RTC memory (10 uA)"),
    # ESP32-S3 on the XIAO, board-level figures at 3.8 V on the battery pads
    "xiao_cpu": (25.0, "XIAO-SPEC", "XIAO ESP32S3 modem-sleep ~25 mA (board, 3.8 V)"),
    "xiao_light_sleep": (2.0, "XIAO-SPEC", "XIAO ESP32S3 light-sleep ~2 mA"),
    "xiao_deep_sleep": (0.014, "XIAO-SPEC", "XIAO ESP32S3 deep-sleep ~14 uA (rises to ~0.3 mA below ~3.3 V, XIAO-FORUM)"),
    # BLE radio on top of the CPU (our event model, radio currents from the datasheet)
    "ble_adv_100ms": (3.6, "A/ESP32-RF", "advertising every 100 ms: 3 ms of radio at 120 mA per event"),
    "ble_adv_1000ms": (0.36, "A/ESP32-RF", "advertising every 1 s: 3 ms at 120 mA per event"),
    "ble_adv_2000ms": (0.18, "A/ESP32-RF", "advertising every 2 s"),
    "ble_conn_30ms": (6.67, "A/ESP32-RF", "connected, 30 ms interval: 2 ms at 100 mA per event"),
    "ble_conn_50ms": (4.0, "A/ESP32-RF", "connected, 50 ms interval: 2 ms at 100 mA per event. The host picks the "
                      "interval (BlueZ asks for 30-50 ms); MicroPython gives a peripheral no way to ask for "
                      "a longer one (micropython#7769)"),
    # M5StickC Plus2 board
    "m5_board_on": (0.6, "M5-PS", "5 V DC-DC and regulator overhead while the ESP32 is powered (1 mA - 0.41 mA)"),
    "m5_deep_sleep_board": (1.0, "M5-PS", "whole stick, ESP32 deep sleep, main power held on (< 1 mA)"),
    "m5_power_off_rtc": (0.04, "M5-PS", "whole stick off (HOLD low), BM8563 alarm armed (< 40 uA)"),
    "m5_lcd_backlight": (20.0, "A", "LCD backlight on for feedback (not measured)"),
    # IMUs
    "mpu6886_accel_gyro": (3.8, "A/MPU6050-PS", "MPU6886 gyro+accel: MPU-6050 figure as an upper bound"),
    "mpu6886_accel_only": (0.5, "A/MPU6050-PS", "MPU6886 accel only: MPU-6050 figure as an upper bound"),
    "mpu6886_wom": (0.14, "A/MPU6050-PS", "MPU6886 wake-on-motion ~50 Hz: MPU-6050 40 Hz low-power figure"),
    "mpu6050_accel_gyro": (3.8, "MPU6050-PS", "gyro + accel, DMP off"),
    "mpu6050_accel_only": (0.5, "MPU6050-PS", "accel only"),
    "mpu6050_wom_20hz": (0.07, "MPU6050-PS", "accel low-power cycle at 20 Hz"),
    "lsm6ds3trc_accel_gyro": (1.25, "LSM6DS3-DS", "combo high-performance (LSM6DS3 front-page figure, upper bound)"),
    "lsm6ds3trc_accel_only": (0.2, "A", "accel only, 104 Hz high-performance (bound, not read)"),
    "lsm6ds3trc_wom_26hz": (0.03, "A", "accel low-power 26 Hz + wake-up logic (bound, not read)"),
    # Our wiring on the XIAO / DevKit builds and the breakout
    "divider_100k": (0.019, "OHM", "2 x 100 kOhm battery divider at 3.8 V (always on)"),
    "breakout_ldo": (0.055, "A", "breakout's own 3.3 V LDO quiescent current (typical for its class, not read)"),
    "devkit_board_floor": (4.7, "DEVKIT-MEAS", "DevKit regulator + USB bridge, measured board deep-sleep floor at 5 V"),
}

# --------------------------------------------------------------------------------------
# States: name -> list of components. The CPU runs at 80 MHz (the firmware sets it at
# boot: app.hal.CPU_HZ); the whole app then needs ~13 % of it at 104 Hz.

STATES = {
    # M5StickC Plus2
    "m5.exercise.gyro": ["esp32_cpu_80mhz", "m5_board_on", "mpu6886_accel_gyro", "ble_conn_50ms"],
    "m5.exercise.accel": ["esp32_cpu_80mhz", "m5_board_on", "mpu6886_accel_only", "ble_conn_50ms"],
    "m5.exercise.pm": ["esp32_ble_pm", "m5_board_on", "mpu6886_accel_only"],
    "m5.adv.pm": ["esp32_ble_pm", "m5_board_on", "mpu6886_wom"],
    "m5.sync": ["esp32_cpu_80mhz", "m5_board_on", "mpu6886_wom", "ble_conn_30ms"],
    "m5.adv.fast": ["esp32_cpu_80mhz", "m5_board_on", "mpu6886_wom", "ble_adv_100ms"],
    "m5.adv.slow": ["esp32_cpu_80mhz", "m5_board_on", "mpu6886_wom", "ble_adv_1000ms"],
    "m5.lcd": ["m5_lcd_backlight"],
    "m5.wake.check": ["esp32_cpu_80mhz", "m5_board_on", "mpu6886_accel_only"],
    "m5.idle.light": ["esp32_light_sleep", "m5_board_on", "mpu6886_wom"],
    "m5.idle.deep": ["m5_deep_sleep_board", "mpu6886_wom"],
    "m5.idle.off": ["m5_power_off_rtc"],
    # XIAO ESP32S3 + LSM6DS3TR-C breakout
    "xiao.exercise.gyro": ["xiao_cpu", "lsm6ds3trc_accel_gyro", "breakout_ldo", "divider_100k", "ble_conn_50ms"],
    "xiao.exercise.accel": ["xiao_cpu", "lsm6ds3trc_accel_only", "breakout_ldo", "divider_100k", "ble_conn_50ms"],
    "xiao.sync": ["xiao_cpu", "lsm6ds3trc_wom_26hz", "breakout_ldo", "divider_100k", "ble_conn_30ms"],
    "xiao.adv.fast": ["xiao_cpu", "lsm6ds3trc_wom_26hz", "breakout_ldo", "divider_100k", "ble_adv_100ms"],
    "xiao.adv.slow": ["xiao_cpu", "lsm6ds3trc_wom_26hz", "breakout_ldo", "divider_100k", "ble_adv_1000ms"],
    "xiao.wake.check": ["xiao_cpu", "lsm6ds3trc_accel_only", "breakout_ldo", "divider_100k"],
    "xiao.idle.light": ["xiao_light_sleep", "lsm6ds3trc_wom_26hz", "breakout_ldo", "divider_100k"],
    "xiao.idle.deep": ["xiao_deep_sleep", "lsm6ds3trc_wom_26hz", "breakout_ldo", "divider_100k"],
    # ESP32 DevKit + GY-521 (MPU-6050), from a USB power bank at 5 V
    "devkit.exercise.gyro": ["esp32_cpu_80mhz", "devkit_board_floor", "mpu6050_accel_gyro", "ble_conn_50ms"],
    "devkit.exercise.accel": ["esp32_cpu_80mhz", "devkit_board_floor", "mpu6050_accel_only", "ble_conn_50ms"],
    "devkit.sync": ["esp32_cpu_80mhz", "devkit_board_floor", "mpu6050_wom_20hz", "ble_conn_30ms"],
    "devkit.adv.fast": ["esp32_cpu_80mhz", "devkit_board_floor", "mpu6050_wom_20hz", "ble_adv_100ms"],
    "devkit.adv.slow": ["esp32_cpu_80mhz", "devkit_board_floor", "mpu6050_wom_20hz", "ble_adv_1000ms"],
    "devkit.wake.check": ["esp32_cpu_80mhz", "devkit_board_floor", "mpu6050_accel_only"],
    "devkit.idle.deep": ["esp32_deep_sleep", "devkit_board_floor", "mpu6050_wom_20hz"],
}

STATE_LABELS = {
    "exercise.gyro": "exercising, accel + gyro 104 Hz, BLE connected (50 ms)",
    "exercise.accel": "exercising, accel only 104 Hz, BLE connected (50 ms)",
    "exercise.pm": "exercising, accel only, BLE modem sleep (custom build)",
    "adv.pm": "advertising, BLE modem sleep (custom build)",
    "sync": "sync, BLE connected (30 ms)",
    "adv.fast": "advertising fast (100 ms)",
    "adv.slow": "advertising slow (1 s)",
    "lcd": "LCD backlight, brief feedback",
    "wake.check": "false wake: boot, look at motion, sleep again",
    "idle.light": "idle: light sleep, IMU wake-on-motion",
    "idle.deep": "idle: deep sleep, IMU wake-on-motion",
    "idle.off": "idle: stick off (HOLD low), RTC only",
}

# --------------------------------------------------------------------------------------
# A typical day: 20 minutes of exercise, one sync, the rest idle.
H_EXERCISE = 20 / 60  # the routine: 20 minutes
H_SYNC = 2 / 60  # one sync, live link to the app for 2 minutes
H_ADV_FAST = 0.5 / 60  # 30 s of fast advertising when a session ends
H_ADV_SLOW = 2 / 60  # then 2 minutes of slow advertising, then idle
H_LCD = 2 / 60  # ~1 s per rep for ~60 reps, set and summary screens
H_FALSE_WAKES = 24 * 5 / 3600  # 24 wake-on-motion triggers a day, 5 s each


def _day(prefix, idle, false_wakes=True, lcd=False, pm=False):
    day = [
        (prefix + (".exercise.pm" if pm else ".exercise.accel"), H_EXERCISE),
        (prefix + ".sync", H_SYNC),
    ]
    if pm:
        day.append((prefix + ".adv.pm", H_ADV_FAST + H_ADV_SLOW))
    else:
        day += [(prefix + ".adv.fast", H_ADV_FAST), (prefix + ".adv.slow", H_ADV_SLOW)]
    if false_wakes:
        day.append((prefix + ".wake.check", H_FALSE_WAKES))
    if lcd:
        day.append((prefix + ".lcd", H_LCD))  # on top of the running state, not instead
    awake = sum(h for s, h in day if not s.endswith(".lcd"))
    day.append((prefix + "." + idle, 24.0 - awake))
    return day


# Profiles: (title, battery mAh, usable fraction, note on the battery, day)
# Usable fraction 0.9: we stop at ~3.3 V open-circuit (10 % in the discharge curve),
# where the 3.3 V regulators run out of headroom.
PROFILES = [
    ("M5StickC Plus2, deep sleep + IMU wake (needs the INT on G35, unverified)", 200, 0.9,
     "internal 200 mAh", _day("m5", "idle.deep", lcd=True)),
    ("M5StickC Plus2, off between sessions, power button starts", 200, 0.9,
     "internal 200 mAh", _day("m5", "idle.off", false_wakes=False, lcd=True)),
    ("M5StickC Plus2, off between sessions, MicroPython built with BT modem sleep", 200, 0.9,
     "internal 200 mAh", _day("m5", "idle.off", false_wakes=False, lcd=True, pm=True)),
    ("XIAO ESP32S3 + LSM6DS3TR-C, deep sleep + INT1 wake", 250, 0.9,
     "502035 LiPo, 250 mAh", _day("xiao", "idle.deep")),
    ("ESP32 DevKit + GY-521, deep sleep + INT wake, USB power bank", 3100, 0.9,
     "5000 mAh bank = ~3100 mAh at 5 V", _day("devkit", "idle.deep")),
]

TARGET_DAYS = 14

# --------------------------------------------------------------------------------------


def state_ma(state):
    return sum(COMPONENTS[c][0] for c in STATES[state])


def state_sources(state):
    out = []
    for c in STATES[state]:
        for s in COMPONENTS[c][1].split("/"):
            if s not in out:
                out.append(s)
    return out


def profile_rows(day):
    rows = []
    for state, hours in day:
        ma = state_ma(state)
        rows.append((state, ma, hours, ma * hours))
    return rows


def profile_totals(battery, usable, day):
    mah_day = sum(r[3] for r in profile_rows(day))
    days = battery * usable / mah_day
    return mah_day, days


def _label(state):
    return STATE_LABELS[state.split(".", 1)[1]]


def render():
    out = []
    w = out.append
    w("### Components (mA, battery side)")
    w("")
    w("| component | mA | source | what |")
    w("|---|---:|---|---|")
    for name, (ma, src, note) in COMPONENTS.items():
        w("| `%s` | %.3f | %s | %s |" % (name, ma, src, note))
    w("")
    w("### Current per state")
    w("")
    w("| state | mA | made of |")
    w("|---|---:|---|")
    for state in STATES:
        w("| `%s` %s | %.2f | %s |" % (state, _label(state), state_ma(state), " + ".join(STATES[state])))
    w("")
    w("### A typical day per profile")
    for title, battery, usable, bat_note, day in PROFILES:
        w("")
        w("**%s** (%s)" % (title, bat_note))
        w("")
        w("| state | mA | h/day | mAh/day |")
        w("|---|---:|---:|---:|")
        for state, ma, hours, mah in profile_rows(day):
            w("| `%s` | %.2f | %.3f | %.2f |" % (state, ma, hours, mah))
        mah_day, days = profile_totals(battery, usable, day)
        w("| **total** | | 24.000 | **%.2f** |" % mah_day)
    w("")
    w("### Battery life")
    w("")
    w("| profile | battery mAh | usable mAh | mAh/day | days | >= %d days |" % TARGET_DAYS)
    w("|---|---:|---:|---:|---:|---|")
    for title, battery, usable, bat_note, day in PROFILES:
        mah_day, days = profile_totals(battery, usable, day)
        w("| %s | %d | %.0f | %.2f | %.1f | %s |" % (
            title, battery, battery * usable, mah_day, days, "yes" if days >= TARGET_DAYS else "no"))
    return "\n".join(out) + "\n"


BEGIN = "<!-- power_budget:begin -->"
END = "<!-- power_budget:end -->"


def block_in(doc_text):
    """The generated block as it stands in power.md (between the markers)."""
    a = doc_text.index(BEGIN) + len(BEGIN)
    b = doc_text.index(END)
    return doc_text[a:b].strip("\n") + "\n"


def main(argv):
    text = render()
    if "--check" in argv:
        doc = Path(__file__).with_name("power.md").read_text(encoding="utf-8")
        if block_in(doc) != text:
            sys.stderr.write("hardware/power.md is out of date: paste the output of power_budget.py\n")
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
