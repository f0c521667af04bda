"""ticket-alarm: Korean ticket-open notices to Discord, exactly once."""

__version__ = "0.1.0"
