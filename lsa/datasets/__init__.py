"""Bundled real extracts (see data/README.md for provenance) and a simulator with known truth."""

from ._extracts import available, load, path
from .simulate import Simulated, simulate

__all__ = ["Simulated", "available", "load", "path", "simulate"]
