"""The package version, readable without importing the rest of rnnkit."""
__version__ = "0.2.0"
