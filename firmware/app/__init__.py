"""The band's firmware app: tasks around the detection core on a thin HAL.

  app.hal      the seams to hardware (clock, I2C, buttons, outputs, battery, power,
               watchdog, flash) and their real implementation on the board
  app.config   settings on flash (JSON, schema version, defaults on any fault)
  app.session  sessions and the recorder writing records through the session log
  app.app      the asyncio tasks: sampling, buttons, feedback, power, supervisor

`main.py` at the firmware root picks the board and runs `App(EspHal(board), board)`;
`repband.virtual` runs the same App on emulated hardware under CPython.
"""
