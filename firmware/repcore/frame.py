"""The body frame: which sensor directions point down the thigh, forward and outward.

Body axes, for either leg: x down the thigh toward the knee, y forward (the way the
knee moves when the hip flexes), z outward (away from the other leg). The nominal
mount (data README) has sensor x, z along body x, z and sensor y forward on the right
leg but backward on the left one (y = z × x). Calibration replaces the nominal guess
with axes measured while the wearer stands still and walks.
"""
from math import sqrt


class Frame:
    def __init__(self, leg_sign):
        # leg_sign: +1 right leg, -1 left leg (sensor y is backward on the left leg)
        self.leg_sign = leg_sign
        self.set_axes(1.0, 0.0, 0.0, 0.0, 1.0 * leg_sign, 0.0)
        self.calibrated = False
        self.forward_known = True  # False after a calibration had to guess forward

    def set_axes(self, xx, xy, xz, yx, yy, yz):
        """Body x and y as sensor-frame vectors; made orthonormal, z follows."""
        n = sqrt(xx * xx + xy * xy + xz * xz)
        xx /= n
        xy /= n
        xz /= n
        d = yx * xx + yy * xy + yz * xz
        yx -= d * xx
        yy -= d * xy
        yz -= d * xz
        n = sqrt(yx * yx + yy * yy + yz * yz)
        if n < 0.2:
            return False  # forward guess is almost along the thigh: keep the old axes
        yx /= n
        yy /= n
        yz /= n
        self.xx, self.xy, self.xz = xx, xy, xz
        self.yx, self.yy, self.yz = yx, yy, yz
        # Body z is outward on both legs; sensor-frame z × x = y on the right leg,
        # and the mirror image on the left, so z = (x × y) * leg_sign.
        s = self.leg_sign
        self.zx = (xy * yz - xz * yy) * s
        self.zy = (xz * yx - xx * yz) * s
        self.zz = (xx * yy - xy * yx) * s
        return True

    def along(self, x, y, z):
        """Direction (x, y, z) in the sensor frame along body x: the sine of how far it
        points down the thigh (or the pelvis) from level."""
        return self.xx * x + self.xy * y + self.xz * z

    def calibrate(self, ux, uy, uz, fx, fy, fz):
        """Standing still with `u` up; `f` a forward direction (sensor frame) or zeros.

        Without a measured forward direction the current one is kept, only made
        perpendicular to the new thigh axis: that corrects tilt, not roll. When that
        direction lies almost along the new thigh axis (a strap turned far from the
        nominal mount), the current axis most nearly perpendicular to the thigh stands
        in and `forward_known` turns False: only a hip flexion can tell forward then.
        """
        self.forward_known = True
        if fx == 0.0 and fy == 0.0 and fz == 0.0:
            fx, fy, fz = self.yx, self.yy, self.yz
        if not self.set_axes(-ux, -uy, -uz, fx, fy, fz):
            # Of three orthonormal axes one is at least 55 deg from any direction.
            best = 2.0
            for vx, vy, vz in ((self.yx, self.yy, self.yz), (self.zx, self.zy, self.zz),
                               (self.xx, self.xy, self.xz)):
                c = abs(vx * ux + vy * uy + vz * uz)
                if c < best:
                    best = c
                    fx, fy, fz = vx, vy, vz
            if not self.set_axes(-ux, -uy, -uz, fx, fy, fz):
                return False
            self.forward_known = False
        self.calibrated = True
        return True
