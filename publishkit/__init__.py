"""publishkit: publish neurophysiology data as versioned, manifest-pinned releases."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("publishkit")
except PackageNotFoundError:  # a source checkout that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
