"""Outbound wire models refuse what the spec forbids, so no invalid card can reach an EHR."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from cds_service.hooks.models import Card

SOURCE = {"label": "Treatment of Perivascular Epithelioid Cell Tumor (PEComa)"}
CREATE = {"type": "create", "description": "Order sirolimus",
          "resource": {"resourceType": "MedicationRequest"}}


def _card(**fields: Any) -> dict[str, Any]:
    return {"summary": "PEComa with lung metastases: mTOR inhibitor is first-line",
            "indicator": "warning", "source": SOURCE, **fields}


def test_a_valid_card_dumps_camel_case_without_empty_members() -> None:
    card = Card.model_validate(_card(
        uuid="c1", selectionBehavior="at-most-one",
        suggestions=[{"label": "Order sirolimus", "uuid": "s1", "isRecommended": True,
                      "actions": [CREATE]}],
        overrideReasons=[{"system": "https://x", "code": "c", "display": "Contraindicated"}],
    ))
    dumped = card.to_json_dict()
    assert dumped["selectionBehavior"] == "at-most-one"
    assert dumped["suggestions"][0]["isRecommended"] is True
    assert "detail" not in dumped and "links" not in dumped


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"summary": "x" * 140}, "summary"),  # C5: fewer than 140 characters
        ({"indicator": "success"}, "indicator"),  # C7: info | warning | critical
        ({"suggestions": [{"label": "Order", "actions": [CREATE]}]}, "selectionBehavior"),  # C9
        ({"selectionBehavior": "all", "suggestions": [{"label": "Order"}]}, "selectionBehavior"),
        ({"overrideReasons": [{"system": "https://x", "code": "c"}]}, "display"),  # C11
        ({"links": []}, "omitted"),  # J2
        ({"detail": ""}, "omitted"),  # J2
        ({"extension": {}}, "omitted"),  # J2
        ({"links": [{"label": "App", "url": "https://a", "type": "absolute",
                     "appContext": "x"}]}, "smart"),  # cds-resp-3
        ({"selectionBehavior": "any", "suggestions": [{"label": "Order", "actions": [
            {"type": "create", "description": "Order"}]}]}, "resource"),  # C13b
        ({"selectionBehavior": "any", "suggestions": [{"label": "Order", "actions": [
            {"type": "delete", "description": "Remove"}]}]}, "resourceId"),  # C13c
        ({"source": {"label": "S", "extra": 1}}, "extra"),
    ],
)
def test_spec_violations_are_refused(fields: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Card.model_validate(_card(**fields))
