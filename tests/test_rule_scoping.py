"""The revised scoping of the catalogue's rules (issue 13), swept through the whole path.

Each test builds a realistic FHIR record, sends it as an EHR would (prefetch filled) and reads the
cards: recommendation ids, indicators, suggestions and the facts the card names
(recommendations.md rows and conventions marked revised; terminology.md §5 for the splints).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds_service.app import create_app
from cds_service.fhir.parse import resource_problems
from cds_service.settings import Settings
from cds_service.state import service_state
from tests import fhir_records as fr

TODAY = dt.date(2026, 11, 22)
SERVICES = {"patient-view": "sts-patient-view", "order-select": "sts-order-select",
            "order-sign": "sts-order-sign"}
STS = "Condition/rs-sts"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    root: Path = tmp_path_factory.mktemp("scoping")
    built = create_app(Settings(database_url=f"sqlite:///{root / 'db.sqlite3'}", today=TODAY))
    yield built
    service_state(built).close()


def cards(app: Flask, hook: str, *resources: fr.JsonObject,
          drafts: tuple[fr.JsonObject, ...] = ()) -> list[dict[str, Any]]:
    """The cards the service answers for this record (each resource checked as valid R4)."""
    for resource in (*resources, *drafts):
        assert resource_problems(resource) == [], resource
    request = fr.hook_request(hook, fr.bundle(*resources), drafts)
    response = app.test_client().post(f"/cds-services/{SERVICES[hook]}", json=request)
    assert response.status_code == 200, response.get_json()
    return list(response.get_json()["cards"])


def of(found: list[dict[str, Any]], rec_id: str) -> list[dict[str, Any]]:
    return [c for c in found if c["source"]["topic"]["code"] == rec_id]


def ids(found: list[dict[str, Any]]) -> set[str]:
    return {c["source"]["topic"]["code"] for c in found}


def ago(days: int) -> dt.date:
    return TODAY - dt.timedelta(days=days)


# --- surveillance bands (conventions, revised) ----------------------------------------------------

def _interval(rows: list[tuple[int, int]], day: int) -> int:
    """The expected interval: the first band whose end day is after ``day`` (day 1,096 and day
    1,826 already belong to the later band)."""
    return next(interval for end, interval in rows if day < end)


HIGH_MRI = [(1_096, 183), (10**6, 365)]
HIGH_CHEST = [(1_096, 122), (1_826, 183), (10**6, 365)]
LOW_CHEST = [(1_826, 183), (10**6, 365)]
BAND_DAYS = [*range(1_090, 1_103), *range(1_820, 1_833)]


def _surveillance_record(day: int, *extra: fr.JsonObject, performed: str | None = None
                         ) -> tuple[fr.JsonObject, ...]:
    resected = ago(day)
    return (fr.thigh_sarcoma(onset=resected - dt.timedelta(days=40)),
            fr.wide_resection("rs-res", performed or resected.isoformat()),
            fr.margin("rs-margin", "R0", resection="Procedure/rs-res", effective=resected),
            fr.thigh_mri("rs-mri", ago(5)), fr.chest_ct("rs-ct", ago(5)), *extra)


def _table_row(card: dict[str, Any], study: str) -> str:
    return next(line for line in card["detail"].splitlines() if line.startswith(f"| {study}"))


@pytest.mark.parametrize("day", BAND_DAYS)
def test_surveillance_band_boundaries_high_grade(app: Flask, day: int) -> None:
    """High-grade sarcoma swept day by day around years 3 and 5: the interval in force today."""
    found = of(cards(app, "patient-view", *_surveillance_record(
        day, fr.grade("rs-grade", "FNCLCC grade 3"))), "sts-surveillance-plan")
    assert len(found) == 1 and found[0]["indicator"] == "info"
    mri_due = ago(5) + dt.timedelta(days=_interval(HIGH_MRI, day))
    chest_due = ago(5) + dt.timedelta(days=_interval(HIGH_CHEST, day))
    assert f"| {_interval(HIGH_MRI, day)} days |" in _table_row(found[0], "MRI of the primary")
    assert f"**{mri_due.isoformat()}**" in _table_row(found[0], "MRI of the primary")
    assert f"**{chest_due.isoformat()}**" in _table_row(found[0], "chest CT")


@pytest.mark.parametrize("day", BAND_DAYS)
def test_surveillance_band_boundaries_low_grade(app: Flask, day: int) -> None:
    """Grade 1 sarcoma: chest imaging every 183 days until day 1,826, yearly from that day."""
    found = of(cards(app, "patient-view", *_surveillance_record(
        day, fr.grade("rs-grade", "FNCLCC grade 1"))), "sts-surveillance-plan")
    chest_due = ago(5) + dt.timedelta(days=_interval(LOW_CHEST, day))
    assert f"**{chest_due.isoformat()}**" in _table_row(found[0], "chest CT")


@pytest.mark.parametrize("day", [1_095, 1_096, 1_825, 1_826])
@pytest.mark.parametrize("clock", ["T00:30:00+14:00", "T23:30:00-11:00"])
def test_surveillance_band_counts_the_resection_day_as_recorded(app: Flask, day: int,
                                                                 clock: str) -> None:
    """A resection recorded with a time and an offset far from UTC is still on its own date."""
    performed = ago(day).isoformat() + clock
    found = of(cards(app, "patient-view", *_surveillance_record(
        day, fr.grade("rs-grade", "FNCLCC grade 3"), performed=performed)),
        "sts-surveillance-plan")
    chest_due = ago(5) + dt.timedelta(days=_interval(HIGH_CHEST, day))
    assert f"**{chest_due.isoformat()}**" in _table_row(found[0], "chest CT")


def _pecoma(*, features: str, grade_text: str | None, status: str = "remission"
            ) -> tuple[fr.JsonObject, ...]:
    """A resected retroperitoneal PEComa 2 years ago, its four risk features as ``features``."""
    focus = "Condition/rs-pec"
    resected = ago(730)
    records: list[fr.JsonObject] = [
        fr.condition("rs-pec", fr.coded(fr.ICD10, "C48.0", "Malignant neoplasm of "
                                        "retroperitoneum", "Malignant PEComa of retroperitoneum"),
                     onset=resected - dt.timedelta(days=30), status=status,
                     morphology="8714/3"),
        fr.procedure("rs-pec-res", fr.text_only("En bloc resection of retroperitoneal tumour"),
                     resected, reason=focus),
        fr.margin("rs-pec-margin", "R0", resection="Procedure/rs-pec-res", focus=focus,
                  effective=resected),
        fr.size_cm("rs-pec-size", 3.5 if features == "absent" else 7.0, focus=focus,
                   effective=resected),
        fr.chest_ct("rs-ct", ago(5)),
    ]
    for oid, name in (("nec", "Tumour necrosis"), ("inf", "Infiltrative growth pattern"),
                      ("nuc", "High nuclear grade and high cellularity")):
        records.append(fr.observation(
            f"rs-pec-{oid}", fr.coded("http://hospital.example.org/lab-codes", f"PATH-{oid}",
                                      name),
            fr.text_only("Absent" if features == "absent" else "Present"), focus=focus,
            effective=resected))
    if grade_text:
        records.append(fr.grade("rs-pec-grade", grade_text, focus=focus))
    return tuple(records)


@pytest.mark.parametrize("grade_text", [None, "FNCLCC grade 3", "High grade"])
def test_pecoma_surveillance_risk_is_its_pecoma_risk(app: Flask, grade_text: str | None) -> None:
    """A low-risk PEComa (all four features absent) is followed up as low risk whatever grade is
    recorded: chest CT every 183 days, not 122 (grade does not apply to a pecoma)."""
    found = of(cards(app, "patient-view", *_pecoma(features="absent", grade_text=grade_text)),
               "sts-surveillance-plan")
    assert len(found) == 1
    assert "surveillance risk **low**" in " ".join(found[0]["detail"].split())
    assert f"**{(ago(5) + dt.timedelta(days=183)).isoformat()}**" in _table_row(found[0],
                                                                                  "chest CT")


def test_pecoma_high_risk_surveillance(app: Flask) -> None:
    """A high-risk PEComa (features present): chest CT every 122 days until year 3."""
    record = _pecoma(features="present", grade_text="FNCLCC grade 1")
    found = of(cards(app, "patient-view", *record), "sts-surveillance-plan")
    assert "surveillance risk **high**" in " ".join(found[0]["detail"].split())
    assert f"**{(ago(5) + dt.timedelta(days=122)).isoformat()}**" in _table_row(found[0],
                                                                                  "chest CT")


# --- sts-mri-local-staging tied to the events that call for it (revised) --------------------------

CT_THIGH = fr.text_only("CT left thigh without contrast")
US_THIGH = fr.text_only("Ultrasound of left thigh soft tissue mass")


def _excised(margin: str, *, excised_days_ago: int = 700,
             kind: fr.JsonObject | None = None) -> tuple[fr.JsonObject, ...]:
    excised = ago(excised_days_ago)
    resection = fr.procedure("rs-res", kind, excised, reason=STS) if kind \
        else fr.wide_resection("rs-res", excised)
    return (fr.thigh_sarcoma(onset=excised - dt.timedelta(days=30)), resection,
            fr.margin("rs-margin", margin, resection="Procedure/rs-res", effective=excised),
            fr.grade("rs-grade", "FNCLCC grade 3"), fr.chest_ct("rs-ct", ago(20)))


def test_mri_staging_silent_two_years_after_a_clean_resection(app: Flask) -> None:
    """No local-staging reminder after an R0 resection with no recurrence, even with no MRI at all
    on record (the surveillance card carries follow-up imaging); nor on a CT of the site."""
    record = _excised("R0")
    assert "sts-mri-local-staging" not in ids(cards(app, "patient-view", *record))
    draft = fr.draft_service_request("rs-draft-ct", CT_THIGH, body_site=fr.text_only("Left thigh"))
    assert "sts-mri-local-staging" not in ids(cards(app, "order-sign", *record, drafts=(draft,)))


@pytest.mark.parametrize(("margin", "kind"), [
    ("R1", None), ("R2", None),
    ("R0", fr.text_only("Unplanned excision of left thigh mass")),
    ("R0", fr.text_only("Excisional biopsy of left thigh mass")),
])
def test_mri_staging_after_an_inadequate_excision(app: Flask, margin: str,
                                                  kind: fr.JsonObject | None) -> None:
    """An R1/R2 or unplanned excision awaiting re-excision, with MRI only before it: PV info
    naming the excision and the earlier MRI; a CT or ultrasound of the site gets the order
    warning replacing it with an MRI. An MRI after the excision silences both."""
    before = fr.thigh_mri("rs-mri-pre", ago(60))
    record = (*_excised(margin, excised_days_ago=30, kind=kind), before)
    [card] = of(cards(app, "patient-view", *record), "sts-mri-local-staging")
    assert card["indicator"] == "info" and "since the inadequate excision" in card["summary"]
    assert "Procedure/rs-res" in card["detail"] and "Procedure/rs-mri-pre" in card["detail"]
    for draft_code in (CT_THIGH, US_THIGH):
        draft = fr.draft_service_request("rs-draft", draft_code,
                                         body_site=fr.text_only("Left thigh"))
        [order_card] = of(cards(app, "order-sign", *record, drafts=(draft,)),
                          "sts-mri-local-staging")
        assert order_card["indicator"] == "warning" and "re-excision" in order_card["summary"]
        actions = order_card["suggestions"][0]["actions"]
        assert [a["type"] for a in actions] == ["create", "delete"]  # create first (contract)
        assert actions[1]["resourceId"] == "ServiceRequest/rs-draft"
        assert actions[0]["resource"]["code"]["coding"][0]["code"] == "73718"
    after = fr.thigh_mri("rs-mri-post", ago(10))
    assert "sts-mri-local-staging" not in ids(cards(app, "patient-view", *record, after))
    draft = fr.draft_service_request("rs-draft", CT_THIGH, body_site=fr.text_only("Left thigh"))
    assert "sts-mri-local-staging" not in ids(cards(app, "order-sign", *record, after,
                                                    drafts=(draft,)))


def _recurrence(onset: dt.date) -> fr.JsonObject:
    return fr.condition("rs-recur", fr.text_only("Local recurrence of soft tissue sarcoma, left "
                                                 "thigh"), onset=onset, related=STS)


def test_mri_staging_for_a_local_recurrence_after_the_resection(app: Flask) -> None:
    """A local recurrence recorded after the latest (clean) resection, with the last MRI before
    it: PV info and the order warning; an MRI since the recurrence silences both."""
    record = (*_excised("R0"), fr.thigh_mri("rs-mri-fu", ago(200)), _recurrence(ago(30)))
    [card] = of(cards(app, "patient-view", *record), "sts-mri-local-staging")
    assert "local recurrence" in card["summary"] and "Condition/rs-recur" in card["detail"]
    draft = fr.draft_service_request("rs-draft", US_THIGH, body_site=fr.text_only("Left thigh"))
    [order_card] = of(cards(app, "order-select", *record, drafts=(draft,)),
                      "sts-mri-local-staging")
    assert "recurrence" in order_card["summary"] and order_card["indicator"] == "warning"
    staged = (*record, fr.thigh_mri("rs-mri-rec", ago(20)))
    assert "sts-mri-local-staging" not in ids(cards(app, "patient-view", *staged))
    assert "sts-mri-local-staging" not in ids(cards(app, "order-select", *staged,
                                                    drafts=(draft,)))


def test_mri_staging_before_excision_counts_any_mri_of_the_site(app: Flask) -> None:
    """Not yet excised: no MRI of the site fires; the staging MRI that preceded the biopsy-dated
    diagnosis counts (reading: the diagnosis event spans the time before excision)."""
    tumour = fr.thigh_sarcoma(onset=ago(20))
    assert len(of(cards(app, "patient-view", tumour), "sts-mri-local-staging")) == 1
    assert "sts-mri-local-staging" not in ids(cards(app, "patient-view", tumour,
                                                    fr.thigh_mri("rs-mri", ago(35))))


# --- work-up only before excision (revised) -------------------------------------------------------

FNA = fr.text_only("Fine needle aspiration of soft tissue mass, left thigh")


def test_core_biopsy_after_fna_only_before_excision(app: Flask) -> None:
    """A suspicious FNA after the resection (of a nodule in the scar) no longer asks for a core
    biopsy of the tumour: that card is for a tumour not yet excised."""
    fna = fr.procedure("rs-fna", FNA, ago(40), reason=STS,
                       outcome="Suspicious for sarcoma; non-diagnostic")
    excised = _excised("R0", excised_days_ago=400)
    assert "sts-core-biopsy-after-fna" not in ids(cards(app, "patient-view", *excised, fna))
    unexcised = fr.thigh_sarcoma(onset=ago(50), body_site=fr.text_only("Left thigh"))
    found = of(cards(app, "patient-view", unexcised, fna), "sts-core-biopsy-after-fna")
    assert [c["indicator"] for c in found] == ["warning"]


def test_histologic_confirmation_only_before_excision(app: Flask) -> None:
    """A provisional diagnosis whose lesion was already excised gets no histology card."""
    provisional = fr.condition("rs-sts", fr.text_only("Suspected soft tissue sarcoma of left "
                                                      "thigh"), onset=ago(90),
                               verification="provisional", body_site=fr.text_only("Left thigh"))
    assert len(of(cards(app, "patient-view", provisional), "sts-histologic-confirmation")) == 1
    excision = fr.procedure("rs-exc", fr.text_only("Excision of left thigh mass"), ago(30),
                            reason=STS)
    assert "sts-histologic-confirmation" not in ids(cards(app, "patient-view", provisional,
                                                          excision))


# --- "advanced" (conventions, revised); PEComa risk stratification and metastasectomy -------------

PEC = "Condition/rs-pec"
LUNG_MET = fr.coded(fr.ICD10, "C78.01", "Secondary malignant neoplasm of right lung")
LIVER_MET = fr.coded(fr.ICD10, "C78.7", "Secondary malignant neoplasm of liver and "
                     "intrahepatic bile duct")
NODAL_MET = fr.coded(fr.ICD10, "C77.2", "Secondary and unspecified malignant neoplasm of "
                     "intra-abdominal lymph nodes")
WEDGE = fr.coded(fr.CPT, "32505", "Thoracotomy with wedge resection, initial",
                 "Wedge resection of right lung metastasis")


def _metastasis(mid: str, code: fr.JsonObject, onset: dt.date, status: str = "active"
                ) -> fr.JsonObject:
    return fr.condition(mid, code, onset=onset, status=status, related=PEC)


def _metastatic_pecoma(*metastases: fr.JsonObject) -> tuple[fr.JsonObject, ...]:
    """The issue's chart: a high-risk PEComa resected two years ago, then metastases."""
    return (*_pecoma(features="present", grade_text=None, status="active"),
            fr.procedure("rs-pec-mri", fr.coded(fr.SNOMED, "113091000",
                                                "Magnetic resonance imaging", "MRI abdomen"),
                         ago(100), body_site=fr.coded(fr.SNOMED, "82849001",
                                                      "Retroperitoneal structure")),
            *metastases)


def test_pecoma_in_advanced_disease_gets_no_risk_stratification(app: Flask) -> None:
    """An active lung metastasis makes the PEComa advanced: no risk stratification (it decides
    nothing), no local-staging reminder; mTOR inhibitor first line instead."""
    found = cards(app, "patient-view", *_metastatic_pecoma(
        _metastasis("rs-met-lung", LUNG_MET, ago(400))))
    assert "pecoma-risk-stratification" not in ids(found)
    assert "sts-mri-local-staging" not in ids(found)
    assert "pecoma-mtor-first-line" in ids(found)
    gaps = of(found, "case-data-incomplete")
    assert all("pecoma-risk-stratification" not in c["detail"] for c in gaps)


@pytest.mark.parametrize("metastases", [
    pytest.param((_metastasis("rs-met-lung", LUNG_MET, ago(400), status="resolved"),),
                 id="resolved"),
    pytest.param((_metastasis("rs-met-lung", LUNG_MET, ago(400), status="remission"),),
                 id="remission"),
    pytest.param((_metastasis("rs-met-lung", LUNG_MET, ago(400), status="inactive"),),
                 id="inactive"),
    pytest.param((_metastasis("rs-met-lung", LUNG_MET, ago(400)),
                  fr.procedure("rs-wedge", WEDGE, ago(300), reason="Condition/rs-met-lung")),
                 id="resected-named"),
    pytest.param((_metastasis("rs-met-lung", LUNG_MET, ago(400)),
                  fr.procedure("rs-wedge", WEDGE, ago(300))), id="resected-unnamed"),
    pytest.param((_metastasis("rs-met-node", NODAL_MET, ago(400)),), id="node-positive"),
])
def test_metastasis_no_longer_makes_disease_advanced(app: Flask,
                                                     metastases: tuple[fr.JsonObject, ...]) -> None:
    """A resolved / inactive / in-remission or resected metastasis, or regional nodes: not
    advanced, so the stratification fires again and first-line mTOR advice does not."""
    found = cards(app, "patient-view", *_metastatic_pecoma(*metastases))
    assert "pecoma-risk-stratification" in ids(found)
    assert "pecoma-mtor-first-line" not in ids(found)


def test_a_later_active_metastasis_makes_it_advanced_again(app: Flask) -> None:
    """Resected lung metastasis, then a new (liver) one after the wedge resection: advanced."""
    found = cards(app, "patient-view", *_metastatic_pecoma(
        _metastasis("rs-met-lung", LUNG_MET, ago(400)),
        fr.procedure("rs-wedge", WEDGE, ago(300), reason="Condition/rs-met-lung"),
        _metastasis("rs-met-liver", LIVER_MET, ago(60))))
    assert "pecoma-risk-stratification" not in ids(found)
    assert "pecoma-mtor-first-line" in ids(found)


def test_metastasectomy_only_while_a_lung_metastasis_is_present(app: Flask) -> None:
    """Lung metastasis 18 months after the resection: metastasectomy advice while it is there;
    none once every lung metastasis was resected after its diagnosis, or resolved."""
    present = _metastasis("rs-met-lung", LUNG_MET, ago(180))
    found = of(cards(app, "patient-view", *_metastatic_pecoma(present)), "pecoma-metastasectomy")
    assert [c["indicator"] for c in found] == ["info"]
    wedge = fr.procedure("rs-wedge", WEDGE, ago(90), reason="Condition/rs-met-lung")
    assert "pecoma-metastasectomy" not in ids(cards(app, "patient-view",
                                                    *_metastatic_pecoma(present, wedge)))
    resolved = _metastasis("rs-met-lung", LUNG_MET, ago(180), status="resolved")
    assert "pecoma-metastasectomy" not in ids(cards(app, "patient-view",
                                                    *_metastatic_pecoma(resolved)))
    second = _metastasis("rs-met-lung-2", fr.coded(fr.ICD10, "C78.02", "Secondary malignant "
                                                   "neoplasm of left lung"), ago(30))
    still = of(cards(app, "patient-view", *_metastatic_pecoma(present, wedge, second)),
               "pecoma-metastasectomy")
    assert len(still) == 1 and "resected" in still[0]["detail"]


# --- fracture-no-internal-fixation (revised) ------------------------------------------------------

UPPER, LOWER, TRUNK = "upper", "lower", "trunk"
LONG_LEG, LONG_ARM, PLANNED = ("29505", True), ("29105", True), (None, False)

# Every ICD-10-CM M84.5- code (CMS tabular, via simple-icd-10-cm 1.5.0), 7th character A: the
# region its site characters name, and the splint of terminology.md §5 for that site.
M84_5 = {
    "M84.50XA": (None, PLANNED),
    **{f"M84.51{c}A": (UPPER, LONG_ARM) for c in "129"},
    **{f"M84.52{c}A": (UPPER, LONG_ARM) for c in "129"},
    **{f"M84.53{c}A": (UPPER, LONG_ARM) for c in "12349"},
    **{f"M84.54{c}A": (UPPER, LONG_ARM) for c in "129"},
    "M84.550A": (TRUNK, PLANNED),
    **{f"M84.55{c}A": (LOWER, PLANNED) for c in "1239"},
    **{f"M84.56{c}A": (LOWER, LONG_LEG) for c in "12349"},
    **{f"M84.57{c}A": (LOWER, LONG_LEG) for c in "123456"},
    "M84.58XA": (None, PLANNED),
}
UPPER_ARM_STS = fr.condition("rs-sts", fr.coded(
    fr.ICD10, "C49.12", "Malignant neoplasm of connective and soft tissue of left upper limb, "
    "including shoulder", "Soft tissue sarcoma of left upper arm"), onset=ago(60),
    morphology="8800/3", body_site=fr.text_only("Left upper arm"))
TUMOURS = {LOWER: fr.thigh_sarcoma(onset=ago(60)), UPPER: UPPER_ARM_STS}
NAILING = fr.draft_service_request("rs-imn", fr.text_only("Intramedullary nailing"),
                                   reason="Condition/rs-fx")


def _fracture(code: str, body_site: fr.JsonObject | None = None) -> fr.JsonObject:
    return fr.condition("rs-fx", fr.coded(fr.ICD10, code, "Pathological fracture in neoplastic "
                                          "disease"), onset=ago(3), body_site=body_site)


def _assert_splint(card: dict[str, Any], splint: tuple[str | None, bool]) -> None:
    code, recommended = splint
    [suggestion] = card["suggestions"]
    assert suggestion.get("isRecommended", False) is recommended
    actions = suggestion["actions"]
    assert [a["type"] for a in actions] == ["create", "delete"]  # create first (contract)
    assert actions[1]["resourceId"] == "ServiceRequest/rs-imn"
    created = actions[0]["resource"]["code"]
    assert [c["code"] for c in created.get("coding", [])] == ([code] if code else [])
    if code is None:
        assert created["text"].startswith("External immobilisation appropriate to the site")


@pytest.mark.parametrize("code", sorted(M84_5))
@pytest.mark.parametrize("primary", [LOWER, UPPER])
def test_fracture_site_from_every_m84_5_code(app: Flask, code: str, primary: str) -> None:
    """The fracture's site from its code: a card only for the primary at that site (or, with no
    site, the only primary), critical on order hooks, the splint of the site."""
    region, splint = M84_5[code]
    tumour = TUMOURS[primary]
    fires = region is None or region == primary
    pv = of(cards(app, "patient-view", tumour, _fracture(code)), "fracture-no-internal-fixation")
    assert [c["indicator"] for c in pv] == (["warning"] if fires else [])
    found = of(cards(app, "order-sign", tumour, _fracture(code), drafts=(NAILING,)),
               "fracture-no-internal-fixation")
    assert [c["indicator"] for c in found] == (["critical"] if fires else [])
    if fires:
        _assert_splint(found[0], splint)


BODY_SITES = [
    (fr.coded(fr.SNOMED, "71341001", "Bone structure of femur"), LOWER, PLANNED),
    (fr.coded(fr.SNOMED, "30021000", "Lower leg structure"), LOWER, LONG_LEG),
    (fr.coded(fr.SNOMED, "56459004", "Foot structure"), LOWER, LONG_LEG),
    (fr.coded(fr.SNOMED, "85562004", "Hand structure"), UPPER, LONG_ARM),
    (fr.coded(fr.SNOMED, "53120007", "Upper limb structure"), UPPER, LONG_ARM),
    (fr.coded(fr.SNOMED, "12921003", "Pelvic structure"), TRUNK, PLANNED),
    (fr.coded(fr.SNOMED, "61685007", "Lower limb structure"), LOWER, PLANNED),
    (fr.text_only("Left tibia"), LOWER, LONG_LEG),
    (fr.text_only("Left ankle"), LOWER, LONG_LEG),
    (fr.text_only("Left femur"), LOWER, PLANNED),
    (fr.text_only("Left hip"), LOWER, PLANNED),
    (fr.text_only("Right humerus"), UPPER, LONG_ARM),
    (fr.text_only("Left distal radius"), UPPER, LONG_ARM),
]


@pytest.mark.parametrize(("body_site", "region", "splint"), BODY_SITES,
                         ids=[b[0]["text"] for b in BODY_SITES])
@pytest.mark.parametrize("code", ["M84.50XA", "M84.552A", "M84.522A"])
@pytest.mark.parametrize("primary", [LOWER, UPPER])
def test_fracture_body_site_wins_over_the_code(app: Flask, body_site: fr.JsonObject, region: str,
                                               splint: tuple[str | None, bool], code: str,
                                               primary: str) -> None:
    """The fracture's bodySite, coded or text, decides its site over the code's characters."""
    record = (TUMOURS[primary], _fracture(code, body_site))
    found = of(cards(app, "order-select", *record, drafts=(NAILING,)),
               "fracture-no-internal-fixation")
    assert len(found) == (1 if region == primary else 0)
    if found:
        _assert_splint(found[0], splint)


BONE_MET = fr.condition("rs-met-bone", fr.coded(fr.ICD10, "C79.51", "Secondary malignant "
                                                "neoplasm of bone"), onset=ago(10),
                        body_site=fr.text_only("Left femur"), related="Condition/rs-sts")


def test_fracture_at_a_bone_metastasis_is_silent(app: Flask) -> None:
    """Femoral fracture at a bone metastasis of an upper-arm sarcoma: no card (fixation of
    metastatic bone disease is outside the source), on every hook, coded or unsited."""
    for fracture in (_fracture("M84.552A"), _fracture("M84.50XA")):
        record = (UPPER_ARM_STS, BONE_MET, fracture)
        assert "fracture-no-internal-fixation" not in ids(cards(app, "patient-view", *record))
        assert "fracture-no-internal-fixation" not in ids(
            cards(app, "order-sign", *record, drafts=(NAILING,)))


def test_fracture_through_a_primary_coded_as_bone_secondary_the_primary_wins(app: Flask) -> None:
    """Thigh sarcoma invading the femur, coded C79.51 too: the fracture is at the primary."""
    found = of(cards(app, "order-sign", fr.thigh_sarcoma(onset=ago(60)), BONE_MET,
                     _fracture("M84.552A"), drafts=(NAILING,)), "fracture-no-internal-fixation")
    assert len(found) == 1


def test_fracture_stated_through_a_metastasis_is_silent(app: Flask) -> None:
    """A fracture whose own record says it is through a metastasis is not at the primary."""
    fracture = fr.condition("rs-fx", fr.text_only("Pathological fracture of left femur through "
                                                  "metastasis"), onset=ago(3))
    assert "fracture-no-internal-fixation" not in ids(cards(app, "patient-view", UPPER_ARM_STS,
                                                            fracture))


def test_fracture_through_the_primary_with_distant_metastases_is_a_warning(app: Flask) -> None:
    """Tibial fracture through a lower-leg primary with lung metastases: a warning whose detail
    adds the palliative MDT caveat; the long leg splint is still suggested."""
    tumour = fr.condition("rs-sts", fr.coded(
        fr.ICD10, "C49.22", "Malignant neoplasm of connective and soft tissue of left lower limb, "
        "including hip", "Soft tissue sarcoma of left lower leg"), onset=ago(60),
        morphology="8800/3", body_site=fr.text_only("Left lower leg"))
    lung = fr.condition("rs-met-lung", fr.coded(fr.ICD10, "C78.01", "Secondary malignant "
                                                "neoplasm of right lung"), onset=ago(30),
                        related="Condition/rs-sts")
    record = (tumour, lung, _fracture("M84.562A"))
    [card] = of(cards(app, "order-sign", *record, drafts=(NAILING,)),
                "fracture-no-internal-fixation")
    assert card["indicator"] == "warning" and "MDT" in card["summary"]
    assert "multidisciplinary team" in card["detail"] and "palliative" in card["detail"]
    assert "Condition/rs-met-lung" in card["detail"]
    _assert_splint(card, LONG_LEG)
    [pv] = of(cards(app, "patient-view", *record), "fracture-no-internal-fixation")
    assert pv["indicator"] == "warning" and "palliative" in pv["detail"]


def test_unsited_fracture_with_two_primaries_is_attributed_to_neither(app: Flask) -> None:
    """No site and two primary tumours: the fracture cannot be placed; with one, it is."""
    second = fr.condition("rs-sts-2", fr.text_only("Soft tissue sarcoma of right upper arm"),
                          onset=ago(60), body_site=fr.text_only("Right upper arm"))
    assert "fracture-no-internal-fixation" not in ids(cards(
        app, "patient-view", fr.thigh_sarcoma(onset=ago(60)), second, _fracture("M84.50XA")))


# --- ilms-rt-chemo-reserved (revised) -------------------------------------------------------------

ILMS = fr.condition("rs-ilms", fr.text_only("Inflammatory leiomyosarcoma of right thigh"),
                    onset=ago(40), body_site=fr.text_only("Right thigh"))
DOXORUBICIN = fr.draft_medication("rs-dox", fr.coded(fr.RXNORM, "3639", "doxorubicin"))
IMRT = fr.draft_service_request("rs-rt", fr.coded(fr.CPT, "77385", "Intensity modulated "
                                                  "radiation treatment delivery, simple"))


@pytest.mark.parametrize("draft", [DOXORUBICIN, IMRT], ids=["chemotherapy", "radiotherapy"])
def test_ilms_component_not_recorded_asks_to_confirm(app: Flask, draft: fr.JsonObject) -> None:
    """No rhabdomyosarcomatous component on record: the order card fires and asks to confirm it
    with pathology; patient-view names the missing component in case-data-incomplete."""
    [card] = of(cards(app, "order-sign", ILMS, drafts=(draft,)), "ilms-rt-chemo-reserved")
    assert card["indicator"] == "warning" and "not recorded" in card["summary"]
    assert "Confirm with pathology" in card["detail"]
    assert {r["code"] for r in card["overrideReasons"]} >= {"rms-component-present"}
    [gap] = of(cards(app, "patient-view", ILMS), "case-data-incomplete")
    assert "rhabdomyosarcomatous component" in gap["detail"]


def test_ilms_rt_chemo_reserved_never_in_advanced_disease(app: Flask) -> None:
    """With a distant metastasis on record the card stays silent, component known or not."""
    lung = fr.condition("rs-met", LUNG_MET, onset=ago(10), related="Condition/rs-ilms")
    absent = fr.observation("rs-path", fr.text_only("Pathology diagnosis"),
                            "Inflammatory leiomyosarcoma. No rhabdomyosarcomatous component "
                            "identified.", focus="Condition/rs-ilms", effective=ago(35))
    for record in ((ILMS, lung), (ILMS, lung, absent)):
        assert "ilms-rt-chemo-reserved" not in ids(cards(app, "order-sign", *record,
                                                         drafts=(DOXORUBICIN,)))
    [card] = of(cards(app, "order-sign", ILMS, absent, drafts=(DOXORUBICIN,)),
                "ilms-rt-chemo-reserved")
    assert "not indicated" in card["summary"]
