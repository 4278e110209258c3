"""The evaluator: re-screens patients on every change and as time passes; alerts coordinators."""
