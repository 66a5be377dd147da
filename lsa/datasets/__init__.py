"""Bundled real extracts (see data/README.md for provenance) and a simulator with known truth."""

from ._extracts import available, load, path
from .clustered import cluster_sizes, simulate_clustered
from .international import International, simulate_international
from .simulate import Simulated, simulate

__all__ = ["International", "Simulated", "available", "cluster_sizes", "load", "path", "simulate", "simulate_clustered",
           "simulate_international"]
