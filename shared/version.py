"""The one version number of TrialWatch (pyproject's), shown by every service and document."""

from __future__ import annotations

from importlib import metadata

try:
    VERSION = metadata.version("trialwatch")
except metadata.PackageNotFoundError:  # run from a source tree that was never installed
    VERSION = "0.0.0+source"
