"""Hudhud: a self-hostable messenger that does not lose a message."""

__version__ = "0.1.0"
PROTOCOL_VERSION = 1
