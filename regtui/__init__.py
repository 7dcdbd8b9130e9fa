"""regtui: sell course seats in bulk and hand them out."""

__version__ = "0.1.0"
