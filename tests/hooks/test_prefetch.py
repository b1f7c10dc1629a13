"""Pure prefetch helpers: template rendering (P2-P5), missing keys (F2-F4), fixture prefetch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cds_service.hooks.errors import Forbidden
from cds_service.hooks.models import OrderSelectRequest
from cds_service.hooks.models import PatientViewRequest
from cds_service.hooks.prefetch import TemplateError
from cds_service.hooks.prefetch import check_fhir_server
from cds_service.hooks.prefetch import missing_keys
from cds_service.hooks.prefetch import prefetch_from_bundle
from cds_service.hooks.prefetch import render_template
from cds_service.hooks.services import PREFETCH
from cds_service.settings import Settings
from tests.common import FIXTURES_DIR
from tests.common import SPEC_EXAMPLES_DIR
from tests.common import load_json
from tests.common import scenario_request

SCENARIO = "no-tumour-hypertension"


def _patient_view(**context: str) -> PatientViewRequest:
    """The scenario's patient-view call, with some context fields replaced."""
    payload = scenario_request(SCENARIO, "patient-view.json", with_prefetch=False)
    payload["context"].update(context)
    return PatientViewRequest.model_validate(payload)


def _spec_templates() -> dict[str, str]:
    templates: dict[str, str] = load_json(SPEC_EXAMPLES_DIR / "prefetch-templates-example.json")[
        "prefetch"
    ]
    return templates


def _bundle() -> dict[str, Any]:
    bundle: dict[str, Any] = load_json(FIXTURES_DIR / SCENARIO / "bundle.json")
    return bundle


# --- render_template (P2-P5) --------------------------------------------------------------------


def test_context_tokens_are_filled_from_the_hook_context() -> None:
    """P2/P5: ``{{context.name}}`` is replaced by the root-level context field."""
    request = _patient_view()

    assert render_template("Patient/{{context.patientId}}", request) == "Patient/pt-htn-01"
    assert (
        render_template("Encounter/{{context.encounterId}}", request)
        == "Encounter/enc-20261122-01"
    )
    assert render_template("{{context.userId}}", request) == "Practitioner/pr-0042"


def test_the_spec_example_templates_render_for_the_spec_example_context() -> None:
    """P1-P5 on the spec's own examples (prefetch-templates-example, context-patient-view)."""
    payload = scenario_request(SCENARIO, "patient-view.json", with_prefetch=False)
    payload["context"] = load_json(SPEC_EXAMPLES_DIR / "context-patient-view.json")["context"]
    request = PatientViewRequest.model_validate(payload)

    rendered = {key: render_template(t, request) for key, t in _spec_templates().items()}

    assert rendered == {
        "patient": "Patient/1288992",
        "hemoglobin-a1c": "Observation?patient=1288992&code=4548-4&_count=1&sort:desc=date",
        "diabetes-type2": (
            "Condition?patient=1288992&code=44054006&category=problem-list-item&status=active"
        ),
        "user": "PractitionerRole?_id=123",
    }


def test_patient_id_given_as_a_reference_is_normalised_to_the_bare_id() -> None:
    """contract.md: ``patientId`` may be ``Patient/<id>``; templates get the bare id."""
    request = _patient_view(patientId="Patient/123")

    assert render_template("Patient/{{context.patientId}}", request) == "Patient/123"
    assert render_template(PREFETCH["conditions"], request) == "Condition?patient=123"


def test_user_practitioner_token_is_the_id_part_of_user_id() -> None:
    """P3: ``{{userPractitionerId}}`` when ``userId`` is ``Practitioner/abc``."""
    request = _patient_view(userId="Practitioner/abc")

    assert render_template("Practitioner/{{userPractitionerId}}", request) == "Practitioner/abc"


def test_user_practitioner_role_token_matches_the_spec_search_example() -> None:
    """P3 on the spec's prefetch-template-user-search example."""
    example = load_json(SPEC_EXAMPLES_DIR / "prefetch-template-user-search.json")
    template = example["prefetch"]["user"]
    request = _patient_view(userId="PractitionerRole/123")

    assert render_template(template, request) == (
        "PractitionerRole?_id=123&_include=PractitionerRole:practitioner"
    )


@pytest.mark.parametrize(
    ("user_id", "token"),
    [
        ("Practitioner/abc", "userPatientId"),
        ("Practitioner/abc", "userPractitionerRoleId"),
        ("PractitionerRole/123", "userPractitionerId"),
        ("Patient/pt-htn-01", "userRelatedPersonId"),
    ],
)
def test_a_user_token_of_another_resource_type_cannot_be_filled(user_id: str, token: str) -> None:
    """P3: a user token only exists when ``userId`` is of that resource type."""
    request = _patient_view(userId=user_id)

    with pytest.raises(TemplateError, match=token):
        render_template(f"Patient/{{{{{token}}}}}", request)


@pytest.mark.parametrize(
    "template",
    [
        "Patient/{{context.nosuchField}}",  # P3: not a context field of the hook
        "Medication/{{context.medication.id}}",  # P4: the spec's own invalid example
        "Observation?date=ge{{today()}}",  # P7 is 3.0 FHIRPath, not a 2.0 token
        "Patient/{{patientId}}",  # P5: context tokens are qualified with ``context.``
    ],
)
def test_a_token_that_names_no_context_field_is_an_error(template: str) -> None:
    """P3-P5: only ``context.<root primitive>`` and the four user tokens are tokens."""
    with pytest.raises(TemplateError):
        render_template(template, _patient_view())


def test_a_non_primitive_context_field_is_not_a_token() -> None:
    """P4: ``draftOrders`` is an object ("Prefetch Token: No" on order-select)."""
    payload = scenario_request(SCENARIO, "order-select.json", with_prefetch=False)
    request = OrderSelectRequest.model_validate(payload)

    with pytest.raises(TemplateError, match="context.draftOrders"):
        render_template("Bundle?x={{context.draftOrders}}", request)
    with pytest.raises(TemplateError, match="context.selections"):
        render_template("MedicationRequest?_id={{context.selections}}", request)


def test_an_absent_optional_context_field_is_an_error_not_an_empty_string() -> None:
    """P3: rendering ``Encounter/`` would silently query the wrong thing."""
    payload = scenario_request(SCENARIO, "patient-view.json", with_prefetch=False)
    del payload["context"]["encounterId"]
    request = PatientViewRequest.model_validate(payload)

    with pytest.raises(TemplateError, match="encounterId"):
        render_template("Encounter/{{context.encounterId}}", request)


# --- missing_keys (F2-F4) -----------------------------------------------------------------------


def test_absent_keys_are_missing_in_template_order() -> None:
    """F2: a key the client did not send is one it chose not to, or could not, satisfy."""
    prefetch = prefetch_from_bundle(PREFETCH, _bundle())
    del prefetch["observations"]
    del prefetch["patient"]

    assert missing_keys(PREFETCH, prefetch) == ["patient", "observations"]


def test_no_prefetch_at_all_means_every_key_is_missing() -> None:
    """F1/F2: the client may satisfy none of the templates."""
    assert missing_keys(PREFETCH, None) == list(PREFETCH)
    assert missing_keys(PREFETCH, {}) == list(PREFETCH)


def test_null_is_not_missing() -> None:
    """F3. From the spec (S2 §Prefetch Template):

    "If the CDS Client has no data to populate a template prefetch key, the prefetch template key
    MUST have a value of null. Note that the null result is used rather than a bundle with zero
    entries to account for the possibility that the prefetch url is a single-resource request."

    So a key holding ``null`` is satisfied (known-empty, contract.md "Partial data policy").
    """
    prefetch: dict[str, Any] = {key: None for key in PREFETCH}

    assert missing_keys(PREFETCH, prefetch) == []


def test_an_empty_searchset_bundle_is_not_missing() -> None:
    """F3: "A search with no hits comes back as a Bundle with zero entries"."""
    prefetch = prefetch_from_bundle(PREFETCH, _bundle())
    assert prefetch["serviceRequests"]["entry"] == []  # the scenario has none

    assert missing_keys(PREFETCH, prefetch) == []


def test_an_operation_outcome_in_place_of_a_key_is_missing() -> None:
    """F4: the service SHOULD check prefetch for OperationOutcomes; contract: then fetch it."""
    prefetch = prefetch_from_bundle(PREFETCH, _bundle())
    prefetch["conditions"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout"}],
    }

    assert missing_keys(PREFETCH, prefetch) == ["conditions"]


def test_a_bundle_of_only_operation_outcomes_is_missing() -> None:
    """F4: "an OperationOutcome (or a Bundle containing them) describing a prefetch error"."""
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "exception"}],
    }
    prefetch = prefetch_from_bundle(PREFETCH, _bundle())
    prefetch["procedures"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": outcome}, {"resource": outcome}],
    }

    assert missing_keys(PREFETCH, prefetch) == ["procedures"]


def test_a_search_warning_next_to_matches_does_not_make_a_key_missing() -> None:
    """F4: an ``outcome`` entry beside real matches is a warning about the search, not an error."""
    prefetch = prefetch_from_bundle(PREFETCH, _bundle())
    prefetch["conditions"]["entry"].append(
        {
            "resource": {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "warning", "code": "informational"}],
            },
            "search": {"mode": "outcome"},
        }
    )

    assert missing_keys(PREFETCH, prefetch) == []


def test_keys_that_are_not_ours_are_ignored() -> None:
    """F6: other services' prefetch neither satisfies nor breaks ours."""
    prefetch = prefetch_from_bundle(PREFETCH, _bundle())
    prefetch["patientToGreet"] = None

    assert missing_keys(PREFETCH, prefetch) == []


# --- prefetch_from_bundle -----------------------------------------------------------------------


def test_prefetch_from_bundle_has_one_value_per_template_key() -> None:
    """Reads become the resource, searches searchset Bundles of that type only (F3, R6)."""
    bundle = _bundle()

    prefetch = prefetch_from_bundle(PREFETCH, bundle)

    assert list(prefetch) == list(PREFETCH)
    assert prefetch["patient"]["resourceType"] == "Patient"
    assert prefetch["patient"]["id"] == "pt-htn-01"
    for key, template in PREFETCH.items():
        if "?" not in template:
            continue
        value = prefetch[key]
        resource_type = template.split("?")[0]
        assert value["resourceType"] == "Bundle"
        assert value["type"] == "searchset"
        assert value["total"] == len(value["entry"])
        assert all(e["resource"]["resourceType"] == resource_type for e in value["entry"])
        assert all(e["search"] == {"mode": "match"} for e in value["entry"])
    assert len(prefetch["conditions"]["entry"]) == 1
    assert prefetch["medicationStatements"]["entry"] == []  # zero hits: empty Bundle, not null


def test_a_read_key_without_a_resource_becomes_null() -> None:
    """F3: a read the client has no data for is ``null``, not an empty Bundle."""
    bundle = _bundle()
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Patient"]

    prefetch = prefetch_from_bundle(PREFETCH, bundle)

    assert prefetch["patient"] is None
    assert missing_keys(PREFETCH, prefetch) == []


# --- check_fhir_server (SSRF guard) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("allowlist", "url"),
    [
        ("", "https://anything.example/fhir"),
        ("https://fhir.example.org/", "https://fhir.example.org/r4"),
        ("https://a.example/, https://fhir.example.org/", "https://fhir.example.org/r4"),
        ("https://fhir.example.org/", None),
        ("https://fhir.example.org", "https://fhir.example.org"),
        ("https://fhir.example.org", "https://fhir.example.org/r4"),
        ("https://fhir.example.org/r4", "https://fhir.example.org/r4/"),
    ],
)
def test_allowed_fhir_servers_pass(
    make_settings: Callable[..., Settings], allowlist: str, url: str | None
) -> None:
    """contract.md Settings: ``CDS_FHIR_SERVER_ALLOWLIST`` empty = any; else URL prefixes."""
    check_fhir_server(url, make_settings(fhir_server_allowlist=allowlist))


@pytest.mark.parametrize(
    ("allowlist", "url"),
    [
        ("https://fhir.example.org/", "https://evil.example/fhir"),
        ("https://fhir.example.org/", "http://fhir.example.org/r4"),
        # A prefix ends at a URL boundary, or another host slips through (SSRF):
        ("https://fhir.example.org", "https://fhir.example.org.evil.example/r4"),
        ("https://fhir.example.org", "https://fhir.example.org@evil.example/r4"),
        ("https://fhir.example.org", "https://fhir.example.org:8443/r4"),
        ("https://fhir.example.org/r4", "https://fhir.example.org/r4-admin"),
    ],
)
def test_a_fhir_server_outside_the_allowlist_is_forbidden(
    make_settings: Callable[..., Settings], allowlist: str, url: str
) -> None:
    """contract.md Errors: ``fhirServer`` not allowed is 400 ``forbidden`` at ``fhirServer``."""
    settings = make_settings(fhir_server_allowlist=allowlist)

    with pytest.raises(Forbidden) as caught:
        check_fhir_server(url, settings)

    assert caught.value.status == 400
    assert [(i.code, i.expression) for i in caught.value.issues] == [("forbidden", "fhirServer")]
