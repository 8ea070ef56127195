"""The package version, in a module of its own: the modules below the package root (the model
file, the CLI, compare's JSON) depend on this module, not on the root's namespace, whose import
also sets up the environment torch is started in."""

__version__ = "0.8.0"
