"""The pure eligibility core: trial criteria + patient facts + as-of time in, decision out."""
