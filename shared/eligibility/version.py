"""The engine's own version, recorded in every decision next to the trial version."""

ENGINE_VERSION = "trialwatch-engine/1.1.0"
