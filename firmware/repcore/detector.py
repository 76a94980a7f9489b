"""The rep and hold detector: raw IMU samples in, exercise events out.

Pipeline, per tick of 80 ms (see ticker.py for the per-sample part):
 1. gravity direction `u` (unit vector, sensor frame): accelerometer low-passed, or
    with a gyroscope a complementary filter that follows fast turns;
 2. motion features: tilt rate, direction reversals (walking), stillness, jolts;
 3. calibration: a walk (and a stand next to it, or a sit) fixes the body frame;
 4. reps: an excursion of `u` away from where the thigh rests and back, whose rest
    posture and direction in the body frame say which exercise it was;
 5. sets: a second alike rep opens a set; its rest and range judge the next reps; a set
    the uncalibrated frame cannot name is held until it can (or reported not counted);
 6. holds: the thigh still in hip extension while kneeling (hip flexor stretch).
Design notes and measured accuracy: docs/algorithm.md.
"""
from math import acos, asin, atan2, cos, sin, sqrt

from repcore.compat import const
from repcore.frame import Frame
from repcore.ticker import TICK_MS, Ticker

# repcore.events' values, folded here (no imported names on the board: each would cost
# heap and a lookup at every use); tests/test_app_constants.py ties them.
_CAL_FLEXION = const(3)
_CAL_STANDING = const(1)
_CAL_USER = const(2)
_CAL_WALKING = const(4)
_CAL_SET = const(5)
_EV_CALIBRATED = const(4)
_EV_FAULT = const(5)
_EV_HOLD = const(2)
_EV_REP = const(1)
_EV_SET = const(3)
_EX_BRIDGE = const(1)
_EX_CLAM = const(2)
_EX_NONE = const(0)
_EX_STRETCH = const(3)
_FAULT_BAD_SAMPLE = const(1)
_FAULT_GAP = const(2)
_FAULT_UNCALIBRATED = const(3)
_MODE_AUTO = const(0)
_PLACEMENT_HIP = const(1)
_PLACEMENT_THIGH = const(0)
_SIDE_LEFT = const(1)
_SIDE_NONE = const(0)
_SIDE_RIGHT = const(2)

_DEG = const(57.29578)
_DT = const(0.08)  # s per tick (TICK_MS)
_GYRO_RAD = const(0.00013962634)  # 0.1 deg/s over a tick, in rad: _DT / 10 / _DEG

# Gravity filters (per-tick gains). With a gyroscope the filter integrates the turn
# and only leans on the accelerometer slowly, so linear acceleration hurts less.
_K_ACC = const(0.45)
_K_GYRO = const(0.2)
_K_RATE = const(0.08)  # ~1 s average of the tilt rate
_K_REV = const(0.04)  # ~2 s average of direction reversals (1-2 per second when walking)
_K_SWING = const(0.1)  # ~0.8 s average of the swing direction the reversals are counted on
_REV_STEP = const(0.5)  # _K_REV / _DT: what one reversal adds to the reversals-per-second average

_STILL_RATE = const(0.12)  # rad/s of tilt: slower than this is resting
# rad/s sustained; without a gyro 0.35 of it: the accelerometer of a swinging thigh
# reads mostly along the thigh, as on a pendulum, so the tilt it shows swings less, with...
_WALK_RATE = const(0.7)
_WALK_RATE_ACC = const(0.245)  # 0.35 * _WALK_RATE
_WALK_REV = const(0.8)  # ...direction reversals per second: the thigh swinging at ~1 Hz
_WALK_MS = const(3000)
_WALK_HIP = const(0.45)  # the pelvis tilts this much of what a thigh swings
# ...and until a calibration shows up, this much: a walk is what shows up to a band worn
# anywhere round the waist, and some pelvises sway little (HAPT's real walks 1.0-2.3
# times _WALK_HIP; calibrating needs footfalls too, _DYN_CAL). Once up is known the
# higher figure keeps later walks, and the stands next to them, from moving it.
_WALK_HIP_UNCAL = const(0.3)
# Jolts: ~mg of |a| change per tick, averaged. Footfalls make a walk average more than
# this (sim 80, a walk at the hip 250), a leg marched lying down ~20...
_DYN_WALK = const(35)
_DYN_CAL = const(55)  # ...and surely more than this: a walk that calibrates, a stride in clam
# mode (walks 63+ in the body models, 110+ at the hip in HAPT; MEx's fast clams and
# floor exercises that swing like strides 35-49)
_DYN_STEP = const(20)  # ...a quick turn amid a walk jolts more than this to be a stride
_DYN_BUSY = const(250)  # ...steps at the hip, stairs and hops reach this; reps seldom
_BUSY_MS = const(2000)  # ...that recently before a turn: it is no rep
_LAND_MS = const(1000)  # ...unless it came this soon after a rep of the open set: its landing
_WALK_PLANAR = const(0.8)
# What calibration still has to learn about the forward axis
_FWD_KNOWN = const(0)
_FWD_SIGN = const(1)  # the axis (from walking), not its sign
_FWD_AXIS = const(2)  # nothing: no usable walk, or a flexion far from its axis
_FWD_NOMINAL = const(3)  # the strap's nominal forward: used, but a flexion may replace it
_FWD_NONE = const(4)  # not calibrated yet
_CAL_STILL_MS = const(2000)  # standing still this long is a calibration candidate
_CAL_NEAR_MS = const(6000)  # ...when walking ends or starts this close to it
_COS_STRIDE = const(0.97)  # cos 14 deg
_WALK_CAL_TICKS = const(75)  # 6 s of walking calibrate a band that has not stood still near a walk
_SIT_MS = const(4000)  # from upright to seated (or kneeling) within this
_COS_MID = const(0.7)  # cos 45 deg: the thigh half way down
_OFF_PLANE = const(0.1)  # ...within 18 deg of the plane it ends in
_CAL_UPRIGHT = const(0.82)  # cos 35 deg: nominal mount tolerance for calibrating without walking

_REST_MS = const(400)  # settled this long before a rep may start
_COS_START = const(0.9962)  # cos 5 deg: leaving rest by more starts an excursion
_COS_AT_REST = const(0.9986)  # cos 3 deg: closer than this is still at rest
_COS_START3 = const(0.99863)  # cos 3 deg: the least turn that starts an excursion in a set of small reps
_START_FRAC = const(0.4)  # in a set an excursion starts at this of its range (3-5 deg)
_PIN_FRAC = const(0.35)  # ...and rest may re-settle this close to where its reps start
_FAR_MIN = const(35)  # degrees, and twice the set's range: still farther from its rest, a new posture
_COS_SETTLE = const(0.99966)  # cos 1.5 deg: settled within this cone for _REST_MS is rest
_COS_HELD = const(0.99863)  # cos 3 deg: away from rest, still within this cone is held there
_STILL_REST_MS = const(1200)  # settled this long, the thigh was still there, not creeping
_CREEP_ON = const(1.5)  # a creep out of rest held short of this times the start angle: settling
_MIN_REP_MS = const(800)  # faster turns are steps or fidgets (real clams take 1.7 s and more)
_STRIDE_MS = const(1500)  # a stride's swing one way is quicker than this, a rep is not
_STRIDE_PERIOD_MS = const(2000)  # ...and the next stride follows within this
_MIN_HIP_MS = const(1200)  # the pelvis sways faster with each step than it turns in a rep
_MAX_OUT_MS = const(20000)  # away from rest longer than this: a new posture
_HELD_MS = const(1000)  # still this long away from rest: held (a top, or a new posture)
_HELD_FIRST_MS = const(1080)  # ...this tick is the first held (_HELD_MS + TICK_MS)
_SETTLE_MS = const(3000)  # still this long...
_POSTURE_DEG = const(50)  # ...this far from rest is a new posture: no top hold is that far
_SWING_MS = const(6000)
_HOLD_MAX_MS = const(13000)  # still longer than any top hold (real ones 2-5 s, slow ones 10 s)
_END_FRAC = const(0.4)  # back below this fraction of the peak: the rep is over
_DOWN_FRAC = const(0.7)  # ...below this: on its way down, done if the stream stops or the thigh goes elsewhere
_TOP_FRAC = const(0.85)
_FULL_FRAC = const(0.55)  # of the set's typical range: a full rep; below: partial
_PART_FRAC = const(0.3)  # below this it is noise (a "tiny" rep), not reported
_HALF_FRAC = const(0.5)  # under this of a set's waiting first rep: no second to it
_SET_GAP_MS = const(20000)
# Lying on the back, knees bent: the thigh points up from the hip at 20-80 deg, so its
# sagittal angle (0 standing, 90 horizontal forward) is 120-165 deg. A kneeling front
# thigh (about 90) is outside, so shifting into the stretch is not a bridge.
_SUPINE_LO = const(120)
_SUPINE_HI = const(165)
_UNKNOWN = const(9)  # a set the body frame cannot name yet: held until it can
_HELD_SETS = const(3)  # sets held at most...
_HELD_REPS = const(40)  # ...and reps each
_REP = const(0)  # how an excursion ended (_back_to_rest)
_NO_REP = const(1)
_POSTURE = const(2)
_BRIDGE_MIN = const(8)  # degrees: real bridges tilt the thigh 8-43 deg, pelvic tilts ~5
_MANUAL_BRIDGE_MIN = const(4)
_BRIDGE_MAX = const(70)  # larger turns are posture changes (lying down, rolling over)
_KNEE_UP = const(0.17)  # sin 10 deg: at a bridge's top the knee is still above the hip
_KNEE_DOWN = const(0.5)  # ...and it came down by this of the bridge's turn at least
_KNEE_LIFT = const(0.3)  # ...a clam lifts it by this of its turn at least (rolls, knees straight: 0.15)
_CLAM_MIN = const(12)
_KNEE_SIDE = const(0.2)  # sin 12 deg: lying on a side the top knee rests no higher than the hip
_CLAM_UNSURE_MIN = const(20)  # before calibration: real clams turn the thigh 46-67 deg
_CLAM_RISE = const(0.5)  # ...and open lifting the knee by this of their turn (nominal mount: 0.51 and more)
_OUTER_UP = const(0.26)  # ...their outer side still up at the top, sin 15 deg (real ones 34 deg and more)
_FRONT_DOWN = const(-0.3)  # ...and their front not down at it, sin -17 deg (real ones -6 deg and more)
_SHAPE_REPS = const(3)  # the rep of a held set that may calibrate the band by its shape...
_SHAPE_MIN = const(12)  # ...if its reps are surely bridges (_SURE_MIN x _BRIDGE_MIN)...
_SHAPE_MAX = const(45)  # ...by their range (real ones 8-43 deg; a stair's step 50 and more)
_SHAPE_TOP_MS = const(500)  # ...and their tops held (real ones 0.64 s and more; a stair's 0.4 s)
_CLAM_CAL_MIN = const(25)  # ...or of clams (real ones 46-67 deg, the shared sim-dev's 29 and more; a
# leg lying under the other's clams rocks 3-25)...
_CLAM_CAL_RISE = const(12)  # ...lifting the knee this many deg (MEx 26-52, the shared sim-dev askew 20 deg
# 12.5 and more; press-ups lying prone, seen through a strap upside down, 9-10)...
_CLAM_CAL_ALONG = const(0.9)  # ...by no more than this of their turn (about the hip-to-feet line, 30-60 deg
# off the thigh: MEx 0.77 at most; a bridge turns the thigh about an axis across it, 0.95 seen askew)...
_DYN_CLAM_CAL = const(20)  # ...and still at rest (sim-dev 18 at most; a slow climb's steps 20 and more)
_NEAR_NOMINAL = const(0.7)  # ...through a strap within 45 deg of its nominal mount, unless a stand showed x
_STEP_MIN = const(50)  # a stair's step turns the thigh this far and more: no set of bridges opens so
_LIKE_ROM = const(2.0)  # reps of one set: ranges within this factor
_COS_LIKE_REST = const(0.82)  # cos 35 deg: ...rest directions this close
_COS_LIKE_AXIS = const(0.77)  # cos 40 deg: ...turning about axes this close
_MIN_FLOOR = const(5.0)  # degrees: no set's reps are smaller (pelvic tilts, noise)
_FIRST_MIN = const(1.25)  # the first rep of a set in auto mode needs this times the minimum
_SURE_MIN = const(1.5)  # before calibration, a named set's opening reps need this times it
_HIP_CLAM_MIN = const(5)  # the pelvis rolls 5-15 deg with each clam
_CLAM_MAX = const(88)  # real clams 46-67 deg (pelvis roll included); knee rolling swings 90-100
_HIP_MAX = const(45)  # the pelvis turns 25-30 deg in a bridge, 5-30 in a clam
_MAX_SLACK = const(10)

_HOLD_MIN_EXT = const(6)  # degrees of hip extension for a stretch
_HOLD_MAX_EXT = const(45)
_HOLD_MIN_HIP = const(2)  # the pelvis tucked under 3-10 deg from standing...
_HOLD_MAX_HIP = const(25)  # ...and still upright
_HOLD_BAND = const(4)  # degrees around the held angle (breathing sways ~1)
_HOLD_NEAR = const(1.0)  # ...and at it
_HOLD_STEP = const(0.6)  # degrees in two ticks: still shifting into the stretch
_HOLD_START_MS = const(3000)
_HOLD_LEAVE_MS = const(1500)
_HOLD_MIN_MS = const(10000)
_HOLD_RELEASE_MS = const(400)  # a smooth release takes this to turn the thigh 1 deg


class Detector:
    def __init__(self, sink, leg=_SIDE_RIGHT, placement=_PLACEMENT_THIGH, mode=_MODE_AUTO, gyro=True,
                 frame=None):
        self._sink = sink
        self.leg = leg
        self.placement = placement
        self.mode = mode
        self.gyro = gyro
        self.ticker = Ticker()
        self._walk_rate = _WALK_RATE if gyro else _WALK_RATE_ACC
        # Farther than any rep goes: a new posture (rolling onto a side, sitting up).
        top = _HIP_MAX if placement == _PLACEMENT_HIP else (_BRIDGE_MAX if mode == _EX_BRIDGE else _CLAM_MAX)
        self._max_rom = float(top + _MAX_SLACK)
        # A calibration kept from the last stream (app.sampling: a wake, another mode).
        self.frame = frame or Frame(-1 if leg == _SIDE_LEFT else 1)
        if placement == _PLACEMENT_HIP:
            # The pelvis tilts far less than a thigh swings (less still until calibrated:
            # _calibrate raises it to _WALK_HIP).
            self._walk_rate *= _WALK_HIP if self.frame.calibrated else _WALK_HIP_UNCAL
        # gravity direction, sensor frame
        self._init = False
        self.ux = self.uy = self.uz = 0.0
        self._sx = self._sy = self._sz = 0.0  # swing direction, for reversals
        self._neg = False  # the last change ran against it
        self.rate = 0.0  # tilt rate, rad/s, ~1 s average
        self.rev = 0.0  # direction reversals per second, ~2 s average
        self.still = False
        self._m2 = 1000000  # |a|^2 of the last tick, mg^2
        self._dyn = 0  # ~0.6 s average of its change per tick, ~mg
        self._t_busy = -1 << 29  # when it last showed walking, stairs, a hop or a jolt
        self._still_ms = 0
        self._walk_ms = 0
        self._walk_end = -1 << 30
        # Walking: the thigh swings in the sagittal plane, so the changes of u line
        # up with the forward axis; summed sign-aligned they give it (see _motion).
        self._walk_reset()  # _wn, _wx.., _mux.. (u summed while walking), _wabs
        self._fwd_pending = _FWD_NONE  # what calibration still has to learn of forward
        self._t_upright = -1 << 29  # when the calibrated thigh last hung upright
        self._mx = self._my = self._mz = 0.0  # its direction half way down since
        self._stood = False  # calibrated standing, not on trust
        self._cand = None  # a stand's direction, waiting for a walk to confirm it
        self._cand_t = 0
        self._user_cal = False
        self._from_set = False  # the frame came from a set of bridges
        self._hip_fwd = False  # at the hip, a set of bridges showed forward (else nominal)
        # rep state
        self._out = False
        self._rest_ms = 0
        self.rx = self.ry = self.rz = 0.0  # rest direction
        self._ax = self._ay = self._az = 0.0  # where the thigh may be settling (away: is held)
        self._settle_ms = 0
        self._ref = False
        self._ox = self._oy = self._oz = 0.0  # where the thigh was last truly still...
        self._origin = False  # ...while rest has only crept away from there since
        self._crept = False  # this excursion crept out of rest, no set open and no first rep waiting
        self._t_leave_o = 0  # ...and when it last left there
        self._t_leave = 0
        self._peak = 0.0
        self._t_top0 = self._t_top1 = 0
        self._top_deg = 0.0  # angle when the top was last reached
        self._out_still = 0  # ms still while away from rest
        self._down_rom = 0.0  # the excursion's range once it is on its way back down
        self._swing = False  # a rep just ended: the next may start without a pause
        self._t_end = 0
        self._px = self._py = self._pz = 0.0
        # set state
        self._set_ex = _EX_NONE
        self._set_side = _SIDE_NONE
        self._set_n = 0
        self._set_part = 0
        self._set_t0 = self._set_t1 = 0
        self._set_rom = 0.0
        self._roms = [0.0] * 5  # last full-rep ranges, for the set's typical range
        self._nroms = 0
        self._pend = None  # the first rep of a would-be set, waiting for a second
        self._pend_n = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)  # ...its rest and peak directions
        self._held = []  # sets held until the frame can name them: [turn, rep, rep...]
        self._set_rest = (0.0, 0.0, 0.0)  # the set's rest direction
        self._set_peak = (0.0, 0.0, 0.0)  # ...and where its last rep peaked
        self._pin_cos = 1.0  # rest may settle this close to it (cos)
        self._far_cos = -1.0  # ...and still farther than this from it is a new posture (cos)
        self._typ = 0.0  # the set's typical range (its first rep's while it waits), or 0
        self._cos_start = _COS_START  # an excursion starts past this (cos)
        # hold state
        self._hold_in = 0  # ms in the stretch zone
        self._hold_t0 = 0
        self._hold_t1 = 0  # last in the stretch zone
        self._hold_end = 0  # last at the held angle
        self._hold_prev = 0.0
        self._hold_ext = 0.0  # the held extension angle, degrees
        self._hold_sum = 0.0
        self._odd = False

    # -- input -------------------------------------------------------------

    def push(self, t, ax, ay, az, gx, gy, gz):
        """One sample: t in ms, acceleration in mg, angular rate in 0.1 deg/s."""
        tk = self.ticker
        if tk.push(t, ax, ay, az, gx, gy, gz):
            self._tick(tk)
            tk.start(t, ax, ay, az, gx, gy, gz)

    def calibrate(self):
        """The user asks to calibrate: the next still stand sets the body frame."""
        self._user_cal = True

    def hold_start(self):
        """Start time (ms) of the stretch hold in progress, or -1: the hold event
        itself comes only when it ends, but the wearer wants a cue at its start."""
        return self._hold_t0 if self._hold_in >= _HOLD_START_MS else -1

    def finish(self, t):
        """End of the stream: close an open hold and set."""
        if self._out:
            self._back_to_rest(_POSTURE, t)  # a recording cut, a session ended while lowering
        if self._hold_in >= _HOLD_START_MS:
            self._end_hold()
        self._end_set()
        self._pend = None  # a lone excursion at the end: not a set
        for held in self._held:  # sets the frame never named: reported as not counted
            self._sink(_set_event(held, _EX_NONE, _SIDE_NONE))
        self._held = []

    # -- per tick ----------------------------------------------------------

    def _tick(self, tk):
        t = tk.t_done
        if tk.bad:
            self._sink((_EV_FAULT, t, _FAULT_BAD_SAMPLE))
        if tk.gap:
            self._sink((_EV_FAULT, t, _FAULT_GAP))
            self._out = False  # a rep across a gap cannot be timed; start afresh
            self._rest_ms = self._settle_ms = 0
            self._origin = False
            # The jump across the gap is no swing: reversals start afresh too.
            self._sx = self._sy = self._sz = 0.0
            self._neg = False
        # Means in integer mg keep the squares small ints (no heap); one float
        # division then normalises them.
        n = tk.n
        mx = tk.sax // n
        my = tk.say // n
        mz = tk.saz // n
        m2 = mx * mx + my * my + mz * mz
        # Impacts (steps, stairs, hops, a jolt) change |a| from tick to tick; reps are
        # slow turns that barely do. A leaky average of that change, in integers:
        # (m2 change) / 2048 is about the change of |a| in mg.
        j = m2 - self._m2
        self._m2 = m2
        self._dyn += (((j if j > 0 else -j) >> 11) - self._dyn) >> 3
        if self._dyn > _DYN_BUSY:
            self._t_busy = t
        k = 1.0 / sqrt(m2 + 1)
        ax = mx * k
        ay = my * k
        az = mz * k
        if not self._init:
            self._init = True
            self.ux, self.uy, self.uz = ax, ay, az
            self.rx, self.ry, self.rz = ax, ay, az
            self._ax, self._ay, self._az = ax, ay, az
            return
        ux, uy, uz = self.ux, self.uy, self.uz
        if self.gyro:
            # d(u)/dt = u x w for a world-fixed vector seen from the turning body
            wx = tk.sgx // n * _GYRO_RAD  # 0.1 deg/s -> rad turned in one tick
            wy = tk.sgy // n * _GYRO_RAD
            wz = tk.sgz // n * _GYRO_RAD
            vx = ux + (uy * wz - uz * wy)
            vy = uy + (uz * wx - ux * wz)
            vz = uz + (ux * wy - uy * wx)
            g = _K_GYRO
        else:
            vx, vy, vz = ux, uy, uz
            g = _K_ACC
        vx += g * (ax - vx)
        vy += g * (ay - vy)
        vz += g * (az - vz)
        n = sqrt(vx * vx + vy * vy + vz * vz)
        vx /= n
        vy /= n
        vz /= n
        dx = vx - ux
        dy = vy - uy
        dz = vz - uz
        d = sqrt(dx * dx + dy * dy + dz * dz)
        self.rate += _K_RATE * (d / _DT - self.rate)
        turn = False
        if d > 0.01:
            turn = self._swing_turn(dx, dy, dz)
        self.rev += (_REV_STEP if turn else 0.0) - _K_REV * self.rev
        self.ux, self.uy, self.uz = vx, vy, vz
        self.still = d < _STILL_RATE * _DT
        self._motion(t, dx, dy, dz)
        self._rep(t, turn)
        self._odd = not self._odd
        if self._odd and (self.mode == _EX_STRETCH or (self.mode == _MODE_AUTO and self.placement != _PLACEMENT_HIP)):
            # Holds last tens of seconds: every other tick is plenty. From the hip a
            # held stretch looks like sitting: timed only when the wearer chose it.
            self._hold(t)

    def _swing_turn(self, dx, dy, dz):
        """Follow the swing direction with this change of u; True at a reversal.

        A reversal is a change of sign along the swing's main direction (a leaky,
        sign-aligned average of recent changes). Consecutive changes alone miss the
        turns of a thigh path that loops (hip rotation and pelvic tilt in the stride):
        there the direction turns by less than 90 deg per tick. A method of its own:
        measured 3 % cheaper for the app than the same lines inline in _tick.
        """
        sx, sy, sz = self._sx, self._sy, self._sz
        neg = dx * sx + dy * sy + dz * sz < 0.0
        if neg:
            self._sx = sx - _K_SWING * (dx + sx)
            self._sy = sy - _K_SWING * (dy + sy)
            self._sz = sz - _K_SWING * (dz + sz)
        else:
            self._sx = sx + _K_SWING * (dx - sx)
            self._sy = sy + _K_SWING * (dy - sy)
            self._sz = sz + _K_SWING * (dz - sz)
        turn = neg != self._neg
        self._neg = neg
        return turn

    # -- walking, standing and calibration -----------------------------------

    def _motion(self, t, dx, dy, dz):
        if self.rate > self._walk_rate and self.rev > _WALK_REV:
            # A leaky count: single slow steps or turns do not break a walk.
            if self._walk_ms < _WALK_MS + 2000:
                self._walk_ms += TICK_MS
            if self._walk_ms >= _WALK_MS:
                # Add this tick to the walk's sums: its change of u, sign-aligned, and u.
                if dx * self._wx + dy * self._wy + dz * self._wz < 0.0:
                    dx, dy, dz = -dx, -dy, -dz
                self._wx += dx
                self._wy += dy
                self._wz += dz
                self._wn += 1
                self._wdyn += self._dyn
                self._wabs += sqrt(dx * dx + dy * dy + dz * dz)
                # Over whole strides the thigh's mean direction is its standing one
                # (within a few degrees): walking alone says where up is.
                self._mux += self.ux
                self._muy += self.uy
                self._muz += self.uz
                # Feet on the ground jolt the thigh; a march lying on the back swings it
                # alike but does not: only a walk with steps in it calibrates.
                cand = self._cand
                if self._wdyn < _DYN_WALK * self._wn:
                    pass
                elif cand is not None and t - self._cand_t < 2 * _CAL_NEAR_MS + _WALK_MS:
                    self._walk_end = t
                    # 2 s of walking give the forward lean; the stand lies amid the walk's
                    # swing (the thigh's mean direction over the strides): a leg marched
                    # while lying down swings to one side of its rest.
                    mx, my, mz = self._mux, self._muy, self._muz
                    if self._wn >= 25 and mx * cand[0] + my * cand[1] + mz * cand[2] > _COS_STRIDE * sqrt(
                            mx * mx + my * my + mz * mz):
                        self._calibrate(t, cand[0], cand[1], cand[2], _CAL_STANDING)
                        self._cand = None
                elif self._wn >= _WALK_CAL_TICKS and self._wdyn >= _DYN_CAL * self._wn and self._unsure():
                    self._calibrate(t, self._mux, self._muy, self._muz, _CAL_WALKING)
                else:
                    self._walk_end = t
        elif self._walk_ms > 0:
            self._walk_ms -= 2 * TICK_MS if self._walk_ms > 2 * TICK_MS else self._walk_ms
        if self._fwd_pending != _FWD_KNOWN and self._fwd_pending != _FWD_NONE:
            self._forward_from_flexion(t)
        if not self.still:
            if self._still_ms >= _CAL_STILL_MS:
                self._cand_t = t  # the stand ended now; walking may follow
            self._still_ms = 0
            return
        self._still_ms += TICK_MS
        if self._still_ms != _CAL_STILL_MS:
            return
        ux, uy, uz = self.ux, self.uy, self.uz
        if self._user_cal:
            self._user_cal = False
            self._walk_reset()
            self._calibrate(t, ux, uy, uz, _CAL_USER)
            return
        fr = self.frame
        upright = -fr.along(ux, uy, uz) > _CAL_UPRIGHT
        if t - self._walk_end < _CAL_NEAR_MS and (upright or self._unsure()):
            self._calibrate(t, ux, uy, uz, _CAL_STANDING)
        elif not fr.calibrated and upright and self._set_ex == _EX_NONE:
            # Standing still near the nominal mount's upright: trust the strap (its
            # forward stays a guess until a walk or a sit: _FWD_NOMINAL).
            self._walk_reset()
            self._calibrate(t, ux, uy, uz, _CAL_STANDING)
        if upright or self._unsure():
            self._cand = (ux, uy, uz)  # walking that starts soon may refine it
            self._cand_t = t
            self._walk_reset()

    def _unsure(self):
        """Not calibrated, or only by a set of bridges (a frame sure of bridges alone):
        a walk, or a stand next to one, calibrates the band."""
        return self._from_set or not self.frame.calibrated

    def _walk_reset(self):
        """Start summing the next walk afresh (its swing axis and mean direction)."""
        self._wn = self._wdyn = 0
        self._wx = self._wy = self._wz = 0.0
        self._mux = self._muy = self._muz = 0.0
        self._wabs = 0.0

    def _calibrate(self, t, ux, uy, uz, method):
        fx = fy = fz = 0.0
        if self._wn >= 25 and self.placement != _PLACEMENT_HIP and sqrt(
                self._wx * self._wx + self._wy * self._wy + self._wz * self._wz) >= _WALK_PLANAR * self._wabs:
            # The swing stays in one plane (steps, not sway: without a gyroscope,
            # sideways accelerations of some gaits blur the axis and the nominal roll is
            # safer). Its axis is forward or backward: keep the sign nearest the current
            # forward axis for now; the first deep hip flexion settles it.
            fx, fy, fz = self._wx, self._wy, self._wz
            fr = self.frame
            if fx * fr.yx + fy * fr.yy + fz * fr.yz < 0.0:
                fx, fy, fz = -fx, -fy, -fz
        was = self._fwd_pending
        if self.frame.calibrate(ux, uy, uz, fx, fy, fz):
            # Standing is sure when the wearer says so, or a walk started or ended at
            # the stand. A walk alone may be fast clams, as far as gravity can tell: it
            # is sure only for a wearer who named the exercise, and only when no rep of
            # a set was counted while it went on (nobody walks between two reps). Then
            # no rep starts upright: climbing stairs after a set of bridges or clams
            # is no set of them (auto mode names reps by where the thigh is).
            self._stood = self._stood or method == _CAL_USER or (method == _CAL_STANDING and self._wn > 0) or (
                method == _CAL_WALKING and self.mode != _MODE_AUTO
                and (self._set_n == 0 or t - self._set_t1 > self._wn * TICK_MS))
            self._from_set = False
            # With a walking axis only its sign is left (none, when the forward axis
            # it replaces was known); without one the forward axis kept is as good as
            # it was: the strap's nominal one when standing near the nominal upright,
            # else nothing (a strap turned about the thigh looks nominal when
            # standing): then the first deep hip flexion gives the whole axis.
            # The pelvis never flexes like a thigh: on the hip the nominal sign stays.
            if self.placement == _PLACEMENT_HIP:
                self._fwd_pending = _FWD_KNOWN
            elif not self.frame.forward_known:
                self._fwd_pending = _FWD_AXIS
            elif fx != 0.0 or fy != 0.0 or fz != 0.0:
                self._fwd_pending = _FWD_KNOWN if was == _FWD_KNOWN else _FWD_SIGN
            elif was == _FWD_NONE:
                nominal = -ux > _CAL_UPRIGHT * sqrt(ux * ux + uy * uy + uz * uz)
                self._fwd_pending = _FWD_NOMINAL if nominal else _FWD_AXIS
            if self.placement == _PLACEMENT_HIP:
                self._walk_rate = (_WALK_RATE if self.gyro else _WALK_RATE_ACC) * _WALK_HIP  # up is known
            self._sink((_EV_CALIBRATED, t, method))
            if self._held and self._frame_ready():
                self._resolve_held()

    def _forward_from_flexion(self, t):
        """Sitting, squatting, kneeling down or stepping up all flex the hip: the knee
        goes forward. The first time the thigh is held well away from vertical after a
        calibration, that way is forward (the hip extends at most ~30 deg, so a turn
        this large cannot be extension). It settles the whole axis when there was none
        (or the flexion lay far from the walk's), and the sign of a walking axis; a
        thigh held level may not turn the strap's nominal sign round (lying face down
        turns it backward)."""
        fr = self.frame
        ux, uy, uz = self.ux, self.uy, self.uz
        c = -fr.along(ux, uy, uz)  # cos of the thigh's tilt
        if c > _CAL_UPRIGHT:
            self._t_upright = t
        elif c > _COS_MID:
            self._mx, self._my, self._mz = ux, uy, uz  # the way down, half way
        if self._still_ms < 400 or c > 0.64 or c < -0.94:  # held a moment, 50-160 deg
            return
        f = fr.yx * ux + fr.yy * uy + fr.yz * uz
        if self._fwd_pending >= _FWD_AXIS:
            # The whole axis, from a sit or a kneel: reached straight from standing,
            # the thigh turning in one plane all the way (lying down on a side turns
            # it forward, then rolls it: it looks the same at the end).
            if c < -0.34 or t - self._t_upright > _SIT_MS:
                return
            zx = fr.xy * uz - fr.xz * uy  # the side axis this pose would give
            zy = fr.xz * ux - fr.xx * uz
            zz = fr.xx * uy - fr.xy * ux
            side = self._mx * zx + self._my * zy + self._mz * zz
            if side * side > _OFF_PLANE * (zx * zx + zy * zy + zz * zz):
                return
            fx, fy, fz = ux, uy, uz
        else:
            # Only the sign: the knee held up while lying on the back (the thigh 120-160
            # deg from hanging: 30 deg past level, where no extension reaches) is hip
            # flexion; lying on a side (f near 0) is not. A level thigh is sitting (it
            # turns forward) or lying face down after kneeling (backward): within 45 deg
            # of the strap's nominal forward the walk kept the nominal sign, and only
            # confirms it (a walk, prone exercises, then 16 of 384 bridges had counted).
            if -0.5 <= f <= 0.5 or (c > -0.5 and f < 0.0 and fr.yy * fr.leg_sign > 0.7):
                return
            if f * f < 0.5 * (1.0 - c * c):
                # Over 45 deg from the walk's axis, round the thigh: an accelerometer's
                # walk can be 50 deg off, a knee fallen sideways as far. Neither is sure:
                # a plain sit or a set gives the whole axis.
                self._fwd_pending = _FWD_AXIS
                return
            if f > 0.0:
                self._frame_known()
                return
            fx, fy, fz = -fr.yx, -fr.yy, -fr.yz
        if fr.calibrate(-fr.xx, -fr.xy, -fr.xz, fx, fy, fz):
            self._sink((_EV_CALIBRATED, t, _CAL_FLEXION))
        self._frame_known()

    def _frame_known(self):
        self._fwd_pending = _FWD_KNOWN
        if self._held:
            self._resolve_held()

    # -- reps ------------------------------------------------------------------

    def _rep(self, t, turn):
        ux, uy, uz = self.ux, self.uy, self.uz
        if not self._out:
            # Rest is where the thigh settles: within 1.5 deg of one direction for
            # _REST_MS. Tick by tick a slow rep (3 s up) looks as still as rest does;
            # over half a second it drifts out of the cone, so it never becomes rest.
            if ux * self._ax + uy * self._ay + uz * self._az > _COS_SETTLE:
                self._settle_ms += TICK_MS
                if self._settle_ms >= _REST_MS:
                    free = self._set_ex == _EX_NONE and self._pend is None  # no set, no rep waiting
                    if not free:
                        sx, sy, sz = self._set_rest
                        cs = self._ax * sx + self._ay * sy + self._az * sz
                        if cs < self._far_cos and self._settle_ms >= _STILL_REST_MS:
                            # Still, farther from the set's rest than any of its reps
                            # goes: a new posture (a walk's stride left a lone "rep"
                            # waiting, then the person lay down). The set is over.
                            self._end_set()
                            self._pend = None
                            free = True
                    if free or t - self._set_t1 > _SET_GAP_MS or cs > self._pin_cos:
                        # In a set, rest is where its reps start: settling elsewhere (a
                        # long top hold, a pause half way) does not move it.
                        self.rx, self.ry, self.rz = self._ax, self._ay, self._az
                        self._ref = True
                        self._rest_ms = self._settle_ms
                        # A slow rise (a small bridge over 3 s) settles tick after tick
                        # and rest creeps along: the place it was last still for 1.2 s
                        # stays the origin an excursion starts from, in a set too.
                        if self._settle_ms >= _STILL_REST_MS:
                            self._ox, self._oy, self._oz = self._ax, self._ay, self._az
                            self._origin = True
            else:
                self._ax, self._ay, self._az = ux, uy, uz
                self._settle_ms = 0
                if self._swing and t - self._t_end < _SWING_MS:
                    # Reps without a pause at rest: the reference rides to the turning
                    # point, the far end from the last top, and the next rep leaves it.
                    # For a wearer who named the exercise (the turn just ended was one
                    # of its reps) so it does when a slow way down paused and goes on
                    # toward where the set's reps start: rest had settled where it
                    # paused, and no rep heads that way. In auto mode a lone turn may
                    # be anything (at the hip, in daily living, two then opened a set).
                    sx, sy, sz = self._set_rest
                    px, py, pz = self._px, self._py, self._pz
                    if (self._rest_ms < _REST_MS or self.mode and (
                            ux * sx + uy * sy + uz * sz > self.rx * sx + self.ry * sy + self.rz * sz)) and (
                            ux * px + uy * py + uz * pz < self.rx * px + self.ry * py + self.rz * pz):
                        self.rx, self.ry, self.rz = ux, uy, uz
                        self._origin = False
            if turn and not self._ref:
                # Reps without any pause (fast clams) never settle: with no rest
                # yet, a turning point of the thigh's swing stands in for one.
                self.rx, self.ry, self.rz = ux, uy, uz
                self._ref = True
                self._rest_ms = _REST_MS
            c = ux * self.rx + uy * self.ry + uz * self.rz
            crept = False
            if self._origin:
                co = ux * self._ox + uy * self._oy + uz * self._oz
                if co > _COS_AT_REST:
                    self._t_leave_o = t
                crept = co < self._cos_start
            if c > _COS_AT_REST and not crept:
                self._t_leave = t
            elif self._ref and (self._rest_ms >= _REST_MS or self._swing) and (crept or c < self._cos_start):
                # Crept out of rest: it started where it was still. Held short of a
                # rep, it may be the body settling, unless a set is open or its first
                # rep waits: a slow rep pauses on its way up (S14's bridges, 3x slower).
                self._crept = False
                if c >= self._cos_start:
                    self.rx, self.ry, self.rz = self._ox, self._oy, self._oz
                    self._t_leave = self._t_leave_o
                    self._crept = self._set_ex == _EX_NONE and self._pend is None
                self._origin = False
                self._out = True
                self._out_still = 0
                self._ax, self._ay, self._az = ux, uy, uz  # where a hold may begin
                self._peak = self._down_rom = 0.0
            return
        c = ux * self.rx + uy * self.ry + uz * self.rz
        th = acos(c if c < 1.0 else 1.0) * _DEG
        if th > self._peak:
            self._peak = th
            self._px, self._py, self._pz = ux, uy, uz
            if th * _TOP_FRAC > self._top_deg:
                self._t_top0 = t
        if th >= self._peak * _TOP_FRAC:
            self._top_deg = th
            self._t_top1 = t
        # Held, not merely still: a slow descent (3 s down) is still tick by tick, but
        # it is no hold. Away from rest, _a is where the hold began.
        if ux * self._ax + uy * self._ay + uz * self._az > _COS_HELD and (self.still or th > _POSTURE_DEG):
            if self.still:  # a stir that stays put, farther than a bridge goes, pauses the count
                self._out_still += TICK_MS
        else:
            self._out_still = 0
            self._ax, self._ay, self._az = ux, uy, uz
        if self._crept and self._out_still == _STILL_REST_MS:
            # Held before it went much past the start: the body settling (on the mat,
            # after lying down), no slow rep. Rest is here.
            self._crept = False
            if self._peak < _CREEP_ON * acos(self._cos_start) * _DEG:
                self._out = False
                self.rx, self.ry, self.rz = self._ax, self._ay, self._az
                self._rest_ms = self._settle_ms = _REST_MS
                self._t_leave = t
                self._top_deg = 0.0  # the next excursion times its own way up
                return
        if (
            t - self._t_leave > _MAX_OUT_MS
            or th > self._max_rom
            or (self._out_still >= _HELD_MS and self._new_posture(t, th))
        ):
            self._back_to_rest(_POSTURE, t)
            return
        if th < self._peak * _DOWN_FRAC:
            self._down_rom = self._peak  # on its way back down (_back_to_rest)
        if th < self._peak * _END_FRAC and th < self._peak - 3.0:
            self._t_end = t
            ex = self._classify(t)
            if ex < 0:
                # From an exercise's top back to its rest: the reference had settled at
                # the top (a long top hold, a short rest); or a turn the other way from a
                # set's (_classify). Rest is where the excursion peaked, so the thigh is
                # now on its way up from there.
                self.rx, self.ry, self.rz = self._px, self._py, self._pz
                c = ux * self.rx + uy * self.ry + uz * self.rz
                self._peak = acos(c if c < 1.0 else 1.0) * _DEG
                self._px, self._py, self._pz = ux, uy, uz
                self._t_leave = self._t_top1
                self._t_top0 = self._t_top1 = t
                self._top_deg = self._peak
                return
            if ex == _EX_NONE:
                # A turn that was no rep, far larger than the reps around it: those reps
                # were no set (small turns amid big swings, as knees rolling side to side
                # make).
                rom = self._peak
                pend = self._pend
                if pend is not None and rom > _LIKE_ROM * pend[5] * 0.1:
                    self._pend = None
                    self._typ = 0.0
                if self._nroms and rom > _LIKE_ROM * _median(self._roms, self._nroms):
                    self._end_set()
            self._back_to_rest(_NO_REP if ex == _EX_NONE else _REP, t)

    def _lost_rest(self, rom):
        """A rep-sized turn turned down (too quick, or taken for a stride) in a set of reps
        with no pause: rest is a turning point the thigh never settles at, and no rep
        would start again (fast clams, one of them a little too quick). With no footfalls
        in it (a walk's jolt the thigh more), the next turning point stands in. Not in a
        set of bridges: people rest between bridges, a walk never does."""
        ex = self._set_ex
        if (self._rest_ms < _REST_MS and ex != _EX_NONE and ex != _EX_BRIDGE
                and self._dyn < _DYN_CAL and rom >= _FULL_FRAC * self._typ):
            self._ref = False

    def _new_posture(self, t, th):
        """The thigh has been held away from rest for a second or more: a top hold,
        or a new posture (lying down, rolling over, sitting up)? No top is held for
        _HOLD_MAX_MS (none is farther than _max_rom: that ended the excursion), and after
        _SETTLE_MS only a place that is an exercise's top may still be one, never one
        reached from upright (no rep starts there). A set whose reps peaked here ends
        here: its rest was the other end, and this was its last rep. A wearer who named
        the exercise is judged after a second already: a place where the knee went the
        wrong way for it is no top."""
        still = self._out_still
        if _HELD_FIRST_MS <= still < _SETTLE_MS:
            return False  # the place held stays put: judged on its first tick, then from 3 s
        mode = self.mode
        c = self._ax * self.rx + self._ay * self.ry + self._az * self.rz
        held = acos(c if c < 1.0 else 1.0) * _DEG  # degrees from rest
        if (mode == _EX_BRIDGE or mode == _EX_CLAM) and self._knee_shown():
            # The wearer named the exercise, and which way the knee went is known: a
            # bridge lowers it, a clam lifts it. Held a second where it went the other
            # way (or, for a clam, stayed level), the thigh is not at the exercise's top:
            # the person lay down (from sitting, onto a side), or rest was a top. It is a
            # new rest.
            lift = _DEG * self.frame.along(self._ax - self.rx, self._ay - self.ry, self._az - self.rz)  # the knee's rise, deg
            if held > 2.0 and ((lift > 0.5 * held) if mode == _EX_BRIDGE else (lift < 0.1 * held)):
                return True
        # No rep starts upright, and none goes farther than the largest (_max_rom less
        # its slack): a place held a second is a new rest then. So is one that is an
        # exercise's rest, the turn to it that exercise's way back (rest was no rep's).
        no_top = held > self._max_rom - _MAX_SLACK or self._from_upright()
        sx, sy, sz = self._set_peak
        if self._set_n and self.ux * sx + self.uy * sy + self.uz * sz > self._pin_cos:
            if still < _HOLD_MAX_MS:
                return False
            self._t_end = t
            self._classify(t)
            self._end_set()
            return True
        if still < _HOLD_MAX_MS and not no_top:
            # Is the place it is held (not where it is now) an exercise's top?
            ex = self._exercise_from(self.rx, self.ry, self.rz, self._ax, self._ay, self._az, held)
            if ex > 0:
                return False
            if still < _SETTLE_MS:
                return ex < 0
            if not self._frame_ready():
                return th > _POSTURE_DEG
        return True

    def _knee_shown(self):
        """Which way the knee went is known: on the thigh (the pelvis's long axis does
        not follow the knee, a clam rolls it about it) once a walk has shown up, or a
        stand and the flexion after it, sitting or lying down (as in _from_upright), or
        a set: forward is known only once up is."""
        return self.placement != _PLACEMENT_HIP and (self._stood or self._fwd_pending == _FWD_KNOWN)

    def _from_upright(self):
        """The excursion started with the thigh upright, once a walk has shown where
        upright is: no rep starts there. At the hip once any stand has (lying with the
        knees bent never looks upright there); for a wearer who chose clams once a stand
        and a flexion have (nobody lies on a side with the thigh upright, but a still
        moment lying on a side can pass for the strap's upright: the flexion that follows
        a real stand, sitting or lying down, shows forward; MEx S01's clams at 33 Hz
        showed none)."""
        fr = self.frame
        known = self._stood or (fr.calibrated and (self.placement == _PLACEMENT_HIP or (
            self.mode == _EX_CLAM and self._fwd_pending == _FWD_KNOWN)))
        return known and -fr.along(self.rx, self.ry, self.rz) > _CAL_UPRIGHT

    def _back_to_rest(self, how, t):
        """The excursion is over: a rep (_REP), a turn that was none (_NO_REP: the
        thigh is back where it rested, rest stands) or a new posture (_POSTURE, or the
        stream's end)."""
        if how == _POSTURE and self._set_ex != _EX_NONE and self._down_rom > _FULL_FRAC * self._typ:
            # From a full rep of the open set on its way back down (rolling over,
            # sitting up, the stream cut there): the rep was done.
            self._peak = self._down_rom
            self._px, self._py, self._pz = self._set_peak
            self._classify(t)
        self._out = False
        self._top_deg = 0.0
        # A turn too small to be any rep of the set (noise by its range) leaves the
        # set's rhythm as it was: the next rep may leave without settling first.
        self._swing = how == _REP or (how == _NO_REP and self._swing and self._peak < _PART_FRAC * self._typ)
        self._ax, self._ay, self._az = self.ux, self.uy, self.uz
        self._settle_ms = 0
        if how != _NO_REP:
            self._rest_ms = 0
            if how == _REP:
                # On the way down: the reference rides with the thigh to the turning point.
                self.rx, self.ry, self.rz = self.ux, self.uy, self.uz
            else:
                self._ref = False

    def _classify(self, t):
        rom = self._peak
        if self._typ != 0.0 and self._t_leave - self._set_t1 > _SET_GAP_MS:
            # No rep started soon after the last one ended: the set (or its lone first
            # rep) is over. Timed to the start: a slow rep alone takes 16 s.
            self._end_set()
            self._pend = None
        hip = self.placement == _PLACEMENT_HIP
        if t - self._t_leave < (_MIN_HIP_MS if hip else _MIN_REP_MS):
            self._lost_rest(rom)
            sx, sy, sz = self._set_peak
            tx, ty, tz = self._set_rest
            if self._swing and rom < self._typ and not hip and (
                    self._px * (tx - sx) + self._py * (ty - sy) + self._pz * (tz - sz) > 0):
                # A fidget at the bottom of a rep (hips bouncing onto the mat): the set's
                # rhythm goes on, and the reference rides on down, away from the set's
                # top, not the fidget's (the rest the bounce kept from settling). A
                # stride of a walk goes to the top, as the one before it did; at the hip
                # a turn that quick is a step.
                self._px, self._py, self._pz = sx, sy, sz
                self._peak = 0.0  # ...and the fidget was nothing (_rep, _back_to_rest)
            return _EX_NONE  # too quick: a step or a fidget
        if self._t_leave - self._t_busy < _BUSY_MS and not (self._set_n and 0 <= self._t_busy - self._set_t1 < _LAND_MS):
            # A stair, a hop, a jolt. Not the set's own last rep landing: a knee dropped
            # onto the other, hips onto the mat (MEx: up to 184, and 250 with the same
            # thump in fewer samples, a slower pace or a phone's rate).
            return _EX_NONE
        quick = t - self._t_leave < _STRIDE_MS
        rx, ry, rz = self.rx, self.ry, self.rz
        px, py, pz = self._px, self._py, self._pz
        if self._walk_ms >= _WALK_MS // 3 and (
            (self.mode == _MODE_AUTO and (hip or (
                ((quick and self._dyn > _DYN_STEP) or self._dyn > _DYN_WALK)
                and not (self.frame.calibrated and self._exercise_from(rx, ry, rz, px, py, pz, rom) > 0))))
            or (self.mode == _EX_CLAM and quick and self._dyn > _DYN_CAL)
        ):
            # A stride of a walk: quick, or with footfalls in it. Fast clams swing the
            # thigh much like one (a reversal a second, a wobble at the top, jolts at
            # each turn): on the thigh a slow turn without footfalls is none, nor is a
            # turn from an exercise's rest to its top once up is known (nobody walks
            # lying down). The pelvis sways slowly as it walks: any turn is one.
            # For a wearer who chose clams, only a quick turn that jolts as footfalls do
            # is one (fast clams jolt the thigh too).
            self._lost_rest(rom)
            return _EX_NONE
        if self.mode == _EX_BRIDGE and self._walk_ms >= _WALK_MS and quick and self._dyn > _DYN_CAL:
            # Walking about in bridge mode (auto and clam mode judged strides above):
            # 3 s of strides with footfalls in them (a bridge rises and falls smoothly).
            # Nobody walks between two bridges: a set or a first rep waiting is over too.
            self._end_set()
            self._pend = None
            return _EX_NONE
        if self._from_upright():
            return _EX_NONE  # no rep starts standing: sitting down and up again is none
        sx, sy, sz = self._set_rest
        if (self._set_n and rom < _FULL_FRAC * self._typ
                and px * sx + py * sy + pz * sz > rx * sx + ry * sy + rz * sz):
            # A turn smaller than a full rep, toward where the open set's reps start:
            # the thigh was still on a slow way down that paused (rest had settled short
            # of the set's). Rest is where it turned back; the thigh is on its way up now.
            return -_EX_BRIDGE
        ex = self._exercise_from(rx, ry, rz, px, py, pz, rom)
        if not self._frame_ready():
            fr = self.frame
            if ex == _EX_NONE and rom <= _CLAM_MAX:
                # Not calibrated (or forward not known yet) and no exercise in the
                # guessed frame: which exercise is not known, but a set is a set. It
                # is held, and named (or reported as not counted) once the frame is.
                ex = _UNKNOWN
            elif ex > _EX_NONE and not fr.calibrated and (self._set_ex == _UNKNOWN or (
                    self._set_ex != ex and (rom < _SURE_MIN * self._base_rom(ex)
                                            or (ex == _EX_BRIDGE and (self._rest_ms < _REST_MS
                                                                      or rom > _SHAPE_MAX))
                                            or (ex == _EX_CLAM and not hip and (
                                                _DEG * fr.along(px - rx, py - ry, pz - rz)
                                                < _CLAM_RISE * rom or fr.zx * px + fr.zy * py + fr.zz * pz < _OUTER_UP
                                                or fr.yx * px + fr.yy * py + fr.yz * pz < _FRONT_DOWN))))):
                # Not even up is known: the guessed frame names it, but a set that
                # opens with small reps (large pelvic tilts are as large as the
                # smallest bridges) or goes on a held one is held too, not guessed.
                # So is a set of bridges whose second rep leaves with no pause at rest:
                # people rest between bridges, a slow climb never between steps (a
                # phone in a pocket, turned so the guessed frame reads steps as bridges),
                # or that opens with reps larger than bridges (a phone slanted in a
                # pocket, a climb one step at a time: 47 deg and more). A set of clams
                # opens lifting the knee by half its turn or more (the thigh turns about
                # the hip-to-feet line; both body models at the nominal mount: 0.51-0.77).
                # Through a phone turned a little round the thigh in its pocket, a climb's
                # steps lift it 0.30-0.47 of theirs; press-ups lying prone, seen through a
                # strap upside down, 0.31-0.40. And at a clam's top the thigh's outer side
                # still faces up (it turns back by the clam's turn: MEx 34 deg up and more,
                # the shared sim-dev 31): through a phone in a front pocket a climb's
                # steps end with it level (-1 to 12 deg), as does the superman's leg lift
                # seen through a strap turned a quarter round. Its front turns up as the
                # knee opens (MEx: -6 deg and more at the top, sim-dev 20 and more): a
                # phone tilted 30-45 deg in its pocket sees a climb's steps end with the
                # front 50-57 deg down.
                ex = _UNKNOWN
            elif ex == _EX_CLAM and fr.along(rx, ry, rz) > _KNEE_SIDE:
                # Lying on a side, the top knee rests on the other one, no higher than
                # the hip (MEx and both body models: 1-24 deg lower). A rest with the
                # knee well up is a guessed frame's mistake: a thigh on a stair.
                ex = _UNKNOWN
            elif ex == _EX_BRIDGE and fr.along(px, py, pz) < _KNEE_UP:
                # At a bridge's top the knee is still above the hip (shoulders, hips
                # and knees in a line rise 20-30 deg to the knees). A top with the
                # thigh level is a guessed frame's mistake as likely: a phone sideways
                # in a pocket, its wearer stepping up a stair, looks just like it.
                ex = _UNKNOWN
        elif ex == _EX_NONE and rom <= _CLAM_MAX and (self._set_ex == _EX_NONE or self._set_ex == _UNKNOWN) and (
                self._from_set or (hip and self.mode == _MODE_AUTO and not self._hip_fwd
                                   and rom <= _HIP_MAX)):
            # A frame from a set of bridges may be wrong for other sets (a strap
            # askew, its x off the thigh): one it reads as no exercise is held as
            # before calibration, never dropped. A turn amid a set it named is none.
            # At the hip forward is the nominal one until a set of bridges shows it (a
            # band worn round the waist): a set it reads as no exercise (not upright:
            # _from_upright; within a hip rep's range) is held likewise.
            ex = _UNKNOWN
        elif self.mode == _EX_BRIDGE and not self.frame.calibrated and self._set_ex != ex and rom > _STEP_MIN:
            # A wearer who chose bridges, before the band knows up: any turn like a
            # bridge's counts, and a climb's steps are as slow (one at a time, or slow
            # stairs: 180 false reps an hour of simulated clips). Real bridges turn the
            # thigh 8-43 deg (MEx, 30 people), a step 50 and more: no set opens with one.
            return _EX_NONE
        if ex <= _EX_NONE:
            return ex
        if self.mode == _MODE_AUTO and self._set_ex != ex:
            # A set opens only with clear reps, the first well past the least range and
            # the second at it: small turns (pelvic tilts, fidgets) are look-alikes.
            least = self._base_rom(ex)
            if rom < (least if self._set_typ(ex) else _FIRST_MIN * least):
                return _EX_NONE
        side = self.leg if ex == _EX_CLAM else _SIDE_NONE
        ev = (
            _EV_REP,
            t,
            ex,
            side,
            0,
            int(rom * 10.0),
            self._t_top0 - self._t_leave,
            self._t_top1 - self._t_top0,
            t - self._t_top1,
        )
        if ex == _UNKNOWN and self._set_ex == _UNKNOWN and not self._turns_alike(self._held[-1][0]):
            # A held set's reps turn alike: a leg marched toward the chest, then bridges
            # (turning the thigh the other way), are two sets. As one, its first turn
            # (the march) was no bridge, and its bridges could never calibrate the band.
            self._end_set()
            self._pend = None
        if ex != self._set_ex or side != self._set_side or self._t_leave - self._set_t1 > _SET_GAP_MS:
            # A lone excursion is weak evidence: a set opens when a second one like it
            # follows (same exercise, range and turn). Until then the first one waits.
            pend = self._pend
            if pend is not None and pend[2] == ex and pend[3] == side and rom < _HALF_FRAC * pend[5] * 0.1:
                # Under half the waiting rep: a wiggle or a half rep beside it, as in a
                # set. Not its second, and not a first in its place: it keeps waiting.
                return ex
            self._end_set()
            if pend is None or pend[2] != ex or pend[3] != side or not (
                # Alike: ranges within a factor of 2, started soon after it ended,
                # turning about a similar axis from a similar rest.
                rom * 10.0 <= _LIKE_ROM * pend[5] and pend[5] <= _LIKE_ROM * 10.0 * rom
                and self._t_leave - pend[1] <= _SET_GAP_MS and self._turns_alike(self._pend_n)
            ) or (
                # Two turns as quick as strides, a stride apart, open no set: the first
                # steps of a climb, before the walk is known. Real reps take 1.6 s and
                # more; fast ones (1 s) rest between. Once up is known, where the thigh
                # is names them: fast clams back to back lying on a side are clams.
                quick and pend[6] + pend[7] + pend[8] < _STRIDE_MS and t - pend[1] < _STRIDE_PERIOD_MS
                and (self.mode == _EX_BRIDGE or (self.mode == _MODE_AUTO and not self.frame.calibrated))
            ):
                self._pend = ev
                self._pend_n = (rx, ry, rz, px, py, pz)
                self._set_t1 = t
                self._set_model(rom)
                return ex
            self._set_ex = ex
            self._set_side = side
            self._set_t0 = pend[1] - pend[6] - pend[7] - pend[8]
            if ex == _UNKNOWN:
                # The band cannot name it yet: keep its reps (and where they turn) until
                # the frame can, and ask for a calibration.
                if len(self._held) == _HELD_SETS:
                    self._sink(_set_event(self._held.pop(0), _EX_NONE, _SIDE_NONE))
                self._held.append([self._pend_n])
                self._sink((_EV_FAULT, pend[1], _FAULT_UNCALIBRATED))
            # The two alike reps that open a set are full: its typical range is theirs.
            self._count(pend, True)
            self._count(ev, True)
            self._set_model(_median(self._roms, 2))
            return ex
        elif self._nroms and rom > _LIKE_ROM * _median(self._roms, self._nroms):
            return _EX_NONE  # far larger than the set's reps: a change of posture
        self._count(ev)
        self._set_model(_median(self._roms, self._nroms))
        return ex

    def _set_model(self, typical):
        """Where the set's reps start from, and the thresholds its range sets: small
        reps (a 6 deg bridge) start an excursion from 3 deg, rest may re-settle within
        a third of the range."""
        self._typ = typical
        self._set_rest = (self.rx, self.ry, self.rz)
        self._set_peak = (self._px, self._py, self._pz)
        self._pin_cos = cos(_PIN_FRAC * typical / _DEG)
        far = _LIKE_ROM * typical
        self._far_cos = cos((far if far > _FAR_MIN else _FAR_MIN) / _DEG)
        start = _START_FRAC * typical
        self._cos_start = cos((start if start < 5.0 else 5.0) / _DEG) if start > 3.0 else _COS_START3

    def _turns_alike(self, turn):
        """The excursion that just ended turned about an axis close to that of `turn`
        (another's rest and peak), from a rest close to its rest."""
        rx, ry, rz, px, py, pz = turn
        if rx * self.rx + ry * self.ry + rz * self.rz < _COS_LIKE_REST:
            return False
        # turn axes: rest x peak of each
        ax = ry * pz - rz * py
        ay = rz * px - rx * pz
        az = rx * py - ry * px
        bx = self.ry * self._pz - self.rz * self._py
        by = self.rz * self._px - self.rx * self._pz
        bz = self.rx * self._py - self.ry * self._px
        dot = ax * bx + ay * by + az * bz
        return dot > _COS_LIKE_AXIS * sqrt((ax * ax + ay * ay + az * az) * (bx * bx + by * by + bz * bz))

    def _count(self, ev, full=False):
        """A rep of the open set: full or partial against the set's typical range
        (median of its recent full reps), sent to the sink."""
        rom = ev[5] * 0.1
        typical = 0.0 if full else _median(self._roms, self._nroms)
        if typical > 0.0 and rom < typical * _PART_FRAC:
            return
        partial = typical > 0.0 and rom < typical * _FULL_FRAC
        self._set_t1 = ev[1]
        if partial:
            self._set_part += 1
            ev = ev[:4] + (1,) + ev[5:]
        else:
            self._set_n += 1
            self._set_rom += rom
            self._roms[self._nroms % 5] = rom
            self._nroms += 1
        if ev[2] != _UNKNOWN:
            self._sink(ev)
            if (ev[2] == _EX_BRIDGE and self._fwd_pending == _FWD_NOMINAL and self._set_n == _SHAPE_REPS
                    and ev[7] >= _SHAPE_TOP_MS and self.placement != _PLACEMENT_HIP):
                # The strap's nominal forward, trusted on a stand, named a set of bridges
                # (turning in its plane, their tops held): forward is known. A set it
                # reads as no exercise is none, not held (a march; knees swaying to the
                # sides, which through a strap askew had calibrated the band as bridges).
                self._frame_known()
        elif len(self._held[-1]) < _HELD_REPS + 1:
            self._held[-1].append(ev)
            if len(self._held[-1]) == _SHAPE_REPS + 1:
                self._frame_from_set(ev[1])

    # -- sets the frame could not name yet ----------------------------------------

    def _frame_ready(self):
        """The body frame can tell the exercises apart: calibrated, and on the thigh
        with forward known (the pelvis keeps the nominal forward)."""
        if self.mode != _MODE_AUTO:
            return True
        if self.placement == _PLACEMENT_HIP:
            return self.frame.calibrated
        return self.frame.calibrated and self._fwd_pending == _FWD_KNOWN

    def _frame_from_set(self, t):
        """A set the band could not name yet, on a thigh never calibrated (or only on
        trust: a band upside down lying with the knees bent looks upright), or that knows
        up from a stand but not forward. Where up is not known, sensor x is taken to lie
        down the thigh, as the strap holds it (and as a stand near its nominal upright
        shows); a set of bridges or of clams shows the rest of the frame, and
        calibrates the band when the set's first and latest reps both turn as that
        exercise does, and their tops are held a moment (the squeeze). Lying on the back
        with the knees bent, the knee is above the hip (so x points the way up is), and
        a bridge turns the thigh in its own vertical plane, toward level and back, by a
        bridge's range (more than a pelvic tilt, less than a step up a stair), the knee
        still above the hip at the top. Lying on a side the thigh is level, its outer
        side up, and a clam lifts the knee 12 deg and more, even through a strap slanted
        on the thigh (press-ups lying prone, seen through a strap upside down, 10 at
        most); the thigh rests still between clams (a climb's steps never do). A phone
        in a pocket (x across the thigh, or slanted) climbing stairs fails one of these:
        a step passes its top at once, or never rests. At the hip a stand shows up, and a set of bridges shows forward:
        the belly faces up."""
        fr = self.frame
        hip = self.placement == _PLACEMENT_HIP
        # A stand (or a walk beside it) showed up but not forward, or not its sign (on
        # the thigh only): the set shows it.
        up = self._stood and _FWD_KNOWN < self._fwd_pending < _FWD_NOMINAL
        if self.mode != _MODE_AUTO or not up and ((self._hip_fwd or not fr.calibrated) if hip else (fr.calibrated and (
                self._stood or self._fwd_pending != _FWD_NOMINAL))):
            return
        held = self._held[-1]
        rx, ry, rz, px, py, pz = held[0]
        rom = held[1][5] * 0.1
        peak = self._peak
        old = (fr.xx, fr.xy, fr.xz, fr.yx, fr.yy, fr.yz)
        # Body x, down the thigh: known, or sensor x (the strap's own: see the end).
        if hip or up:
            ex, ey, ez = old[0:3]
        else:
            ex = 1.0
            ey = ez = 0.0
        ok = False
        # Body y, the way hip flexion turns the thigh: toward up, in that plane. At the
        # hip, up is known from a stand but not which way the band faces round the
        # waist: lying on the back, the belly faces up, level or tilted by a bridge
        # (which turns it about the left-right axis).
        if fr.set_axes(ex, ey, ez, rx, ry, rz):
            first = self._exercise_from(rx, ry, rz, px, py, pz, rom)
            last = self._exercise_from(self.rx, self.ry, self.rz, self._px, self._py, self._pz, peak)
            # On the thigh the knee stays above the hip, at rest and at the top (the sine
            # of its rise); the pelvis's lower end is up at a bridge's top or rest, level
            # at the other.
            ok = ((first == _EX_BRIDGE or first == -_EX_BRIDGE) and last == first
                  and (fr.along(rx + px, ry + py, rz + pz) > 0.0 if hip else
                       fr.along(self.rx, self.ry, self.rz) >= _KNEE_UP and fr.along(self._px, self._py, self._pz) >= _KNEE_UP)
                  and _SHAPE_MIN <= rom <= _SHAPE_MAX and _SHAPE_MIN <= peak <= _SHAPE_MAX)
        if not (ok or hip) and -0.5 < fr.along(rx, ry, rz) < 0.5 and self._rest_ms >= _REST_MS and self._dyn < _DYN_CLAM_CAL:
            # Clams: body y = z x x with z (outward) up at rest.
            ls = fr.leg_sign
            ok = (fr.set_axes(ex, ey, ez, ls * (ry * ez - rz * ey), ls * (rz * ex - rx * ez), ls * (rx * ey - ry * ex))
                  and _CLAM_CAL_MIN <= rom <= _CLAM_MAX and _CLAM_CAL_MIN <= peak <= _CLAM_MAX
                  and _CLAM_CAL_RISE <= _DEG * fr.along(px - rx, py - ry, pz - rz) <= _CLAM_CAL_ALONG * rom
                  and _DEG * fr.along(self._px - self.rx, self._py - self.ry, self._pz - self.rz) >= _CLAM_CAL_RISE
                  and self._exercise_from(rx, ry, rz, px, py, pz, rom) == _EX_CLAM)
        # With nothing to show that x lies down the thigh (no stand near the strap's
        # nominal upright, trusted or not), only a frame near that mount (forward within
        # 45 deg of the nominal one): through a sensor at any other angle press-ups lying
        # prone and pelvic tilts pass for bridges, knee rolling for clams (MEx's sensors
        # spun to other people's angles: 104 false reps in 8.7 h, 18 so).
        if ok and held[1][7] >= _SHAPE_TOP_MS and held[-1][7] >= _SHAPE_TOP_MS and (
                hip or up or fr.calibrated or fr.leg_sign * fr.yy > _NEAR_NOMINAL):
            if hip:
                self._hip_fwd = True
            elif not up:
                fr.calibrated = self._from_set = True
            self._sink((_EV_CALIBRATED, t, _CAL_SET))
            self._frame_known()
            return
        fr.set_axes(*old)

    def _resolve_held(self):
        """The frame is known now: name each held set by its first rep's turn and
        send its reps, or drop it when it turns out to be no exercise."""
        open_set = self._set_ex == _UNKNOWN
        n = len(self._held)
        for i in range(n):
            held = self._held[i]
            rx, ry, rz, px, py, pz = held[0]
            ex = self._exercise_from(rx, ry, rz, px, py, pz, held[1][5] * 0.1)
            ex = -ex if ex < 0 else ex
            side = self.leg if ex == _EX_CLAM else _SIDE_NONE
            if ex != _EX_NONE:
                for j in range(1, len(held)):
                    e = held[j]
                    self._sink((_EV_REP, e[1], ex, side) + e[4:])
            if open_set and i == n - 1:
                # The set still goes on: it carries on as what it turned out to be.
                self._set_ex = ex
                self._set_side = side
            elif ex != _EX_NONE:
                self._sink(_set_event(held, ex, side))
            elif self.placement == _PLACEMENT_HIP and not self._hip_fwd:
                self._sink(_set_event(held, _EX_NONE, _SIDE_NONE))  # up is known now, not which way the band faces
        self._held = []

    def _exercise_from(self, rx, ry, rz, px, py, pz, rom):
        """Which exercise a turn from direction r to direction p would be (negative:
        from that exercise's top back to its rest)."""
        mode = self.mode
        fr = self.frame
        rh = fr.along(rx, ry, rz)  # the knee's rise at rest, and at the peak
        ph = fr.along(px, py, pz)
        zr = fr.zx * rx + fr.zy * ry + fr.zz * rz  # the outer side's rise at rest, and at the peak
        zp = fr.zx * px + fr.zy * py + fr.zz * pz
        # Once up is known, how much of the turn is about the thigh's own length: the
        # axis r x p along the thigh, over its length (sin rom). A clam turns it about
        # the hip-to-feet line, 36-52 deg off the thigh with the knees bent (0.62-0.81
        # in both body models), and knees swaying while lying on the back about the
        # body's length (0.44-0.55); a bridge, a march, a stride or a squat across it
        # (0.22 at most). At the hip a bridge tilts the pelvis so, while a clam rolls
        # it about its length. Not asked (-1) of a rest that looks upright: no
        # exercise starts there, so that up is a still moment lying down taken for a
        # stand (MEx S01's clams at 33 Hz: 4 of 15-16 counted without this). Nor of
        # no turn at all (rom 0.0).
        tw = -1.0
        if fr.calibrated and rh > -0.5 and rom:
            tw = abs(fr.along(ry * pz - rz * py, rz * px - rx * pz, rx * py - ry * px)) / sin(rom / _DEG)
        if mode == _EX_BRIDGE:
            # The wearer named the exercise: any turn clear of noise (some real bridges
            # tilt the thigh only 6-8 deg) and no larger than a bridge's may be one; the
            # set judges it. Once a walk has shown up, on the thigh: a bridge lowers the
            # knee toward level (by 0.6 of its turn and more in both body models);
            # rolling onto a side and back turns the thigh about its length (0.15 at
            # most), and a clam lifts the knee. Not on a stand's trusted up and a flexion
            # (_knee_shown): lying with the knees bent, seen through a strap upside
            # down, can pass for both (MEx S05's bridges: 9 of 9-11 counted, with it 3).
            # A clam, knees swaying or a roll turn the thigh partly about its length. A
            # leg marched toward the chest lifts the knee within 26 deg of straight
            # above the hip (64 deg up; both body models: 0.92-1.0), where no bridge
            # rests or peaks (0.86 at most: a knee bent further would put the foot
            # under the buttock). Asked in any frame up is known in, as the way the
            # knee went is not (a stand alone, a strap upside down).
            if rom < _MANUAL_BRIDGE_MIN or rom > _BRIDGE_MAX or (tw >= 0.0 and (tw > 0.3 or max(rh, ph) > 0.9)):
                return _EX_NONE
            if self.placement == _PLACEMENT_HIP:
                return mode
            # Once a walk has shown up, a bridge starts with the knee well above the
            # hip (30 deg and more in both body models; auto mode asks 30), never from
            # a thigh within 24 deg of level (face down, sitting on the floor). Once
            # forward is known too, it turns the thigh in the body's sagittal plane,
            # its outer side level at rest and at the top (within 45 deg); lying on a
            # side (clams, or the other leg's) it faces up or down.
            if self._stood and _DEG * (rh - ph) < _KNEE_DOWN * rom:
                if self._fwd_pending != _FWD_KNOWN:
                    return _EX_NONE
                # Once forward is known too, it may be a bridge's way back to its rest
                # from a top the reference settled at (tops held 8 s, 0.3 s at rest,
                # begun as the wearer lay down: whole sets went by as no bridges). Auto
                # mode's test below names it by where it ends.
            elif (self._stood and rh < 0.4) or (self._fwd_pending == _FWD_KNOWN and max(abs(zr), abs(zp)) > 0.7):
                return _EX_NONE
            else:
                return mode
        elif mode == _EX_CLAM:
            # A larger turn is a roll (with the knees bent: 85-96 deg); a bridge, a
            # march, a stride or a squat turn the thigh across its length. Lying on a
            # side the thigh rests level (the top knee 1-24 deg below the hip): a turn
            # that starts and ends with the knee 30 deg up or more is lying on the back
            # (knees swaying to the sides: 0.59-0.82 at rest), in any frame up is
            # known in.
            if rom < self._min_rom(mode) or rom > _CLAM_MAX or (tw >= 0.0 and (tw < 0.4 or min(rh, ph) > 0.5)):
                return _EX_NONE
            if self._knee_shown():
                # A clam lifts the knee (by 0.5 of its turn and more in both body models)
                # from a thigh lying level on its side (the top knee no higher than the
                # hip), and lowers it back there from a top the reference settled at.
                # Rolling from a side onto the back with the knees straight turns the
                # thigh about its length (0.15 at most); a bridge, a march and knees
                # swaying lying on the back start and end with the knee up.
                lift = _DEG * (ph - rh)
                if lift < -_KNEE_LIFT * rom:
                    return -mode if ph <= _KNEE_SIDE else _EX_NONE
                # Once forward is known too, a clam starts with the thigh's outer side
                # up (within 45 deg, as in auto mode). Underneath it faces down, and
                # some people's thigh rocks 5-25 deg with each clam of the other leg,
                # lifting its knee too; lying on the back it is level, and at a bridge's
                # top, where rest may have settled, still far from up.
                if lift < _KNEE_LIFT * rom or rh > _KNEE_SIDE or (self._fwd_pending == _FWD_KNOWN and zr < 0.7):
                    return _EX_NONE
            return mode
        elif mode != _MODE_AUTO:
            return _EX_NONE
        # rest and peak directions in the body frame: sagittal angle a (0 standing,
        # 90 thigh horizontal forward) and outward tilt b (+90 outer side up); rh, ph:
        # the sine of the knee's elevation above the hip (0 when the thigh is level)
        ra = atan2(fr.yx * rx + fr.yy * ry + fr.yz * rz, -rh) * _DEG
        rb = asin(_clip(zr)) * _DEG
        pa = atan2(fr.yx * px + fr.yy * py + fr.yz * pz, -ph) * _DEG
        pb = asin(_clip(zp)) * _DEG
        da = pa - ra
        if da > 180.0:  # the sagittal angle wraps where the thigh points straight up
            da -= 360.0
        elif da < -180.0:
            da += 360.0
        db = pb - rb
        if self.placement == _PLACEMENT_HIP:
            # Pelvis supine (front up, a within 45 of 90: a set held from its tops rests
            # tilted by the bridge): a bridge tilts it in the sagittal plane.
            if 45.0 < ra < 135.0 and -35.0 < rb < 35.0 and 10.0 <= rom <= _HIP_MAX:
                if abs(da) >= 0.7 * rom:
                    return _EX_BRIDGE
            # Pelvis on its side, sensor side up: each clam rolls it back a few degrees
            # (the outer side turns backward, so up turns toward the front, a ~ +90).
            if rb > 60.0 and self._min_rom(_EX_CLAM) <= rom <= 30.0:
                fwd = cos(pb / _DEG) * sin(pa / _DEG) - cos(rb / _DEG) * sin(ra / _DEG)
                if fwd >= 0.6 * rom / _DEG:
                    return _EX_CLAM
            return _EX_NONE
        # Thigh, lying on the back with knees bent: the hips rise, the thigh turns
        # toward horizontal (a falls). Marching lifts the knee the other way.
        if self._min_rom(_EX_BRIDGE) <= rom <= _BRIDGE_MAX and abs(db) < 0.6 * rom:
            if _SUPINE_LO < ra < _SUPINE_HI and -35.0 < rb < 35.0 and -da >= 0.7 * rom:
                return _EX_BRIDGE
            if _SUPINE_LO < pa < _SUPINE_HI and -35.0 < pb < 35.0 and da >= 0.7 * rom:
                return -_EX_BRIDGE
        # Side lying, the thigh horizontal with its outer side up: the knee lifts, the
        # outer side turns away from up (b falls). Knees falling sideways while lying
        # on the back look alike but start with the thigh pointing up.
        # The knee rises (rh grows) as the thigh turns about the body's long axis.
        # At the top the outer side still faces up: the knee never turns past vertical
        # (knees rolling from one side to the other while lying on the back do).
        # A wearer who chose bridges gets no clam.
        if mode != _EX_BRIDGE and self._min_rom(_EX_CLAM) <= rom <= _CLAM_MAX:
            lift = 0.3 * rom / _DEG
            # Until the frame is known the outer side is a guess (a strap turned about
            # the thigh swaps it, and knees rolling then pass for clams): only the
            # knee's rise, which needs just the thigh's long axis, names a clam.
            sure = self._frame_ready()
            if not sure and rom < _CLAM_UNSURE_MIN:
                return _EX_NONE
            if -0.5 < rh < 0.5 and rb > 45.0 and pb > -10.0 and ((sure and -db >= 0.2 * rom) or ph - rh >= lift):
                return _EX_CLAM
            if -0.5 < ph < 0.5 and pb > 45.0 and rb > -10.0 and ((sure and db >= 0.2 * rom) or rh - ph >= lift):
                return -_EX_CLAM
        return _EX_NONE

    def _min_rom(self, ex):
        """The least range a rep of `ex` may have. Within a set (or after its first
        rep) its own range sets the floor: a person whose bridges tilt the thigh 10
        deg has 7 deg reps in the set too, while no set opens under the base range."""
        base = self._base_rom(ex)
        typ = self._set_typ(ex) * _FULL_FRAC
        if typ <= 0.0 or typ >= base:
            return base
        return typ if typ > _MIN_FLOOR else _MIN_FLOOR

    def _base_rom(self, ex):
        """The least range of a rep of `ex` outside a set."""
        if ex == _EX_CLAM:
            return _HIP_CLAM_MIN if self.placement == _PLACEMENT_HIP else _CLAM_MIN
        return _BRIDGE_MIN

    def _set_typ(self, ex):
        """The typical range of the open set (or waiting first rep) of `ex`, or 0."""
        pend = self._pend
        if self._set_ex == ex or (pend is not None and pend[2] == ex):
            return self._typ
        return 0.0

    def _end_set(self):
        self._typ = 0.0
        if self._set_ex != _EX_NONE and self._set_ex != _UNKNOWN:  # a held set stays held
            n = self._set_n
            if n or self._set_part:
                period = (self._set_t1 - self._set_t0) // n if n else 0
                mean = int(self._set_rom * 10.0 / n) if n else 0
                self._sink(
                    (_EV_SET, self._set_t0, self._set_t1, self._set_ex, self._set_side, n, self._set_part, mean, period)
                )
            self._set_side = _SIDE_NONE
        self._set_ex = _EX_NONE
        self._set_n = self._set_part = self._nroms = 0
        self._set_rom = 0.0

    # -- hip flexor stretch ------------------------------------------------------

    def _hold(self, t):
        """A stretch hold: the thigh still, in hip extension, at a steady angle.

        The hold starts once the angle has settled within _HOLD_BAND of its level and
        ends when it leaves that band, so kneeling down and getting up are not timed.
        """
        fr = self.frame
        ux, uy, uz = self.ux, self.uy, self.uz
        h = fr.xx * ux + fr.xy * uy + fr.xz * uz
        ext = -atan2(fr.yx * ux + fr.yy * uy + fr.yz * uz, -h) * _DEG
        lo = _HOLD_MIN_EXT
        hi = _HOLD_MAX_EXT
        b = 0.0
        if self.placement == _PLACEMENT_HIP or (self._fwd_pending != _FWD_KNOWN and self._fwd_pending != _FWD_NONE):
            # The tilt from standing, either way. The pelvis tucks under (posterior
            # tilt) and stays upright (its forward is only nominal); a thigh whose
            # forward is not known yet may kneel tilted either way.
            ext = acos(_clip(-h)) * _DEG
            if self.placement == _PLACEMENT_HIP:
                lo = _HOLD_MIN_HIP
                hi = _HOLD_MAX_HIP
        else:
            b = fr.zx * ux + fr.zy * uy + fr.zz * uz
        zone = lo <= ext <= hi and -0.5 < b < 0.5 and self.rev < _WALK_REV
        if zone and self._hold_in and abs(ext - self._hold_ext) > _HOLD_BAND:
            zone = False  # moved away from the held angle
        if zone:
            if self._hold_in == 0:
                self._hold_t0 = t
                self._hold_ext = ext
                self._hold_sum = 0.0
            elif self._hold_in < _HOLD_START_MS and abs(ext - self._hold_prev) > _HOLD_STEP:
                self._hold_t0 = t  # still shifting into the stretch: it starts later
            self._hold_prev = ext
            self._hold_in += 2 * TICK_MS
            self._hold_t1 = t
            self._hold_sum += ext
            on = self._hold_in >= _HOLD_START_MS  # held 3 s: the hold is on
            if on:
                self._hold_ext = self._hold_sum * 2 * TICK_MS / self._hold_in
            if not on or abs(ext - self._hold_ext) <= _HOLD_NEAR:
                # The hold ends where the thigh last was at its level, not where it
                # has left the band on the way out (that takes the first second).
                self._hold_end = t
        elif self._hold_in:
            if self._hold_in < _HOLD_START_MS:
                self._hold_in = 0
            elif t - self._hold_t1 > _HOLD_LEAVE_MS:
                self._end_hold()

    def _end_hold(self):
        # The release began before the thigh was last within 1 deg of its level: it
        # starts slowly (breathing sways the thigh ~1 deg, so the band is no narrower).
        end = self._hold_end - _HOLD_RELEASE_MS
        if end - self._hold_t0 >= _HOLD_MIN_MS:
            self._sink((_EV_HOLD, self._hold_t0, end, _EX_STRETCH, self.leg, int(self._hold_ext * 10.0)))
        self._hold_in = 0


def _set_event(held, ex, side):
    """The set event of a held set: [turn, rep, rep, ...]; of no exercise (_EX_NONE)
    for one the frame never named: reported as not counted."""
    n = part = rom = 0
    for e in held[1:]:
        if e[4]:
            part += 1
        else:
            n += 1
            rom += e[5]
    first = held[1]
    t0 = first[1] - first[6] - first[7] - first[8]
    t1 = held[-1][1]
    return (_EV_SET, t0, t1, ex, side, n, part, rom // n if n else 0, (t1 - t0) // n if n else 0)


def _clip(x):
    return 1.0 if x > 1.0 else (-1.0 if x < -1.0 else x)


def _median(values, n):
    """Median of the first min(n, len) values; runs once per rep."""
    m = min(n, len(values))
    if m == 0:
        return 0.0
    s = sorted(values[:m])
    return s[m // 2] if m % 2 else 0.5 * (s[m // 2 - 1] + s[m // 2])
