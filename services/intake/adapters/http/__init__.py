"""Intake's HTTP API (FastAPI): routes, problem documents, bounded body reading."""
