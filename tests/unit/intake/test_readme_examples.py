"""The README's "Your first decision" commands post files a fresh clone has.

Fresh user (ux): the README's HL7 v2 command posted ``@message.hl7``, a file the repository
does not have, so the second half of the walkthrough could not be run as written."""

from __future__ import annotations

import re
from pathlib import Path

from shared.clinical.hl7v2 import parse_hl7v2

REPO = Path(__file__).resolve().parents[3]
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_every_file_the_readme_posts_is_in_the_repository() -> None:
    posted = re.findall(r"--data(?:-binary)? @(\S+)", README)
    assert len(posted) >= 2, posted  # the FHIR example and the HL7 v2 example
    missing = [p for p in posted if not (REPO / p).is_file()]
    assert not missing, f"the README posts files a fresh clone does not have: {missing}"


def test_the_readmes_hl7_example_is_an_oru_r01_intake_reads_whole() -> None:
    [path] = re.findall(r"--data-binary @(\S+\.hl7)", README)
    message = (REPO / path).read_bytes()
    assert b"\n" not in message, "ER7 segments are separated by carriage returns (HL7 v2.5.1 2.5)"
    [update] = parse_hl7v2(message, source_system="readme-lab")
    [hemoglobin] = [f for f in update.facts if any(c.code == "718-7" for c in f.codes)]
    # LOINC 718-7 hemoglobin, read by NCT06920433 I6.1; 12.9 g/dL is 129 g/L (UCUM)
    assert hemoglobin.value_quantity is not None, hemoglobin
    assert hemoglobin.unread is None, hemoglobin
