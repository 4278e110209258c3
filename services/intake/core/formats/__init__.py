"""Intake's input formats, one module each; importing this package registers every one.

To add a format, add a module here that calls ``services.intake.core.input_formats.register``
(see ``fhir_r4.py``); nothing else in intake changes.
"""

from __future__ import annotations

import importlib
import pkgutil

for _module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
