"""repband host tool: replay, evaluate, simulate and (later) sync a repband device."""

__version__ = "0.1.0"
