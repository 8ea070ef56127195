"""The package version, in a module of its own so that the modules below the package root can
read it without importing the root (whose import sets up the environment for torch)."""

__version__ = "0.6.0"
