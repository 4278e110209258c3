from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.clinical.units import convert, use_site_aliases
from shared.infra.unit_aliases import UnitAliasFileError, install_site_unit_aliases
from shared.settings import ClinicalSettings


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    yield
    use_site_aliases({})


def test_the_site_alias_file_named_by_the_setting_is_added_to_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "aliases.yaml"
    site.write_text("aliases:\n  number_concentration:\n    TH/uL: 10*3/uL\n", "utf-8")
    monkeypatch.setenv("CLINICAL_UNIT_ALIASES_FILE", str(site))
    install_site_unit_aliases()
    converted = convert("777-3", 250.0, "TH/uL")
    assert converted.alias is not None
    assert converted.alias.site


def test_a_missing_or_wrong_site_alias_file_stops_the_start_up_naming_it(tmp_path: Path) -> None:
    with pytest.raises(UnitAliasFileError, match=r"missing\.yaml"):
        install_site_unit_aliases(ClinicalSettings(unit_aliases_file=tmp_path / "missing.yaml"))
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("aliases:\n  mass:\n    TH/uL: 10*3/uL\n", "utf-8")
    with pytest.raises(UnitAliasFileError, match=r"aliases\.mass\.TH/uL"):
        install_site_unit_aliases(ClinicalSettings(unit_aliases_file=wrong))
