"""repband host tool: pair and sync the band, history, reports and exports; replay,
evaluate and simulate recordings; the virtual band."""

__version__ = "0.2.0.dev0"
