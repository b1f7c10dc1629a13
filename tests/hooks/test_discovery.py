"""Discovery (cds-hooks.md D1-D11, P1-P6): the three services of the contract."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

# P3: a token is a context field or one of the four user tokens, nothing else (no FHIRPath).
_ALLOWED_TOKEN = re.compile(
    r"^(context\.[A-Za-z]+|userPractitionerId|userPractitionerRoleId|userPatientId|userRelatedPersonId)$"
)
_FORBIDDEN_CONTEXT_TOKENS = {"context.draftOrders", "context.selections"}  # "Prefetch Token: No"


def test_discovery_lists_the_contract_services_sorted_by_id(client: FlaskClient) -> None:
    response = client.get("/cds-services")

    assert response.status_code == 200
    assert response.content_type == "application/json"
    services = response.get_json()["services"]
    assert [(s["id"], s["hook"]) for s in services] == [
        ("sts-order-select", "order-select"),
        ("sts-order-sign", "order-sign"),
        ("sts-patient-view", "patient-view"),
    ]


def test_every_service_has_required_and_recommended_fields(client: FlaskClient) -> None:
    for service in client.get("/cds-services").get_json()["services"]:
        assert service["description"].strip()  # D7 REQUIRED
        assert service["title"].strip()  # D6 RECOMMENDED
        assert service["usageRequirements"].strip()
        assert set(service) <= {"hook", "title", "description", "id", "prefetch",
                                "usageRequirements", "extension"}


def test_prefetch_templates_use_only_cds_hooks_2_tokens(client: FlaskClient) -> None:
    for service in client.get("/cds-services").get_json()["services"]:
        for template in service["prefetch"].values():
            for token in re.findall(r"\{\{(.*?)\}\}", template):
                assert _ALLOWED_TOKEN.match(token), token
                assert token not in _FORBIDDEN_CONTEXT_TOKENS
            # P6 restricted subset: no chained params, no _include, no FHIRPath.
            assert "_include" not in template and "(" not in template


def test_prefetch_covers_the_data_the_engine_reads(client: FlaskClient) -> None:
    needed = {"Patient", "Condition", "Observation", "Procedure", "MedicationRequest",
              "MedicationStatement", "ServiceRequest"}
    for service in client.get("/cds-services").get_json()["services"]:
        types = {re.split(r"[/?]", t)[0] for t in service["prefetch"].values()}
        assert types == needed, service["id"]


def test_discovery_is_idempotent(client: FlaskClient) -> None:
    assert client.get("/cds-services").data == client.get("/cds-services").data


def test_no_empty_members_in_discovery(client: FlaskClient) -> None:
    # J2: no null or empty strings, arrays or objects.
    def walk(value: object) -> None:
        assert value not in (None, "", [], {}), "empty member in discovery"
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(client.get("/cds-services").get_json())
