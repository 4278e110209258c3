"""Library loggers never write field values: where and what kind only."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator

import hl7
import pytest
import structlog

from shared.clinical.errors import InvalidInput
from shared.clinical.hl7v2 import parse_hl7v2
from shared.infra.logging import configure_logging
from shared.settings import LogSettings

PHI = ("MRN-99812", "Roe", "Jane", "555-0143", "12 Elm Street")
MESSAGE = (
    "MSH|^~\\&|LAB|CITY|TW|TW|20261120093000||ORU^R01|MSG-1|P|2.5.1\r"
    "PID|1||MRN-99812\\Z99\\^^^CITY^MR||Roe^Jane||19900412|F|||12 Elm Street^^Springfield"
    "||555-0143\r"
    "OBX|1|NM|718-7^Hemoglobin^LN||11.2|g/dL|||||F|||20261120083000\r"
)


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    configure_logging(LogSettings(format="json", level="debug"), service="test")
    stream = io.StringIO()
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(stream)
    try:
        yield stream
    finally:
        handler.setStream(previous)


def test_an_unknown_hl7_escape_in_pid_3_logs_no_identifier(log_output: io.StringIO) -> None:
    with contextlib.suppress(InvalidInput):
        parse_hl7v2(MESSAGE)
    # the normaliser no longer hands an unreadable escape to python-hl7 (v2.5.1 2.7 checked
    # first), so python-hl7's own unescape is called on the same text to see its log record
    parsed = hl7.parse(MESSAGE.replace("\n", "\r"))
    for segment in parsed:
        for part in str(segment).split("|"):
            if "\\" in part:
                parsed.unescape(part)
    written = log_output.getvalue()
    assert written, "python-hl7 logs this escape; the test must see that record"
    assert [value for value in PHI if value in written] == []


def test_a_library_record_keeps_its_template_and_error_type_but_no_values(
    log_output: io.StringIO,
) -> None:
    try:
        raise ValueError("MRN-99812 could not be read")
    except ValueError:
        logging.getLogger("somelibrary").exception("failed on [%s]", "MRN-99812")
    written = log_output.getvalue()
    assert "failed on [<str>] [ValueError]" in written
    assert "MRN-99812" not in written


def test_a_library_record_names_the_kind_of_each_value_it_withholds(
    log_output: io.StringIO,
) -> None:
    """aiokafka at shutdown: readable ("from <int>: <ConnectionError>"), still no values."""
    logging.getLogger("aiokafka.consumer.fetcher").error(
        "Failed fetch messages from %s: %s", 1, ConnectionError("MRN-99812 at 10.0.0.1"))
    logging.getLogger("somelibrary").warning("%(node)s at 100%%", {"node": "MRN-99812"})
    written = log_output.getvalue()
    assert "Failed fetch messages from <int>: <ConnectionError>" in written
    assert "<node> at 100%" in written
    assert "MRN-99812" not in written
    assert "10.0.0.1" not in written


def test_our_own_structlog_events_pass_unchanged(log_output: io.StringIO) -> None:
    structlog.get_logger("trialwatch.test").info("submission_accepted", patient_keys=["pt_1"])
    assert '"patient_keys": ["pt_1"]' in log_output.getvalue()
