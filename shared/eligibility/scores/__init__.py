"""Derived scores: each returns bounds [sure points, possible points] and an optional gate."""
