"""Intake's SQL adapters (SQLite and PostgreSQL): tables, stores, leadership."""
