#!/usr/bin/env python3
"""Writes hardware/wiring/*.svg (simple box-and-wire diagrams). The pins here must match
firmware/boards/*.py and hardware/README.md; tests/test_hardware_docs.py checks the
SVGs' data-gpio / data-signal attributes against the board profiles. Run after editing:
    python3 hardware/wiring/make_wiring_svgs.py
"""
import html
from pathlib import Path

HERE = Path(__file__).resolve().parent

def svg(title, subtitle, left, right_boxes, wires, path, note):
    stacked, y = [], 76
    for name, x, _, pins, color in right_boxes:
        stacked.append((name, x, y, pins, color))
        y += 34 * len(pins) + 14 + 34
    right_boxes = stacked
    # left: (name, [(pin_label, gpio or None)]) ; right_boxes: [(name, x, y, [(pin_label)])]
    W = 780
    H = max([70 + 34 * len(left[1]) + 20] + [y + 34 * len(p) + 14 for _, _, y, p, _ in right_boxes]) + 50
    out = []
    a = out.append
    a('<?xml version="1.0" encoding="UTF-8"?>')
    a('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans, Arial, sans-serif" font-size="13">' % (W, H, W, H))
    a('  <title>%s</title>' % html.escape(title))
    a('  <desc>%s Generated layout; pins must match firmware/boards (tests/test_hardware_docs.py checks the data-gpio attributes).</desc>' % html.escape(subtitle))
    a('  <rect width="100%" height="100%" fill="white"/>')
    a('  <text x="20" y="28" font-size="18" font-weight="bold">%s</text>' % html.escape(title))
    a('  <text x="20" y="48" fill="#444">%s</text>' % html.escape(subtitle))
    # left box
    lx, ly, lw = 30, 70, 190
    lh = 34 * len(left[1]) + 20
    a('  <g id="mcu">')
    a('    <rect x="%d" y="%d" width="%d" height="%d" rx="8" fill="#e8f0fe" stroke="#1a56c4" stroke-width="2"/>' % (lx, ly, lw, lh))
    a('    <text x="%d" y="%d" font-weight="bold">%s</text>' % (lx, ly - 8, html.escape(left[0])))
    pinpos = {}
    for i, (label, gpio) in enumerate(left[1]):
        y = ly + 27 + 34 * i
        pinpos[label] = (lx + lw, y)
        a('    <circle cx="%d" cy="%d" r="4" fill="#1a56c4"/>' % (lx + lw, y))
        a('    <text x="%d" y="%d" text-anchor="end">%s</text>' % (lx + lw - 10, y + 4, html.escape(label + ("" if gpio is None else "  (GPIO%d)" % gpio))))
    a('  </g>')
    rpos = {}
    for name, x, y, pins, color in right_boxes:
        h = 34 * len(pins) + 14
        a('  <g id="%s">' % html.escape(name.split()[0].lower()))
        a('    <rect x="%d" y="%d" width="170" height="%d" rx="8" fill="%s" stroke="#555" stroke-width="2"/>' % (x, y, h, color))
        a('    <text x="%d" y="%d" font-weight="bold" text-anchor="middle">%s</text>' % (x + 85, y - 8, html.escape(name)))
        for i, p in enumerate(pins):
            py = y + 24 + 34 * i
            rpos[(name, p)] = (x, py)
            a('    <circle cx="%d" cy="%d" r="4" fill="#555"/>' % (x, py))
            a('    <text x="%d" y="%d">%s</text>' % (x + 10, py + 4, html.escape(p)))
        a('  </g>')
    a('  <g id="wires" fill="none" stroke-width="2.5">')
    for i, (lpin, box, rpin, gpio, signal, color, label) in enumerate(wires):
        x1, y1 = pinpos[lpin]
        x2, y2 = rpos[(box, rpin)]
        mx = 250 + 14 * i
        attrs = 'class="wire" data-signal="%s"' % signal
        if gpio is not None:
            attrs += ' data-gpio="%d"' % gpio
        a('    <polyline %s points="%d,%d %d,%d %d,%d %d,%d" stroke="%s"/>' % (attrs, x1, y1, mx, y1, mx, y2, x2, y2, color))
        if label:
            a('    <text x="%d" y="%d" fill="%s" stroke="none" font-size="11">%s</text>' % (mx + 4, (y2 - 4), color, html.escape(label)))
    a('  </g>')
    a('  <text x="20" y="%d" fill="#444" font-size="12">%s</text>' % (H - 14, html.escape(note)))
    a('</svg>')
    open(path, "w").write("\n".join(out) + "\n")

# XIAO
left = ("Seeed XIAO ESP32S3 (top view)", [("3V3", None), ("GND", None), ("D4 / SDA", 5), ("D5 / SCL", 6), ("D3", 4), ("D1", 2), ("D8", 7), ("A0 / D0", 1), ("BAT+ pad (underside)", None), ("BAT- pad (underside)", None)])
right = [
    ("LSM6DS3TR-C breakout (Adafruit 4503)", 470, 70, ["VIN", "GND", "SDA", "SCL", "INT1"], "#eaf7ea"),
    ("Vibration motor driver", 470, 285, ["1 kΩ → NPN base", "(motor + 1N4148 to 3V3)"], "#fff4e0"),
    ("Push button", 470, 390, ["to GND"], "#fff4e0"),
    ("Battery divider 100k + 100k", 470, 455, ["midpoint", "BAT+ (top) / GND"], "#fff4e0"),
    ("1S LiPo (protected)", 470, 560, ["+", "−"], "#fde8e8"),
]
B = "LSM6DS3TR-C breakout (Adafruit 4503)"
wires = [
    ("3V3", B, "VIN", None, "3V3", "#c00000", "3V3"),
    ("GND", B, "GND", None, "GND", "#000000", "GND"),
    ("D4 / SDA", B, "SDA", 5, "I2C_SDA", "#1a7f37", "SDA"),
    ("D5 / SCL", B, "SCL", 6, "I2C_SCL", "#b8860b", "SCL"),
    ("D3", B, "INT1", 4, "IMU_INT", "#7b2cbf", "INT1"),
    ("D1", "Vibration motor driver", "1 kΩ → NPN base", 2, "VIBRATION", "#d2691e", ""),
    ("D8", "Push button", "to GND", 7, "BUTTON_A", "#555555", ""),
    ("A0 / D0", "Battery divider 100k + 100k", "midpoint", 1, "BAT_ADC", "#0077b6", ""),
    ("BAT+ pad (underside)", "1S LiPo (protected)", "+", None, "BAT+", "#c00000", ""),
    ("BAT- pad (underside)", "1S LiPo (protected)", "−", None, "BAT-", "#000000", ""),
]
svg("Build B: XIAO ESP32S3 + LSM6DS3TR-C", "Pins: firmware/boards/xiao_esp32s3_lsm6ds3.py = README table B. IMU at 0x6A (SA0 low).",
    left, right, wires, HERE / "xiao_esp32s3_lsm6ds3.svg",
    "Breakout flat, parts side out, silkscreen X arrow toward the knee. Divider top also to BAT+. Not to scale.")

# DevKit
left = ("ESP32 DevKit (DevKitC V4 / DOIT V1)", [("3V3", None), ("GND", None), ("GPIO21", 21), ("GPIO22", 22), ("GPIO4", 4), ("GPIO25", 25), ("GPIO26", 26), ("GPIO27", 27), ("GPIO35", 35), ("GPIO2", 2)])
left = (left[0], [(l if g is None else l.replace("GPIO%d" % g, "G%d" % g), g) for l, g in left[1]])
right = [
    ("GY-521 (MPU-6050)", 470, 70, ["VCC", "GND", "SDA", "SCL", "INT"], "#eaf7ea"),
    ("Piezo buzzer (via 100 Ω)", 470, 285, ["+ (other pin to GND)"], "#fff4e0"),
    ("Vibration motor driver", 470, 350, ["1 kΩ → NPN base"], "#fff4e0"),
    ("Push button", 470, 415, ["to GND"], "#fff4e0"),
    ("Battery divider 100k + 100k", 470, 480, ["midpoint"], "#fff4e0"),
    ("LED (onboard on DOIT V1)", 470, 545, ["anode (via 330 Ω)"], "#fff4e0"),
]
G = "GY-521 (MPU-6050)"
wires = [
    ("3V3", G, "VCC", None, "3V3", "#c00000", "3V3"),
    ("GND", G, "GND", None, "GND", "#000000", "GND"),
    ("G21", G, "SDA", 21, "I2C_SDA", "#1a7f37", "SDA"),
    ("G22", G, "SCL", 22, "I2C_SCL", "#b8860b", "SCL"),
    ("G4", G, "INT", 4, "IMU_INT", "#7b2cbf", "INT"),
    ("G25", "Piezo buzzer (via 100 Ω)", "+ (other pin to GND)", 25, "BUZZER", "#d2691e", ""),
    ("G26", "Vibration motor driver", "1 kΩ → NPN base", 26, "VIBRATION", "#a0522d", ""),
    ("G27", "Push button", "to GND", 27, "BUTTON_A", "#555555", ""),
    ("G35", "Battery divider 100k + 100k", "midpoint", 35, "BAT_ADC", "#0077b6", ""),
    ("G2", "LED (onboard on DOIT V1)", "anode (via 330 Ω)", 2, "LED", "#e63946", ""),
]
svg("Build C: ESP32 DevKit + GY-521 (MPU-6050)", "Pins: firmware/boards/devkit_mpu6050.py = README table C. MPU-6050 at 0x68 (AD0 low).",
    left, right, wires, HERE / "devkit_mpu6050.svg",
    "GY-521 flat, parts side out, its X arrow toward the knee. XDA/XCL/AD0 unconnected. Not to scale.")
