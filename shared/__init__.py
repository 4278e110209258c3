"""TrialWatch shared package: wire contracts, clinical facts, the pure eligibility core."""
