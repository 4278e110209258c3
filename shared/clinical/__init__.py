"""Canonical clinical facts and the one normaliser that turns FHIR R4 and HL7 v2 into them."""
