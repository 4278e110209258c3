"""structlog JSON logging with per-message context; stdlib loggers routed through it.

Per-message context (event id, surrogate patient key) is bound with
``structlog.contextvars.bound_contextvars``. Never log PHI: names, MRNs, birth dates, free text.

Library loggers are redacted (``LibraryRedaction``): a library record keeps its logger, level,
source location, message template and exception type, never its arguments or exception text.
python-hl7 logs a whole field at error level when it meets an unknown escape (``\\Z99\\`` in
PID-3 wrote MRN, name, phone and address to the log of a refused message); FastStream and
pydantic exceptions quote the input. Our own structlog events are kept as written (they are
reviewed to carry surrogate keys and paths only).
"""

from __future__ import annotations

import logging
import re
import sys

import structlog

from shared.settings import LogSettings


def configure_logging(settings: LogSettings | None = None, service: str = "trialwatch") -> None:
    settings = settings or LogSettings()
    use_json = settings.format == "json" or (settings.format == "auto" and not sys.stderr.isatty())
    shared_processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.CallsiteParameterAdder({structlog.processors.CallsiteParameter.MODULE}),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*shared_processors, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(LibraryRedaction())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level.upper())
    for noisy in ("aiokafka", "uvicorn.access", "sqlalchemy.engine", "faststream"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.contextvars.bind_contextvars(service=service)


# Library records whose arguments are known to be addresses and ports, not input.
_LIFECYCLE_LOGGERS = frozenset({"uvicorn", "uvicorn.error"})


class LibraryRedaction(logging.Filter):
    """Strip every library log record down to where and what kind, never which values.

    Kept: logger name, level, module/path and line, the message template (``"Error decoding
    value [%s], field [%s]"``) and the exception type. Dropped: the arguments, the exception
    message and traceback (both may quote the input). Records from structlog (our own events)
    pass unchanged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, dict) and hasattr(record, "_logger"):
            return True  # structlog's own event (ProcessorFormatter.wrap_for_formatter)
        if record.name in _LIFECYCLE_LOGGERS and record.exc_info is None:
            return True
        template = record.msg if isinstance(record.msg, str) else type(record.msg).__name__
        error = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else None
        record.msg = _placeholders_named(template, record.args) + (f" [{error}]" if error else "")
        record.args = None
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True


# a printf-style conversion (Python's logging uses %-formatting): "%s", "%(node)s", "%.2f", "%%"
_CONVERSION = re.compile(r"%(?:\((?P<key>[^)]*)\))?[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?"
                         r"(?P<type>[diouxXeEfFgGcrsa%])")


def _placeholders_named(template: str, args: object) -> str:
    """``template`` with each conversion replaced by the kind of value it would have shown,
    never the value: ``"Failed fetch messages from %s: %s"`` with (1, KafkaConnectionError(...))
    reads ``"Failed fetch messages from <int>: <KafkaConnectionError>"``; a named one
    (``%(node)s``) reads ``<node>``. A library record stays readable and quotes no input."""
    if not args:
        return template
    positional = iter(args) if isinstance(args, tuple) else iter(())

    def named(match: re.Match[str]) -> str:
        if match.group("type") == "%":
            return "%"
        if match.group("key") is not None:
            return f"<{match.group('key')}>"
        value = next(positional, None)
        return f"<{type(value).__name__}>"

    return _CONVERSION.sub(named, template)
