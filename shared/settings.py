"""Typed settings, one environment prefix per concern, read once by each composition root.

``KAFKA_*`` selects the broker (Tansu embedded, or Apache Kafka in production), ``INTAKE_*``,
``EVALUATOR_*`` and ``AUDIT_*`` each select a service's address and database, ``LOG_*`` the
log format. The same code runs on SQLite + Tansu and on PostgreSQL + Apache Kafka.
"""

from __future__ import annotations

import re
from datetime import tzinfo
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.sites import SITE_PATTERN
from shared.token_claims import parse_inline_tokens

DEFAULT_DATA_DIR = Path("var")


def _sqlite_url(name: str) -> str:
    return f"sqlite+aiosqlite:///{DEFAULT_DATA_DIR / name}.db"


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAFKA_")

    bootstrap_servers: str = "127.0.0.1:9092"
    # Tansu rejects idempotent/transactional producers; Apache Kafka deployments turn this on.
    enable_idempotence: bool = False
    partitions: int = Field(default=4, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    # Short group timeouts: Tansu's group join takes about one session timeout.
    session_timeout_ms: int = 2000
    heartbeat_interval_ms: int = 500
    rebalance_timeout_ms: int = 1000
    request_timeout_ms: int = 10_000
    # The producer's largest request (aiokafka max_request_size, default 1 MiB); intake refuses
    # (413) any input whose event would be larger, so nothing accepted is unpublishable. Keep
    # it at or below the broker's message.max.bytes / the topic's max.message.bytes.
    max_request_size: int = Field(default=1_048_576, ge=65_536)
    # Producer batch compression. gzip is in the standard library and Tansu 0.6 stores it;
    # snapshots and decisions (JSON of facts and criteria) shrink several-fold. "none" turns it
    # off; lz4 / zstd need their Python packages.
    compression_type: Literal["gzip", "none", "lz4", "zstd"] = "gzip"


class LogSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOG_")

    format: Literal["json", "console", "auto"] = "auto"
    level: str = "INFO"


class ClinicalSettings(BaseSettings):
    """How the normaliser reads a site's feeds (``CLINICAL_*``).

    ``unit_aliases_file`` names a YAML file of the alias table's shape (see
    ``shared/clinical/unit_aliases.yaml``) with the non-UCUM unit spellings of this site's
    feeds; they are added to the shipped table at start-up.

    ``local_codes_file`` names the site's code crosswalk (YAML, ``shared/clinical/local_codes.py``):
    a sender's local result/condition codes read as LOINC or SNOMED CT codes, each entry saying
    who mapped it and why; installed at start-up (a wrong entry stops it).

    ``medication_codes_file`` names the site's medication crosswalk (YAML,
    ``shared/clinical/medication_codes.py``): NDC, ATC and local drug codes read as RxNorm drugs
    and ingredients, RxNorm drugs' ingredients; a wrong row stops the start-up with its line.
    """

    model_config = SettingsConfigDict(env_prefix="CLINICAL_")

    unit_aliases_file: Path | None = None
    local_codes_file: Path | None = None
    medication_codes_file: Path | None = None


class ServiceSettings(BaseSettings):
    """Address and database of one service; subclasses set the prefix and defaults."""

    # A refused setting is reported without its value: tokens and database URLs are secrets.
    model_config = SettingsConfigDict(hide_input_in_errors=True)

    host: str = "127.0.0.1"
    port: int
    database_url: str
    # Comma-separated ``TOKEN=[NAME:]ROLE[@TRIAL|TRIAL...][/SITE|SITE...]`` entries
    # (shared.token_claims: each its own client name); empty means the dev token file is used.
    tokens: str = ""
    tokens_file: Path | None = None
    # Simultaneous connections (uvicorn limit_concurrency); more are answered 503 at once.
    max_connections: int = Field(default=256, ge=1)

    @field_validator("tokens")
    @classmethod
    def _tokens_read(cls, value: str) -> str:
        """Refused at start-up with the entry and what is wrong (shared.token_claims)."""
        parse_inline_tokens(value)
        return value


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_")

    port: int = 8081
    database_url: str = _sqlite_url("intake")
    max_body_bytes: int = 5 * 1024 * 1024
    relay_batch_size: int = 200
    relay_poll_interval_s: float = 0.05
    relay_max_backoff_s: float = 5.0
    # Group commit: at most this many concurrent submissions share one transaction and commit.
    group_commit_max_members: int = Field(default=64, ge=1)
    # The raw upstream topic (INTAKE_RAW): consumer group, and the source system assumed for
    # a message without a ``source-system`` header.
    raw_group_id: str = "trialwatch-intake"
    raw_default_source: str = "intake-raw"
    # The sites a raw-topic message may be stamped with (comma-separated site codes), named by
    # its ``trialwatch-site`` header and chosen as a lab token's sites claim is (one site: the
    # default; several: the header must name one; none: no header allowed, no site). The raw
    # topic carries no token: this list is what authorises its sites (deploy/SECURITY.md).
    raw_sites: str = ""
    # The trial files whose criteria the receipts check codes against (the newest version of
    # each trial; set it to the evaluator's EVALUATOR_TRIALS_DIR). Empty: the shipped trials.
    trials_dir: Path | None = None

    @field_validator("raw_sites")
    @classmethod
    def _raw_sites_read(cls, value: str) -> str:
        """Refused at start-up when an entry is not a site code (``shared.sites``)."""
        for position, site in enumerate((s.strip() for s in value.split(",") if s.strip()),
                                        start=1):
            if not re.match(SITE_PATTERN, site):
                raise ValueError(f"raw site {position} is not a site code (letters, digits, "
                                 "'.', '_', '-'; at most 64)")
        return value

    def raw_site_set(self) -> frozenset[str]:
        """``raw_sites`` as a set of site codes (empty: raw messages carry no site)."""
        return frozenset(s.strip() for s in self.raw_sites.split(",") if s.strip())
    # The local zone of each HL7 v2 sender whose MSH-7 carries no UTC offset, as
    # ``source=Area/City`` pairs separated by commas (``lab-a=America/New_York``). HL7 v2.5.1
    # ch. 2A.3.22: a time without an offset is the sender's local time; without MSH-7's offset
    # or a zone here, such a result time is refused (never read as UTC).
    hl7v2_zones: str = ""
    # This site's own medical record number assigning authority, as the names it is sent under,
    # comma-separated: a FHIR Identifier.system (``urn:oid:1.2.4``) and/or an HL7 v2 CX-4
    # namespace id (``TEST-EHR``; a CX-4 universal id matches as its system, ``urn:oid:<id>``).
    # Set: a patient's MR identifier under it is the patient's number, MR identifiers under other
    # authorities are other facilities' (named in the receipt, never used), and a patient with
    # no MR number under it (or two) is refused. Empty: one MR number is read, two different
    # ones are refused (which is this site's is not in the message). shared/clinical/
    # record_numbers.py; docs/intake.md.
    mrn_assigning_authority: str = ""
    # The HL7 v2 processing ids (MSH-11.1, HL7 v2.5.1 2.14.9.11, table 0103: P production,
    # T training, D debugging) whose messages are read, comma-separated. Default P: a training
    # or debugging message never screens a real patient; any other message (or one without
    # MSH-11) is refused whole at MSH.11. A test feed (a vendor's sample, the handout's lab
    # messages, sent as T) is read only where this lists T (``P,T``). docs/intake.md.
    hl7v2_processing_ids: str = "P"

    @field_validator("hl7v2_processing_ids")
    @classmethod
    def _processing_ids_read(cls, value: str) -> str:
        """Refused at start-up when empty or when an entry is not a table 0103 code."""
        processing_id_set(value)
        return value

    def hl7v2_processing_id_set(self) -> frozenset[str]:
        """``hl7v2_processing_ids`` as a set of table 0103 codes (never empty)."""
        return processing_id_set(self.hl7v2_processing_ids)

    @field_validator("mrn_assigning_authority")
    @classmethod
    def _authorities_read(cls, value: str) -> str:
        """Refused at start-up when a name holds a character no identifier system or HD
        namespace id has (whitespace, control characters, HL7 v2 delimiters)."""
        for position, name in enumerate(_names(value), start=1):
            if not name.isprintable() or any(c.isspace() or c in "|^~\\&" for c in name):
                raise ValueError(f"MRN assigning authority name {position} is not an identifier"
                                 " system or HD namespace id")
        return value

    def mrn_authority(self) -> frozenset[str]:
        """``mrn_assigning_authority`` as a set of names (empty: not configured)."""
        return frozenset(_names(self.mrn_assigning_authority))

    @field_validator("hl7v2_zones")
    @classmethod
    def _zones_are_known(cls, value: str) -> str:
        _zone_map(value)
        return value

    def hl7v2_zone(self, source: str) -> tzinfo | None:
        """The configured zone of HL7 v2 sender ``source``, else None."""
        return _zone_map(self.hl7v2_zones).get(source)

    # Ed25519 key that signs intake's hold notices (``patient.holds.v1``: the evaluator acts on
    # none it cannot verify) and re-identification events (``intake.reidentifications.v1``:
    # audit appends none it cannot verify); generated (0600) on first use when absent, its
    # public half exported beside it as ``*.pub.pem`` for the evaluator's EVALUATOR_INTAKE_KEYS
    # and audit's AUDIT_INTAKE_KEYS. Empty means ``var/intake-signing-key.pem``.
    signing_key_file: Path | None = None

    def signing_key_path(self) -> Path:
        return self.signing_key_file or DEFAULT_DATA_DIR / "intake-signing-key.pem"

    # The evaluator's public keys (PEM files, or folders of ``*.pub.pem``), comma-separated,
    # whose signatures on trial-screening records (``trials.screening.v1``) are accepted; a
    # record unsigned, signed by another key or altered after signing is refused (logged, not
    # applied). Empty means ``evaluator-signing-key.pub.pem`` beside intake's signing key
    # (where ``trialwatch run`` keeps it). Rotation as for AUDIT_DECISION_KEYS: list the new
    # key, switch the evaluator, then move the old one to ``retired_evaluator_keys``.
    evaluator_keys: str = ""
    retired_evaluator_keys: str = ""

    def evaluator_key_paths(self) -> tuple[Path, ...]:
        listed = _paths(self.evaluator_keys)
        return listed or (self.signing_key_path().with_name("evaluator-signing-key.pub.pem"),)

    def retired_evaluator_key_paths(self) -> tuple[Path, ...]:
        return _paths(self.retired_evaluator_keys)


def processing_id_set(text: str) -> frozenset[str]:
    """``P,T`` -> {"P", "T"}: HL7 v2 MSH-11 processing ids (v2.5.1 table 0103: P production,
    T training, D debugging; exact). Raises ValueError when none is listed or one is not in
    the table (``shared.clinical.hl7v2.PROCESSING_IDS``)."""
    from shared.clinical.hl7v2 import PROCESSING_IDS  # the table, where MSH-11 is read

    names = _names(text)
    if not names:
        raise ValueError("no HL7 v2 processing id listed (HL7 v2.5.1 table 0103: P, T, D)")
    for position, name in enumerate(names, start=1):
        if name not in PROCESSING_IDS:
            raise ValueError(f"HL7 v2 processing id {position} ({name!r}) is not one HL7 v2.5.1"
                             " table 0103 defines (P production, T training, D debugging)")
    return frozenset(names)


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _zone_map(text: str) -> dict[str, tzinfo]:
    """``a=Europe/Berlin,b=UTC`` -> zones; raises ValueError naming a malformed pair or zone."""
    zones: dict[str, tzinfo] = {}
    for pair in filter(None, (part.strip() for part in text.split(","))):
        source, separator, name = pair.partition("=")
        if not separator or not source.strip() or not name.strip():
            raise ValueError(f"{pair!r} is not source=Area/City")
        try:
            zones[source.strip()] = ZoneInfo(name.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{name.strip()!r} is not an IANA time zone") from None
    return zones


class EvaluatorSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EVALUATOR_")

    port: int = 8082
    database_url: str = _sqlite_url("evaluator")
    group_id: str = "trialwatch-evaluator"
    timer_poll_interval_s: float = 0.2
    # Webhook targets on loopback, private or link-local addresses are refused unless their host
    # name, address or network (CIDR) is listed here, comma-separated (services/evaluator/
    # webhook_targets.py).
    webhook_allowed_hosts: str = ""
    # Trial versions are data: the folder the evaluator adds to its registry at start and every
    # registry poll (<TRIAL_ID>/<version>.yaml). Empty: the examples shipped in shared/trials.
    trials_dir: Path | None = None
    registry_poll_interval_s: float = 2.0
    # The coordinator app (/ui/): dates are shown in the site's zone (IANA name); a signed-in
    # session lasts this long; re-identification goes through intake's audited endpoint here.
    site_timezone: str = "UTC"
    session_ttl_s: int = Field(default=8 * 3600, ge=60)
    intake_url: str = "http://127.0.0.1:8081"
    # Public base URL of this evaluator, used in links that leave it (CDS Hooks cards);
    # empty means the address the request came in on.
    public_url: str = ""
    # CDS Hooks: the EHRs allowed to call, as JSON {"<iss>": {"jwks": "<JWKS URL or file>",
    # "source_system": "<intake client name of that EHR>"}}
    # (services/evaluator/adapters/http/cds_hooks.py),
    # and the coordinator token the evaluator uses for intake's audited patient look-up.
    cds_issuers: str = "{}"
    cds_intake_token: str = ""
    # Ed25519 key that signs every decision and coordinator action the evaluator publishes
    # (audit refuses them unsigned); generated (0600) on first start when absent, its public
    # half exported beside it as ``*.pub.pem`` for audit's AUDIT_DECISION_KEYS. Empty means
    # ``var/evaluator-signing-key.pem``.
    signing_key_file: Path | None = None

    @field_validator("site_timezone")
    @classmethod
    def _site_zone_is_known(cls, value: str) -> str:
        """Refused at start-up, naming the setting, unless an IANA time zone name (zoneinfo):
        every page of the coordinator app shows times in it."""
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"EVALUATOR_SITE_TIMEZONE={value!r} is not an IANA time zone name"
                             " (e.g. Europe/Berlin, America/New_York or UTC)") from None
        return value

    def signing_key_path(self) -> Path:
        return self.signing_key_file or DEFAULT_DATA_DIR / "evaluator-signing-key.pem"

    # Fernet key that encrypts coordinators' webhook secrets in the database; generated (0600)
    # on first use when absent. Empty means ``evaluator-webhook-key`` beside the signing key.
    webhook_key_file: Path | None = None

    def webhook_key_path(self) -> Path:
        return self.webhook_key_file or self.signing_key_path().with_name("evaluator-webhook-key")

    # Intake's public keys (PEM files, or folders of ``*.pub.pem``), comma-separated, whose
    # signatures on hold notices (``patient.holds.v1``) are accepted; a notice unsigned, signed
    # by another key or with a bad signature is dead-lettered and holds nobody. Empty means
    # ``intake-signing-key.pub.pem`` beside the evaluator's signing key. Rotation as for
    # AUDIT_DECISION_KEYS: list the new key, switch intake, move the old one to
    # ``retired_intake_keys`` (a notice signed by a retired key is refused).
    intake_keys: str = ""
    retired_intake_keys: str = ""

    def intake_key_paths(self) -> tuple[Path, ...]:
        listed = _paths(self.intake_keys)
        return listed or (self.signing_key_path().with_name("intake-signing-key.pub.pem"),)

    def retired_intake_key_paths(self) -> tuple[Path, ...]:
        return _paths(self.retired_intake_keys)

    # What an operator tunes for memory and latency (docs/evaluator.md, "Operations"). The
    # patients whose facts and parsed decisions are kept between batches (~130 KiB each with 3
    # trials; 0 keeps none) and whose criteria-engine state is kept for incremental evaluation
    # (~200 KiB each with 3 trials; 0 keeps none): benchmarks/bench_screening.py.
    patient_cache_size: int = Field(default=2_000, ge=0)
    engine_state_cache_size: int = Field(default=1_000, ge=0)
    # Patient events applied per transaction and offset commit, and how long a fetch waits for
    # them (Tansu answers only when the wait expires: it bounds event-to-decision latency).
    batch_size: int = Field(default=200, ge=1)
    fetch_max_wait_ms: int = Field(default=20, ge=0)
    # Alerts held for each live coordinator page (server-sent events) before the oldest drop.
    alert_queue_size: int = Field(default=1_000, ge=1)


class AuditSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUDIT_")

    port: int = 8083
    database_url: str = _sqlite_url("audit")
    group_id: str = "trialwatch-audit"
    checkpoint_dir: Path = DEFAULT_DATA_DIR / "checkpoints"
    checkpoint_interval_s: float = 60.0
    # Ed25519 key that signs checkpoints; generated (0600) on first start when absent. Empty
    # means ``<checkpoint_dir>/../audit-signing-key.pem``; the public key is exported beside it
    # as ``*.pub.pem``. ``verify_key_file`` pins the public key verification trusts.
    signing_key_file: Path | None = None
    verify_key_file: Path | None = None
    # The evaluator public keys (PEM files, or folders of ``*.pub.pem``), comma-separated, whose
    # signatures on decisions and coordinator actions are accepted; anything unsigned, signed
    # by another key or with a bad signature is dead-lettered. Empty means the evaluator's
    # default ``<checkpoint_dir>/../evaluator-signing-key.pub.pem``. Rotation: list the new key
    # beside the old one, switch the evaluator, then move the old one to
    # ``retired_decision_keys`` (still verifies what it signed, signs nothing new).
    decision_keys: str = ""
    retired_decision_keys: str = ""
    # Intake's public keys (PEM files, or folders of ``*.pub.pem``), comma-separated, whose
    # signatures on re-identification events (``intake.reidentifications.v1``) are accepted;
    # one unsigned, signed by another key or altered after signing is dead-lettered and not
    # appended to the access log. Empty means ``<checkpoint_dir>/../intake-signing-key.pub.pem``
    # (where ``trialwatch run`` keeps it). Rotation as for ``decision_keys``.
    intake_keys: str = ""
    retired_intake_keys: str = ""
    # PostgreSQL: the role the migration creates with SELECT/INSERT only on the audit tables.
    # Point AUDIT_DATABASE_URL at it for the service; migrate with the owner's URL.
    app_role: str = "trialwatch_audit_app"
    app_role_login: bool = False
    app_role_password: str | None = None
    # Back-off while the database is unreachable: consumption pauses, the message is redelivered.
    retry_initial_s: float = Field(default=0.2, gt=0)
    retry_max_s: float = Field(default=10.0, gt=0)
    max_page_size: int = Field(default=1000, ge=1)
    # Decisions are stored in batches of up to this many, one transaction per batch.
    batch_max_records: int = Field(default=500, ge=1)
    batch_timeout_ms: int = Field(default=50, ge=1)

    def signing_key_path(self) -> Path:
        return self.signing_key_file or self.checkpoint_dir.parent / "audit-signing-key.pem"

    def decision_key_paths(self) -> tuple[Path, ...]:
        listed = _paths(self.decision_keys)
        return listed or (self.checkpoint_dir.parent / "evaluator-signing-key.pub.pem",)

    def retired_decision_key_paths(self) -> tuple[Path, ...]:
        return _paths(self.retired_decision_keys)

    def intake_key_paths(self) -> tuple[Path, ...]:
        listed = _paths(self.intake_keys)
        return listed or (self.checkpoint_dir.parent / "intake-signing-key.pub.pem",)

    def retired_intake_key_paths(self) -> tuple[Path, ...]:
        return _paths(self.retired_intake_keys)

    def verify_key_path(self) -> Path:
        key = self.signing_key_path()
        return self.verify_key_file or key.with_name(key.stem + ".pub.pem")


def _paths(text: str) -> tuple[Path, ...]:
    return tuple(Path(part.strip()) for part in text.split(",") if part.strip())
