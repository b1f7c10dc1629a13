"""The catalogue's page text: every recommendation says when it fires and what it recommends."""

from __future__ import annotations

import tomllib

import pytest
from pydantic import ValidationError

from cds_service.guidelines.catalogue import CATALOGUE_FILE
from cds_service.guidelines.catalogue import Catalogue
from cds_service.guidelines.catalogue import load_catalogue


def test_every_recommendation_has_page_text() -> None:
    for spec in load_catalogue():
        assert spec.fires_when and spec.fires_when == spec.fires_when.strip()
        assert spec.recommends and spec.recommends == spec.recommends.strip()


@pytest.mark.parametrize(("field", "value"), [("fires_when", None), ("recommends", None),
                                              ("fires_when", "  \n "), ("recommends", "")])
def test_missing_or_blank_page_text_is_refused(field: str, value: str | None) -> None:
    data = tomllib.loads(CATALOGUE_FILE.read_text(encoding="utf-8"))
    if value is None:
        del data["recommendations"][0][field]
    else:
        data["recommendations"][0][field] = value
    with pytest.raises(ValidationError, match=field):
        Catalogue.model_validate(data)
