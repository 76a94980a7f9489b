"""The band's firmware app: tasks around the detection core on a thin HAL.

  app.hal      the seams to hardware (clock, I2C, buttons, outputs, battery, power,
               watchdog, flash) and their real implementation on the board
  app.config   settings on flash (JSON, schema version, defaults on any fault)
  app.session  sessions and the recorder writing records through the session log
  app.app      App: state, boot, commands, the supervisor; put together from
               app.clock (time base), app.sampling (IMU, FIFO, detector),
               app.activity (events: sessions, cues), app.feedback,
               app.power (battery, sleep, off), app.radio (the GATT service's glue)
  app.ble      BandService, the GATT server (and its advertising): with app.gatt
               (the table, registered once), app.security (pairing window, bond
               keys), app.live (live, status, battery, settings, time), app.reports
               (RACP, records report) and app.rawstream, made when first needed
  app.safeboot main.py's boot: safe boot, the crash log
  app.startup  App.boot: config, session log, the GATT service, IMU (once)
  app.recovery the session a reset cut short, closed at boot
  app.wipe     the factory reset (imported when the host asks)

`main.py` at the firmware root picks the board and runs `App(EspHal(board), board)`
through app.safeboot; `repband.virtual` runs the same App on emulated hardware under
CPython. Code that runs once at boot (app.startup, app.recovery, app.identity,
app.gatt) is dropped after with
`unload`: on a board running the firmware as files its bytecode would otherwise stay in
RAM for good.
"""


def unload(name):
    """Forget the module `name` ("app.x"): its code is freed at the next collection."""
    import sys

    sys.modules.pop(name, None)
    pkg, _, sub = name.rpartition(".")
    parent = sys.modules.get(pkg)
    if parent is not None and sub in parent.__dict__:
        delattr(parent, sub)
