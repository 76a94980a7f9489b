"""hardware/ agrees with the firmware: wiring tables and SVG diagrams use the pins of
firmware/boards/*.py, power.md carries power_budget.py's current output, every power
source id is documented, and the battery curve is monotonic. Fast, no hardware."""
from __future__ import annotations

import csv
import importlib
import importlib.util
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HW = ROOT / "hardware"
FIRMWARE = ROOT / "firmware"
if str(FIRMWARE) not in sys.path:
    sys.path.insert(0, str(FIRMWARE))

import boards  # noqa: E402

SECTIONS = {  # README heading prefix -> board profile
    "### A.": "m5stickc_plus2",
    "### B.": "xiao_esp32s3_lsm6ds3",
    "### C.": "devkit_mpu6050",
}


def profile(name):
    return importlib.import_module("boards." + name)


def button(prof, name):
    for bname, gpio, _active_low in prof.BUTTONS:
        if bname == name:
            return gpio
    raise AssertionError("%s has no button %r" % (prof.NAME, name))


def profile_pins(prof):
    """Every GPIO the profile uses."""
    pins = {prof.I2C_SDA, prof.I2C_SCL, prof.IMU_INT_PIN, prof.LED_PIN, prof.BUZZER_PIN,
            prof.VIBRATION_PIN, prof.BAT_ADC_PIN, prof.POWER_HOLD_PIN}
    pins.update(g for _n, g, _a in prof.BUTTONS)
    pins.discard(None)
    return pins


# --------------------------------------------------------------------------------------
# README wiring tables


def readme_tables():
    """{board: [row cells]} for the tables under the A./B./C. headings."""
    text = (HW / "README.md").read_text(encoding="utf-8")
    out, current = {}, None
    for line in text.splitlines():
        if line.startswith("#"):
            current = None
            for prefix, board in SECTIONS.items():
                if line.startswith(prefix):
                    current = board
                    out[board] = []
            continue
        if current and line.startswith("|") and not re.match(r"^\|[-| :]+\|$", line):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            out[current].append(cells)
    return out


# Rules: (regex on the whole row, function(profile) -> expected GPIOs in row order)
RULES = [
    (r"I2C SDA / SCL", lambda p: [p.I2C_SDA, p.I2C_SCL]),
    (r"Power hold", lambda p: [p.POWER_HOLD_PIN]),
    (r"Button A \(front\)", lambda p: [button(p, "A")]),
    (r"Button B \(side\)", lambda p: [button(p, "B")]),
    (r"Power button", lambda p: [button(p, "PWR")]),
    (r"BOOT button", lambda p: [button(p, "BOOT")]),
    (r"[Pp]ush button", lambda p: [button(p, "A")]),
    (r"\bSDA\b", lambda p: [p.I2C_SDA]),
    (r"\bSCL\b", lambda p: [p.I2C_SCL]),
    (r"\bINT1?\b|interrupt", lambda p: [p.IMU_INT_PIN]),
    (r"[Bb]uzzer", lambda p: [p.BUZZER_PIN]),
    (r"motor", lambda p: [p.VIBRATION_PIN]),
    (r"divider|Battery voltage", lambda p: [p.BAT_ADC_PIN]),
    (r"\bLED\b", lambda p: [p.LED_PIN]),
]
SPARE = r"Grove|spare"  # documented but deliberately unused: must not clash


def gpio_numbers(cells, board):
    """GPIO numbers written in a row: the GPIO column (A, B) or 'GPIOnn' (C)."""
    if board == "devkit_mpu6050":
        m = re.match(r"GPIO(\d+)$", cells[0])
        return [int(m.group(1))] if m else []
    gpio_cell = cells[1]
    gpio_cell = re.sub(r"\(ADC\d_CH\d\)", "", gpio_cell)
    return [int(n) for n in re.findall(r"\d+", gpio_cell)]


@pytest.mark.parametrize("board", list(SECTIONS.values()))
def test_readme_table_pins_match_profile(board):
    prof = profile(board)
    rows = readme_tables()[board]
    assert len(rows) > 5, "no wiring table found for %s" % board
    checked = set()
    for cells in rows[1:]:  # skip the header row
        row = " | ".join(cells)
        nums = gpio_numbers(cells, board)
        if re.search(SPARE, row):
            assert not set(nums) & profile_pins(prof), row
            continue
        if re.search(r"IMU interrupt", row) and not nums:
            assert prof.IMU_INT_PIN is None, row
            continue
        if not nums:
            continue  # power pins (3V3, GND, BAT pads)
        for pattern, expected in RULES:
            if re.search(pattern, row):
                want = expected(prof)
                assert nums == want, "%s: README row %r has %r, profile says %r" % (board, row, nums, want)
                checked.update(want)
                break
        else:
            raise AssertionError("%s: README row with a pin but no known role: %r" % (board, row))
    missing = profile_pins(prof) - checked
    assert not missing, "%s: profile pins missing from the README table: %r" % (board, sorted(missing))


def test_readme_m5_has_no_imu_int_pin():
    rows = readme_tables()["m5stickc_plus2"]
    assert any("IMU interrupt" in " ".join(r) and r[1] in ("—", "-") for r in rows)
    assert profile("m5stickc_plus2").IMU_INT_PIN is None


# --------------------------------------------------------------------------------------
# SVG wiring diagrams

SVG_SIGNALS = {
    "I2C_SDA": lambda p: p.I2C_SDA,
    "I2C_SCL": lambda p: p.I2C_SCL,
    "IMU_INT": lambda p: p.IMU_INT_PIN,
    "VIBRATION": lambda p: p.VIBRATION_PIN,
    "BUZZER": lambda p: p.BUZZER_PIN,
    "LED": lambda p: p.LED_PIN,
    "BAT_ADC": lambda p: p.BAT_ADC_PIN,
    "BUTTON_A": lambda p: button(p, "A"),
}
SVGS = {
    "xiao_esp32s3_lsm6ds3": {"I2C_SDA", "I2C_SCL", "IMU_INT", "VIBRATION", "BAT_ADC", "BUTTON_A"},
    "devkit_mpu6050": {"I2C_SDA", "I2C_SCL", "IMU_INT", "VIBRATION", "BUZZER", "LED", "BAT_ADC", "BUTTON_A"},
}


@pytest.mark.parametrize("board", sorted(SVGS))
def test_svg_pins_match_profile(board):
    prof = profile(board)
    path = HW / "wiring" / (board + ".svg")
    root = ET.parse(path).getroot()
    seen = {}
    for el in root.iter():
        sig = el.get("data-signal")
        if sig is None or el.get("data-gpio") is None:
            continue
        assert sig in SVG_SIGNALS, "%s: unknown signal %r" % (path.name, sig)
        gpio = int(el.get("data-gpio"))
        assert gpio == SVG_SIGNALS[sig](prof), "%s: %s on GPIO%d, profile says %r" % (
            path.name, sig, gpio, SVG_SIGNALS[sig](prof))
        seen[sig] = gpio
    assert set(seen) == SVGS[board], "%s: wires %r, expected %r" % (path.name, sorted(seen), sorted(SVGS[board]))
    # the pin labels drawn next to the wires say the same GPIO
    labels = " ".join(t.text or "" for t in root.iter() if t.tag.endswith("text"))
    for gpio in seen.values():
        assert "(GPIO%d)" % gpio in labels


def test_readme_links_diagrams_and_power():
    text = (HW / "README.md").read_text(encoding="utf-8")
    for target in ("wiring/xiao_esp32s3_lsm6ds3.svg", "wiring/devkit_mpu6050.svg", "power.md",
                   "enclosure/repband_case.scad", "enclosure/m5stickc_plus2_strap_clip.scad"):
        assert "(%s)" % target in text, target
        assert (HW / target).exists(), target
    assert "repband flash" in text and "--verify" in text and "--dry-run" in text


# --------------------------------------------------------------------------------------
# Power budget


def _budget():
    spec = importlib.util.spec_from_file_location("power_budget", HW / "power_budget.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_power_budget_output_is_in_power_md():
    out = subprocess.run([sys.executable, str(HW / "power_budget.py")], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    mod = _budget()
    doc = (HW / "power.md").read_text(encoding="utf-8")
    assert mod.block_in(doc) == out, "power.md is out of date: paste `python3 hardware/power_budget.py`"
    rc = subprocess.run([sys.executable, str(HW / "power_budget.py"), "--check"], capture_output=True,
                        timeout=60).returncode
    assert rc == 0


def test_power_budget_days_add_up_and_sources_documented():
    mod = _budget()
    sources = (HW / "sources.md").read_text(encoding="utf-8")
    for name, (ma, src, note) in mod.COMPONENTS.items():
        assert ma > 0, name
        for sid in src.split("/"):
            assert "| `%s` |" % sid in sources, "source id %r (%s) not in sources.md" % (sid, name)
    for state, comps in mod.STATES.items():
        assert comps and all(c in mod.COMPONENTS for c in comps), state
    for title, battery, usable, _note, day in mod.PROFILES:
        base = [h for s, h in day if not s.endswith(".lcd")]
        assert abs(sum(base) - 24.0) < 1e-9, title
        assert all(h >= 0 for _s, h in day)
        mah_day, days = mod.profile_totals(battery, usable, day)
        assert days == pytest.approx(battery * usable / mah_day)


def test_power_md_summary_matches_budget():
    """The hand-written summary table quotes the generated life estimates."""
    mod = _budget()
    doc = (HW / "power.md").read_text(encoding="utf-8")
    summary = doc.split("## The short answer", 1)[1].split("##", 1)[0]
    for title, battery, usable, _note, day in mod.PROFILES:
        _mah, days = mod.profile_totals(battery, usable, day)
        quoted = ["%.1f" % days, "%.0f" % days, "%d" % days]
        assert any("≈ %s days" % q in summary for q in quoted), (title, days)


# --------------------------------------------------------------------------------------
# Battery curve


def _curve():
    with open(HW / "battery_curve.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [(int(r["percent"]), int(r["open_circuit_mv"])) for r in rows]


def test_battery_curve_monotonic():
    curve = _curve()
    assert curve[0] == (100, curve[0][1]) and curve[-1][0] == 0
    for (p1, v1), (p2, v2) in zip(curve, curve[1:]):
        assert p2 < p1 and v2 < v1, ((p1, v1), (p2, v2))
    assert 4100 <= curve[0][1] <= 4250 and 3000 <= curve[-1][1] <= 3400


def test_battery_curve_table_in_power_md():
    doc = (HW / "power.md").read_text(encoding="utf-8")
    for pct, mv in _curve():
        assert re.search(r"^\| %d \| %d \|$" % (pct, mv), doc, re.M), (pct, mv)


# --------------------------------------------------------------------------------------
# Enclosure sources carry the marks and the strap width


@pytest.mark.parametrize("name", ["repband_case.scad", "m5stickc_plus2_strap_clip.scad"])
def test_enclosure_marks(name):
    text = (HW / "enclosure" / name).read_text(encoding="utf-8")
    assert re.search(r"^strap_w = 25(\.0)?;", text, re.M)
    assert '"KNEE"' in text and "arrow2d" in text
    assert "THIS SIDE" in text and "OUT" in text


def test_firmware_uses_the_documented_battery_curve():
    """The app's percent table is hardware/battery_curve.csv, point for point."""
    from repband.firmware import import_firmware

    import_firmware()
    from app.power import BATTERY_CURVE, battery_pct

    with open(Path(__file__).resolve().parents[1] / "hardware" / "battery_curve.csv") as f:
        rows = [(int(r["open_circuit_mv"]), int(r["percent"])) for r in csv.DictReader(f)]
    assert list(BATTERY_CURVE) == rows
    assert battery_pct(4300) == 100 and battery_pct(3000) == 0
    assert battery_pct(3760) == 55  # halfway between 3720 (50 %) and 3800 (60 %)
