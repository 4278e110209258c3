from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from shared.infra.migrations import SERVICE_NAMES, alembic_config


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_each_service_has_one_linear_chain_of_migrations(service: str) -> None:
    # two revisions claiming one id (parallel branches landing together) leave Alembic with
    # several heads or a revision that silently shadows another: both refuse to upgrade
    script = ScriptDirectory.from_config(alembic_config(service, "sqlite://"))
    revisions = list(script.walk_revisions())
    files = [f for f in Path(script.versions).glob("*.py") if not f.name.startswith("__")]
    assert len(script.get_heads()) == 1
    assert len(revisions) == len(files)
