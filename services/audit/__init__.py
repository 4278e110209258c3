"""Audit: the append-only, hash-chained, checkpoint-signed record of every eligibility decision."""
