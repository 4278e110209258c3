"""Intake's use cases over ports: pure, runnable on in-memory fakes."""
