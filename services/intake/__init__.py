"""Intake: FHIR R4 and HL7 v2 in; pseudonymised patient events out, via a transactional outbox."""
