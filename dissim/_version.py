"""The package version, in the one module every other module takes it from (the bottom layer)."""

__version__ = "0.1.0"
