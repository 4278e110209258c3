"""``trialwatch evaluate``: the offline check a protocol author runs against one patient."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from services.cli import evaluate
from tests.unit.eligibility.fhir_builder import eligible_patient


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="trialwatch")
    evaluate.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["evaluate", *argv])


def write(tmp_path: Path, document: object, name: str = "patient.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


AT = "2026-03-01T09:00:00Z"


def test_json_output_is_the_decision_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = write(tmp_path, eligible_patient().bundle())
    code = evaluate.run(
        parse("--trial", "NCT06920433", "--bundle", str(bundle), "--at", AT, "--json")
    )
    assert code == 0
    decision = json.loads(capsys.readouterr().out)
    assert decision["status"] == "eligible"
    # the newest version (.3: E6 reads in situ / uncertain-behaviour neoplasms as unknown)
    assert decision["trial"] == {"id": "NCT06920433", "version": "2025-11-14.5"}
    assert decision["as_of"] == "2026-03-01T09:00:00Z"
    assert decision["next_review_at"] == "2026-03-06T09:00:00Z"
    assert [c["id"] for c in decision["criteria"]][:3] == ["I1", "I2", "I3"]
    assert decision["parameters"]["cockcroft_gault_weight"] == "actual"


def test_text_output_names_each_criterion_and_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    patient = eligible_patient().without("http://loinc.org", "777-3")
    bundle = write(tmp_path, patient.bundle("transaction"))
    code = evaluate.run(parse("--trial", "NCT06920433", "--bundle", str(bundle), "--at", AT))
    out = capsys.readouterr().out
    assert code == 0
    # the status in words, as the coordinator app says it (never the enum)
    assert out.splitlines()[1] == "Status: Not yet decided: data missing"
    assert "UNDETERMINED" not in out
    assert "undetermined" not in out.partition("Parameters:")[0].lower()  # the trial's own text
    assert "[????] I6.1" in out
    assert out.count("  - platelet count within 30 days") == 1, "each item is printed once"
    assert "  - platelet count within 30 days (needed for I6, I6.1)" in out
    assert "[PASS] I1" in out
    assert "10*9/L" not in out
    assert "tables/" not in out


def test_a_searchset_bundle_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = write(tmp_path, eligible_patient().bundle("searchset"))
    assert evaluate.run(parse("--trial", "NCT06920433", "--bundle", str(bundle), "--at", AT)) == 0


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "not JSON"),
        ({"resourceType": "Patient", "id": "x"}, "expected a FHIR Bundle"),
        ({"resourceType": "Bundle", "type": "document", "entry": []}, "Bundle.type 'document'"),
    ],
)
def test_a_malformed_bundle_is_refused_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], document: object, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(
        document if isinstance(document, str) else json.dumps(document), encoding="utf-8"
    )
    code = evaluate.run(parse("--trial", "NCT06920433", "--bundle", str(path), "--at", AT))
    assert code == 2
    assert message in capsys.readouterr().err


def test_an_invalid_resource_is_refused_naming_its_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = eligible_patient().bundle()
    bundle["entry"][3]["resource"]["effectiveDateTime"] = "2026-02-26T09:00:00"  # no offset
    path = write(tmp_path, bundle)
    code = evaluate.run(parse("--trial", "NCT06920433", "--bundle", str(path), "--at", AT))
    err = capsys.readouterr().err
    assert code == 2
    assert "malformed FHIR bundle" in err
    assert "Bundle.entry[3]" in err


def test_a_missing_file_an_unknown_trial_and_a_naive_time_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = write(tmp_path, eligible_patient().bundle())
    assert (
        evaluate.run(parse("--trial", "NCT06920433", "--bundle", str(tmp_path / "none.json"))) == 2
    )
    assert evaluate.run(parse("--trial", "NCT00000000", "--bundle", str(bundle))) == 2
    assert (
        evaluate.run(
            parse("--trial", "NCT06920433", "--bundle", str(bundle), "--at", "2026-03-01T09:00:00")
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "cannot read bundle" in err
    assert "unknown trial" in err
    assert "naive datetime" in err


def test_a_bundle_with_two_patients_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = eligible_patient().bundle()
    bundle["entry"].append(
        {"fullUrl": "urn:uuid:other", "resource": {"resourceType": "Patient", "id": "other"}}
    )
    path = write(tmp_path, bundle)
    assert evaluate.run(parse("--trial", "NCT06920433", "--bundle", str(path), "--at", AT)) == 2
    assert "2 patients" in capsys.readouterr().err


def test_without_at_the_clock_is_read_in_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = write(tmp_path, eligible_patient().bundle())
    assert evaluate.run(parse("--trial", "NCT06920433", "--bundle", str(bundle), "--json")) == 0
    decision = json.loads(capsys.readouterr().out)
    assert decision["as_of"] > "2026-03-01T09:00:00Z"
    assert decision["status"] != "eligible"  # the screening data has aged out by now
