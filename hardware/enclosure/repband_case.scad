// repband case: Seeed XIAO ESP32S3 + LSM6DS3TR-C breakout (Adafruit 4503) + 1S LiPo.
//
// Mount convention (hardware/README.md, firmware/boards/*.py):
//   +x  down the thigh, toward the knee   -> embossed arrow "KNEE" on the lid points +x
//   +z  out of the leg, away from the skin -> the lid (with "THIS SIDE OUT") faces +z
//   The breakout sits flat, parts side up (+z), its silkscreen X arrow toward +x, so the
//   chip axes equal the mount axes (IMU_REMAP = identity in xiao_esp32s3_lsm6ds3.py).
//   The strap (25 mm) runs round the thigh, i.e. along y, through two side loops.
//
// Stack, from the skin up: floor, LiPo, a 1 mm shelf, XIAO + breakout side by side
// along x, lid. USB-C of the XIAO faces -x (the hip end) so the cable clears the knee.
//
// Dimensions (see hardware/sources.md, "Enclosure dimensions"):
//   XIAO ESP32S3 21 x 17.8 mm board (Seeed; other sources say 17.5), ~3.5 mm with shield
//   Adafruit 4503 breakout 25.6 x 17.8 x 4.6 mm (Adafruit product page, recalled: MEASURE)
//   502035 LiPo 5.0 x 20 x 35 mm (cell naming convention), ~250 mAh
// All sizes are parameters: measure your parts and edit them before printing.
//
// Render: openscad -o base.stl -D 'part="base"' repband_case.scad   (and part="lid")
// Print: PETG or PLA, 0.2 mm layers. Base on its back (the strap bars bridge 26 mm:
// fine for PETG/PLA, or add supports), lid and tray flat, marks up.

/* [What to render] */
part = "all";            // "all", "base", "lid", "tray"

/* [Parts, mm] */
xiao_l = 21.0;           // along x
xiao_w = 17.8;           // along y
xiao_h = 4.5;            // board + shield + USB-C height
imu_l = 25.6;            // breakout, along x
imu_w = 17.8;
imu_h = 4.6;
imu_hole_d = 2.5;        // breakout mounting holes (Adafruit: 2.5 mm), at the short ends
imu_hole_inset = 2.54;   // hole centre from the board edge
bat_l = 35.0;            // LiPo 502035, along x
bat_w = 20.0;
bat_h = 5.0;
bat_pcb = 4.0;           // protection board and wires at the LiPo's end
usb_w = 9.5;             // USB-C plug opening
usb_h = 3.6;
gap = 2.0;               // between XIAO and breakout (wires)
clear = 0.6;             // clearance around every part

/* [Case, mm] */
wall = 1.8;
floor_t = 1.6;
lid_t = 1.6;
shelf_t = 1.2;           // shelf between battery bay and boards
wire_room = 2.5;         // above the boards for wires
corner_r = 3.0;

/* [Strap] */
strap_w = 25.0;          // strap width (the brief: 25 mm)
strap_t = 2.0;           // strap thickness
loop_wall = 2.2;         // thickness of the loop bar

/* [Marks] */
mark_depth = 0.6;        // emboss height of arrow and text
font = "Liberation Sans:style=Bold";
button_d = 7.0;          // opening for a 6 mm tactile switch cap (wired to D8), 0 = none
button_x = 19.0;         // its position from the lid centre along x (knee end)

$fn = 40;

// ---- derived sizes
in_l = max(xiao_l + gap + imu_l, bat_l + bat_pcb) + 2 * clear;
in_w = max(max(xiao_w, imu_w), bat_w) + 2 * clear;
bay_h = bat_h + clear;                         // battery bay height
board_h = max(xiao_h, imu_h) + wire_room;      // room above the shelf
in_h = bay_h + shelf_t + board_h;
out_l = in_l + 2 * wall;
out_w = in_w + 2 * wall;
out_h = floor_t + in_h;

module rounded_box(l, w, h, r) {
    // box from z = 0 to h, centred in x and y, vertical edges rounded
    linear_extrude(h)
        offset(r) square([l - 2 * r, w - 2 * r], center = true);
}

module base() {
    difference() {
        union() {
            rounded_box(out_l, out_w, out_h, corner_r);
            strap_loops();
        }
        // cavity
        translate([0, 0, floor_t]) rounded_box(in_l, in_w, in_h + 1, max(corner_r - wall, 0.5));
        // USB-C opening at the hip end (-x), level with the XIAO on the shelf
        translate([-out_l / 2 - 1, -usb_w / 2, floor_t + bay_h + shelf_t + 0.5])
            cube([wall + 2, usb_w, usb_h + 1]);
    }
    // tray supports: a 1.5 mm wall across each short end, from the floor to the tray;
    // the LiPo (shorter than the bay) slides in between them, the tray rests on top
    for (s = [-1, 1])
        translate([s > 0 ? in_l / 2 - 1.5 : -in_l / 2, -in_w / 2, floor_t - 0.01])
            cube([1.5, in_w, bay_h + 0.01]);
}

module strap_loops() {
    // Two belt-loop bars on the skin side (z < 0), one near each long edge. Each bar
    // runs along x and stands off the floor on two posts, leaving a tunnel along y,
    // strap_w + 1 long (x) and strap_t + 0.8 high (z): the strap, running round the
    // thigh (along y), threads under both bars and lies flat against the case back.
    slot_l = strap_w + 1.0;
    slot_t = strap_t + 0.8;
    bar_w = 5.0;
    for (s = [-1, 1])
        translate([0, s * (out_w / 2 - bar_w / 2 - 0.5), 0])
            difference() {
                translate([-(slot_l / 2 + loop_wall), -bar_w / 2, -(slot_t + loop_wall)])
                    cube([slot_l + 2 * loop_wall, bar_w, slot_t + loop_wall + 0.01]);
                translate([-slot_l / 2, -bar_w, -slot_t]) cube([slot_l, 2 * bar_w, slot_t + 0.02]);
            }
}

module tray() {
    // board tray resting on the ledges; holes for the breakout's screws (M2.5)
    difference() {
        translate([-in_l / 2 + 0.2, -in_w / 2 + 0.2, 0]) cube([in_l - 0.4, in_w - 0.4, shelf_t]);
        for (dx = [imu_hole_inset, imu_l - imu_hole_inset])
            translate([in_l / 2 - clear - imu_l + dx, 0, -1]) cylinder(d = imu_hole_d + 0.3, h = 5);
        // wire pass-through to the battery bay, at the hip end
        translate([-in_l / 2 + 2, -3, -1]) cube([4, 6, 5]);
    }
}

module arrow2d(len = 22, shaft = 3.0, head = 8.0, head_l = 7.0) {
    // points +x
    union() {
        translate([-len / 2, -shaft / 2]) square([len - head_l, shaft]);
        translate([len / 2 - head_l, 0]) polygon([[0, -head / 2], [head_l, 0], [0, head / 2]]);
    }
}

module marks2d() {
    // arrow toward the knee with its label, and the orientation text
    translate([-8, 5]) arrow2d(len = 24);
    translate([6, 5]) text("KNEE", size = 3.4, font = font, halign = "left", valign = "center");
    translate([0, -4]) text("THIS SIDE OUT", size = 2.6, font = font, halign = "center", valign = "center");
}

module lid() {
    difference() {
        union() {
            rounded_box(out_l, out_w, lid_t, corner_r);
            // plug that drops into the opening
            translate([0, 0, -1]) rounded_box(in_l - 0.4, in_w - 0.4, 1, max(corner_r - wall, 0.5));
            // embossed marks on the outer (+z) face
            translate([0, 0, lid_t]) linear_extrude(mark_depth) marks2d();
        }
        if (button_d > 0)
            translate([button_x, -4, -2]) cylinder(d = button_d, h = 10);
    }
}

module assembly() {
    base();
    translate([0, 0, floor_t + bay_h]) color("tan") tray();
    translate([0, 0, out_h + 4]) lid();
}

if (part == "base") base();
else if (part == "lid") translate([0, 0, 1]) lid();
else if (part == "tray") tray();
else assembly();

echo(str("repband_case outer size (mm): ", out_l, " x ", out_w, " x ",
          out_h + lid_t + strap_t + 0.8 + loop_wall, " incl. strap bars"));
