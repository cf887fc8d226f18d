"""pais: get models into a private model gallery safely, and out again as served endpoints."""

__version__ = "0.1.0"
