"""``trialwatch evaluate --input``: FHIR and HL7 v2 files offline, through intake's normaliser."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest

from services.cli import evaluate
from tests.unit.clinical.conftest import FIXTURES

AT = "2026-03-01T09:00:00Z"
VIGNETTE = FIXTURES / "vignettes" / "eligible.json"


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="trialwatch")
    evaluate.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["evaluate", *argv])


def oru(control: str, *obx: str, sent: str = "20260228093000-0500", charset: str = "") -> str:
    # as a US lab sends it: local times, the offset only in MSH-7
    return "\r".join([
        f"MSH|^~\\&|LIS|CITY-LAB|TW|TW|{sent}||ORU^R01^ORU_R01|{control}|P|2.5.1||||||{charset}",
        "PID|1||MRN-7^^^CITY^MR||Roe^Jane||19900510|F",  # the vignette's patient
        "OBR|1|PLC-1|FIL-1|58410-2^CBC panel^LN|||20260228080000",
        *obx,
    ]) + "\r"


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


FINAL = "OBX|1|NM|777-3^Platelets^LN||150|10*9/L|150-400|N|||F|||20260228080000"
CORRECTED = "OBX|1|SN|777-3^Platelets^LN||<^10|10*9/L|150-400|LL|||C|||20260228080000"


def test_fhir_and_hl7_files_are_read_in_order_and_a_later_correction_decides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    final = write(tmp_path, "m1.hl7", oru("M1", FINAL))
    corrected = write(tmp_path, "m2.hl7", oru("M2", CORRECTED))
    base = ("--trial", "NCT06920433", "--at", AT, "--json", "--input", str(VIGNETTE))
    assert evaluate.run(parse(*base, final)) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "eligible"
    assert evaluate.run(parse(*base, final, corrected)) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "ineligible"


def test_explain_input_shows_each_value_as_sent_and_canonical_or_why_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unreadable = "OBX|2|ST|718-7^Hemoglobin^LN||<<7|g/dL||L|||F|||20260228080000"
    ranged = "OBX|3|SN|751-8^Neutrophils^LN||^1.5^-^2|10*3/uL||N|||F|||20260228080000"
    message = write(tmp_path, "labs.hl7", oru("M1", CORRECTED, unreadable, ranged))
    assert evaluate.run(parse("--explain-input", "--input", message)) == 0
    captured = capsys.readouterr()
    assert "labs.hl7 (HL7 v2): 1 patient(s), 3 fact(s)" in captured.out
    assert "value: '1.5-2' '10*3/uL' -> 1.5..2 10*9/L" in captured.out
    assert "value: '<10' '10*9/L' -> <10 10*9/L" in captured.out
    assert "time: 2026-02-28T13:00:00Z; status: corrected" in captured.out
    assert "read in the sender's zone, MSH-7's offset UTC-05:00" in captured.out
    assert "NOT READ OBX[2].5: text '<<7' is not a number" in captured.out
    assert "MRN-7" not in captured.out + captured.err
    assert "Roe" not in captured.out + captured.err


def test_a_refused_message_exits_2_naming_each_element_and_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    no_type = "OBX|1||777-3^Platelets^LN||8|10*9/L|150-400|LL|||F|||20260228080000"
    message = write(tmp_path, "bad.hl7", oru("M1", no_type))
    code = evaluate.run(parse("--trial", "NCT06920433", "--at", AT, "--input", message))
    err = capsys.readouterr().err
    assert code == 2
    assert "error: bad.hl7: refused HL7 v2 message" in err
    assert "  - OBX[1].2: value type (OBX-2) is empty while OBX-5 is valued" in err


def test_every_refused_file_and_batch_message_is_named_not_only_the_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    no_type = "OBX|1||777-3^Platelets^LN||8|10*9/L|150-400|LL|||F|||20260228080000"
    grams_per_ml = "OBX|1|NM|718-7^Hemoglobin^LN||12.5|g/mL|||||F|||20260228080000"
    first = write(tmp_path, "first.hl7", oru("M1", no_type))
    good = write(tmp_path, "good.hl7", oru("M2", FINAL))
    batch = write(tmp_path, "batch.hl7", oru("M3", FINAL) + oru("M4", grams_per_ml))
    code = evaluate.run(parse("--explain-input", "--input", first, good, batch))
    err = capsys.readouterr().err
    assert code == 2
    assert "error: first.hl7: refused HL7 v2 message" in err
    assert "  - OBX[1].2: value type (OBX-2) is empty while OBX-5 is valued" in err
    assert "error: batch.hl7 message 2: refused HL7 v2 message" in err
    assert "  - OBX[1].6: unit 'g/mL' is implausible for hemoglobin" in err
    assert "good.hl7" not in err
    assert "batch.hl7 message 1" not in err


def test_a_batch_file_is_split_into_its_messages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # v2.5.1 2.10.3 batch protocol: FHS/BHS ... MSH ... MSH ... BTS/FTS, LF-separated on disk
    batch = "\n".join([
        "FHS|^~\\&|LIS|CITY-LAB|||20260228110000-0500",
        "BHS|^~\\&|LIS|CITY-LAB|||20260228110000-0500",
        oru("M1", FINAL).replace("\r", "\n").strip(),
        oru("M2", CORRECTED).replace("\r", "\n").strip(),
        "BTS|2",
        "FTS|1",
    ])
    path = write(tmp_path, "feed.txt", batch)
    assert evaluate.run(parse("--explain-input", "--input", path)) == 0
    out = capsys.readouterr().out
    assert "feed.txt message 1 (HL7 v2)" in out
    assert "feed.txt message 2 (HL7 v2)" in out


def test_an_hl7_file_in_latin_1_is_decoded_by_its_msh18(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    obx = "OBX|1|NM|718-7^Hämoglobin^LN||120|g/L||N|||F|||20260228080000"
    path = write(tmp_path, "de.hl7", oru("M1", obx, charset="8859/1"), "iso8859-1")
    assert evaluate.run(parse("--explain-input", "--input", path)) == 0
    assert "718-7 Hämoglobin" in capsys.readouterr().out


def test_times_without_any_offset_need_the_hl7_zone_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "local.hl7", oru("M1", FINAL, sent="20260228093000"))
    assert evaluate.run(parse("--explain-input", "--input", path)) == 2
    assert "OBX[1].14: time '20260228080000' has no UTC offset" in capsys.readouterr().err
    zoned = parse("--explain-input", "--hl7-zone", "America/Chicago", "--input", path)
    assert evaluate.run(zoned) == 0
    assert "time: 2026-02-28T14:00:00Z" in capsys.readouterr().out
    assert evaluate.run(parse("--hl7-zone", "Mars/Base", "--explain-input", "--input", path)) == 2


def test_a_file_that_is_neither_fhir_nor_hl7_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "notes.txt", "Dear colleague, ...")
    assert evaluate.run(parse("--trial", "NCT06920433", "--input", path)) == 2
    assert "neither FHIR R4 JSON" in capsys.readouterr().err


def test_without_a_trial_only_explain_input_is_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "m1.hl7", oru("M1", FINAL))
    assert evaluate.run(parse("--input", path)) == 2
    assert "--trial is required" in capsys.readouterr().err


def test_json_output_stays_json_when_the_input_is_explained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "eligible.json"
    shutil.copy(VIGNETTE, copy)
    argv = ("--trial", "NCT06920433", "--at", AT, "--json", "--explain-input", "--input", str(copy))
    assert evaluate.run(parse(*argv)) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["status"] == "eligible"
    assert "eligible.json (FHIR R4): 1 patient(s)" in captured.err


def test_files_about_two_different_people_are_refused_instead_of_mixed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    her = write(tmp_path, "her.hl7", oru("M1", FINAL))
    him_pid = "MRN-9^^^CITY^MR||Roe^John||19240101|M"
    him = write(tmp_path, "him.hl7", oru("M2", FINAL).replace(
        "MRN-7^^^CITY^MR||Roe^Jane||19900510|F", him_pid))
    assert evaluate.run(parse("--trial", "NCT06920433", "--at", AT, "--input", her, him)) == 2
    error = capsys.readouterr().err
    assert "birth date and sex differ" in error
    assert "19240101" not in error
    assert "MRN-9" not in error


def test_a_training_message_is_refused_unless_processing_id_t_is_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """HL7 v2.5.1 2.14.9.11 MSH-11, table 0103: a training (T) platelet count of 150 sent after
    a production count below 10 must not decide; ``--hl7-processing-ids`` is read as
    INTAKE_HL7V2_PROCESSING_IDS (default P)."""
    low = write(tmp_path, "m1.hl7", oru("M1", CORRECTED))
    later = "OBX|1|NM|777-3^Platelets^LN||150|10*9/L|150-400|N|||F|||20260228100000"
    training = write(tmp_path, "m2.hl7", oru("M2", later, sent="20260228103000-0500")
                     .replace("|M2|P|", "|M2|T|").replace("PLC-1|FIL-1", "PLC-2|FIL-2"))
    base = ("--trial", "NCT06920433", "--at", AT, "--json", "--input", str(VIGNETTE), low)
    assert evaluate.run(parse(*base, training)) != 0
    assert "MSH.11" in capsys.readouterr().err
    assert evaluate.run(parse(*base, training, "--hl7-processing-ids", "P,T")) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "eligible"
    assert evaluate.run(parse(*base, "--hl7-processing-ids", "P,X")) != 0
    assert "table 0103" in capsys.readouterr().err
