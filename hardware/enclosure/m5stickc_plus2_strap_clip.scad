// repband strap clip for the M5Stack M5StickC Plus2 (SKU K016-P2).
//
// The stick snaps into an open cradle, screen up (+z, away from the leg), its USB-C
// end toward the knee (+x): the orientation assumed by IMU_REMAP in
// firmware/boards/m5stickc_plus2.py (itself still to be confirmed with the standing
// calibration, x ~ -1000 mg when standing). Marks, embossed on the two end tabs:
//   knee end (+x): an arrow pointing +x and "KNEE"
//   hip end  (-x): "THIS SIDE OUT" (the face you read it on is the outside)
// The strap (25 mm) runs round the thigh, i.e. along y, under two belt-loop bars on
// the back of the base plate.
//
// Stick size 48.0 x 24.0 x 13.5 mm (M5Stack product page, recalled: MEASURE YOURS,
// see hardware/sources.md "Enclosure dimensions"). Buttons: A on the screen face (open
// cradle: reachable), B on one long side, power on the other long side: both long
// walls have a cut-out over the middle, so the buttons stay free whichever way round
// the stick goes. USB-C end open for charging; top end open for the Grove port.
//
// Render: openscad -o clip.stl m5stickc_plus2_strap_clip.scad
// Print: on its back (bars down) with supports under the bars, or set bars_on_bed
// = false and print upright; PETG recommended (the snap lips flex).

/* [Stick, mm] */
stick_l = 48.0;          // along x
stick_w = 24.0;          // along y
stick_h = 13.5;          // along z
clear = 0.4;             // per side

/* [Cradle, mm] */
base_t = 2.0;            // plate under the stick
wall = 1.8;              // side walls
wall_h = 9.0;            // side wall height above the plate (stick is 13.5: screen stays clear)
lip = 0.9;               // snap lip overhang at the top of each side wall
end_stop_h = 4.0;        // low stops at both ends keep the stick from sliding along x
button_cut_l = 30.0;     // cut-out in each long wall, centred (buttons B and power)
button_cut_h = 6.5;      // from the top of the wall down
tab_l = 16.0;            // end tabs carrying the marks
corner_r = 2.5;

/* [Strap] */
strap_w = 25.0;
strap_t = 2.0;
loop_wall = 2.2;
bars_on_bed = true;

/* [Marks] */
mark_depth = 0.6;
font = "Liberation Sans:style=Bold";

$fn = 40;

in_l = stick_l + 2 * clear;
in_w = stick_w + 2 * clear;
out_w = in_w + 2 * wall;
plate_l = in_l + 2 * tab_l;

module rounded_plate(l, w, t, r) {
    linear_extrude(t) offset(r) square([l - 2 * r, w - 2 * r], center = true);
}

module arrow2d(len = 12, shaft = 2.6, head = 7.0, head_l = 5.0) {
    union() {
        translate([-len / 2, -shaft / 2]) square([len - head_l, shaft]);
        translate([len / 2 - head_l, 0]) polygon([[0, -head / 2], [head_l, 0], [0, head / 2]]);
    }
}

module cradle() {
    difference() {
        union() {
            rounded_plate(plate_l, out_w, base_t, corner_r);
            // long side walls with snap lips
            for (s = [-1, 1])
                translate([-in_l / 2, s > 0 ? in_w / 2 : -in_w / 2 - wall, base_t - 0.01]) {
                    cube([in_l, wall, wall_h]);
                    // lip: a wedge leaning inward at the top
                    translate([0, s > 0 ? -lip : wall, wall_h - 1.6])
                        cube([in_l, lip, 1.6]);
                }
            // low end stops
            for (s = [-1, 1])
                translate([s > 0 ? in_l / 2 : -in_l / 2 - wall, -in_w / 2, base_t - 0.01])
                    cube([wall, in_w, end_stop_h]);
        }
        // button cut-outs in both long walls
        for (s = [-1, 1])
            translate([-button_cut_l / 2, s * (in_w / 2 + wall / 2) - wall, base_t + wall_h - button_cut_h])
                cube([button_cut_l, 2 * wall, button_cut_h + 1]);
        // USB-C access in the knee-end stop (the plug sits above the plate)
        translate([in_l / 2 - 1, -6, base_t + 2]) cube([wall + 2, 12, 10]);
        // a window under the stick saves plastic and lets sweat out
        translate([0, 0, -1]) rounded_plate(in_l - 14, in_w - 10, base_t + 2, 2);
    }
    // marks on the end tabs (top face, +z)
    translate([in_l / 2 + tab_l / 2, 0, base_t - 0.01]) linear_extrude(mark_depth) {
        translate([0, 4]) arrow2d();
        translate([0, -5]) text("KNEE", size = 3.2, font = font, halign = "center", valign = "center");
    }
    translate([-in_l / 2 - tab_l / 2, 0, base_t - 0.01]) linear_extrude(mark_depth)
        rotate(90) {
            translate([0, 2.2]) text("THIS SIDE", size = 2.4, font = font, halign = "center", valign = "center");
            translate([0, -2.2]) text("OUT", size = 2.4, font = font, halign = "center", valign = "center");
        }
}

module strap_bars() {
    // belt-loop bars on the back (z < 0), running along x near each long edge; the
    // strap threads under both, along y
    slot_l = strap_w + 1.0;
    slot_t = strap_t + 0.8;
    bar_w = 5.0;
    for (s = [-1, 1])
        translate([0, s * (out_w / 2 - bar_w / 2), 0])
            difference() {
                translate([-(slot_l / 2 + loop_wall), -bar_w / 2, -(slot_t + loop_wall)])
                    cube([slot_l + 2 * loop_wall, bar_w, slot_t + loop_wall + 0.01]);
                translate([-slot_l / 2, -bar_w, -slot_t]) cube([slot_l, 2 * bar_w, slot_t + 0.02]);
            }
}

module clip() {
    cradle();
    strap_bars();
}

if (bars_on_bed) translate([0, 0, strap_t + 0.8 + loop_wall]) clip();
else clip();

echo(str("m5stickc_plus2_strap_clip footprint (mm): ", plate_l, " x ", out_w));
