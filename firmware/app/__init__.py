"""The band's firmware app: tasks around the detection core on a thin HAL.

  app.hal      the seams to hardware (clock, I2C, buttons, outputs, battery, power,
               watchdog, flash) and their real implementation on the board
  app.config   settings on flash (JSON, schema version, defaults on any fault)
  app.session  sessions and the recorder writing records through the session log
  app.app      App: state, boot, commands, the supervisor; put together from
               app.clock (time base), app.sampling (IMU, FIFO, detector),
               app.activity (events: sessions, cues), app.buttons, app.feedback,
               app.power (battery, sleep, off), app.radio (the GATT service's glue)
  app.ble      BandService, the GATT server: with app.advertising, app.security
               (pairing window, bond keys), app.live (live, status, battery,
               settings, time), app.reports (RACP, records report), app.rawstream

`main.py` at the firmware root picks the board and runs `App(EspHal(board), board)`;
`repband.virtual` runs the same App on emulated hardware under CPython.
"""
