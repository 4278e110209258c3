"""Install a site's medication crosswalk (``CLINICAL_MEDICATION_CODES_FILE``) into the normaliser.

As ``shared/infra/local_codes.py``: the normaliser stays free of I/O; the composition roots
(intake, its bulk import, ``trialwatch evaluate``, ``trialwatch dictionary``) read the file
here, once, before any input is normalised. A wrong row stops the start-up with its line and
the reason, rather than reading drugs wrongly later.
"""

from __future__ import annotations

from shared.clinical.medication_codes import parse_medication_crosswalk, use_medication_crosswalk
from shared.infra.local_codes import LocalCodesFileError
from shared.settings import ClinicalSettings


class MedicationCodesFileError(LocalCodesFileError):
    """The site's medication crosswalk cannot be read or has a wrong row (line and reason in
    the message); a ``LocalCodesFileError``, so each root reports it as it reports that one."""


def install_site_medication_codes(settings: ClinicalSettings | None = None) -> None:
    """Install the site's medication crosswalk; none when the setting is empty.

    Raises ``MedicationCodesFileError`` (file unreadable or a row wrong), naming file and line.
    """
    path = (settings or ClinicalSettings()).medication_codes_file
    if path is None:
        use_medication_crosswalk({})
        return
    try:
        use_medication_crosswalk(parse_medication_crosswalk(path.read_text("utf-8"), str(path)))
    except OSError as error:
        raise MedicationCodesFileError(
            f"medication crosswalk file {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise MedicationCodesFileError(f"medication crosswalk file {error}") from None
