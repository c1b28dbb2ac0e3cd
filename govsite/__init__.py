"""govsite: a static-site generator for government website clusters."""

__version__ = "0.1.0"
