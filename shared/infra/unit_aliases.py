"""Install a site's unit alias file (``CLINICAL_UNIT_ALIASES_FILE``) into the normaliser.

The normaliser stays free of I/O: the composition roots (intake, ``trialwatch evaluate``) read
the file here, once, before any input is normalised. A wrong file stops the start-up with the
entry named, rather than misreading results later.
"""

from __future__ import annotations

import yaml

from shared.clinical.units import parse_alias_table, use_site_aliases
from shared.settings import ClinicalSettings


class UnitAliasFileError(ValueError):
    """The site's unit alias file cannot be read or has a wrong entry (named in the message)."""


def install_site_unit_aliases(settings: ClinicalSettings | None = None) -> None:
    """Add the site's aliases to the shipped table; none when the setting is empty.

    Raises ``UnitAliasFileError`` (file unreadable or an entry wrong), naming file and entry.
    """
    path = (settings or ClinicalSettings()).unit_aliases_file
    if path is None:
        use_site_aliases({})
        return
    try:
        use_site_aliases(parse_alias_table(path.read_text("utf-8"), str(path)))
    except OSError as error:
        raise UnitAliasFileError(f"unit alias file {path}: {error.strerror or error}") from None
    except (ValueError, yaml.YAMLError) as error:
        raise UnitAliasFileError(f"unit alias file {error}") from None
