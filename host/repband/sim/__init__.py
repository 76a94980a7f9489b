"""repband's own session simulator: rigid-segment body model + IMU model + labelled truth.

    from repband.sim import simulate, SCENARIOS, write_recording
    rec, truth = simulate("routine", seed=1, leg="right", placement="thigh",
                          mount="nominal", rate_hz=104.0, gyro=True)

Independent of the shared sim-dev recordings (a held-out test set for the detector).
"""
from .scenarios import SCENARIOS, cmd_simulate, simulate, write_recording

__all__ = ["SCENARIOS", "simulate", "write_recording", "cmd_simulate"]
