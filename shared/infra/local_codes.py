"""Install a site's code crosswalk (``CLINICAL_LOCAL_CODES_FILE``) into the normaliser.

As ``shared/infra/unit_aliases.py``: the normaliser stays free of I/O; the composition roots
(intake, its bulk import, ``trialwatch evaluate``, ``trialwatch dictionary``) read the file
here, once, before any input is normalised. A wrong file stops the start-up with the entry
named, rather than reading local codes wrongly later.
"""

from __future__ import annotations

import yaml

from shared.clinical.local_codes import parse_crosswalk, use_site_crosswalk
from shared.settings import ClinicalSettings


class LocalCodesFileError(ValueError):
    """The site's code crosswalk cannot be read or has a wrong entry (named in the message)."""


def install_site_local_codes(settings: ClinicalSettings | None = None) -> None:
    """Install the site's crosswalk; none when the setting is empty.

    Raises ``LocalCodesFileError`` (file unreadable or an entry wrong), naming file and entry.
    """
    path = (settings or ClinicalSettings()).local_codes_file
    if path is None:
        use_site_crosswalk({})
        return
    try:
        use_site_crosswalk(parse_crosswalk(path.read_text("utf-8"), str(path)))
    except OSError as error:
        raise LocalCodesFileError(
            f"code crosswalk file {path}: {error.strerror or error}") from None
    except (ValueError, yaml.YAMLError) as error:
        raise LocalCodesFileError(f"code crosswalk file {error}") from None
