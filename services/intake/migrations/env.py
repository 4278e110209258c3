from services.intake.tables import metadata
from shared.infra.alembic_env import run

run(metadata, "intake")
