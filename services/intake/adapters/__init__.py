"""Intake's adapters: SQL storage, HTTP API, Kafka messaging."""
