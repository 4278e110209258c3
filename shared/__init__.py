"""TrialWatch's shared package: wire contracts, canonical clinical facts, the pure eligibility core."""
