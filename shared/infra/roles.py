"""The roles a bearer token grants (light: ``trialwatch dev-token --help`` lists them without
importing the web stack of ``shared.infra.auth``, which re-exports ``Role``)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A caller's role: lab-system sends patient data, coordinator reads and acts on alerts,
    auditor reads the audit record, admin manages the services."""

    LAB_SYSTEM = "lab-system"
    COORDINATOR = "coordinator"
    AUDITOR = "auditor"
    ADMIN = "admin"
