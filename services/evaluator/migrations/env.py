from services.evaluator.adapters.sql.tables import metadata
from shared.infra.alembic_env import run

run(metadata, "evaluator")
