"""Imaging of the pelvis images a primary of the uterus or broad ligament (sts-mri-local-staging),
and nothing else about site matching changed: the study site read from its text, swept against
the primaries; fracture matching of the pelvis against the uterus."""

from __future__ import annotations

import pytest

from cds_service.case.concepts import in_domain
from cds_service.case.concepts import names_pelvis
from cds_service.case.concepts import positive
from cds_service.case.concepts import site_of
from cds_service.case.model import Entity
from cds_service.case.model import Fracture
from cds_service.case.model import ImagingKind
from cds_service.case.model import ImagingStudy
from cds_service.case.model import OrderKind
from cds_service.case.model import Site
from cds_service.case.model import Tumour
from cds_service.guidelines.conventions import images_site
from cds_service.guidelines.conventions import is_primary_mri
from cds_service.guidelines.conventions import same_region
from cds_service.guidelines.conventions import same_site
from cds_service.guidelines.rules import ascmn
from cds_service.guidelines.rules import workup
from cds_service.hooks.models import Hook
from cds_service.vocabulary import Indicator
from tests.common import shipped_terminology
from tests.guidelines.factories import case
from tests.guidelines.factories import context
from tests.guidelines.factories import fact
from tests.guidelines.factories import fire
from tests.guidelines.factories import order
from tests.guidelines.factories import tumour

PRIMARIES = {
    "uterus": Site.UTERUS,
    "broad ligament": Site.BROAD_LIGAMENT,
    "pelvic soft tissue": Site.TRUNK,  # C49.5 / "pelvis": the pelvis region folds into the trunk
    "thigh": Site.LOWER_LIMB,
}

# Study text -> the primaries (keys of PRIMARIES) an MRI of it counts for.
COUNTS_FOR = {
    "MRI pelvis with and without contrast": {"uterus", "broad ligament", "pelvic soft tissue"},
    "MR pelvis w/wo contrast": {"uterus", "broad ligament", "pelvic soft tissue"},
    "MRI abdomen and pelvis": {"uterus", "broad ligament"},  # read as abdomen, imaging the pelvis
    "MRI of the trunk": {"pelvic soft tissue"},
    "MRI back": {"pelvic soft tissue"},
    "MRI chest wall": {"pelvic soft tissue"},
    "MRI abdomen": set(),
    # The buttock, groin and perineum roll up to the pelvis region (the trunk) but are not the
    # pelvis: imaging them does not image the pelvic organs.
    "MRI right buttock": {"pelvic soft tissue"},
    "MRI left groin": {"pelvic soft tissue"},
    "MRI perineum": {"pelvic soft tissue"},
    "MRI right buttock and pelvis": {"uterus", "broad ligament", "pelvic soft tissue"},
    "MRI thigh": {"thigh"},
}


def study_of(text: str) -> ImagingStudy:
    """An MRI whose site is read from ``text`` as the case builder reads it."""
    terminology = shipped_terminology()
    matches = positive(terminology.match_codeable_concept({"text": text}))
    assert in_domain(matches, "img") == ["img/mri"], text
    sites = in_domain(matches, "site")
    return ImagingStudy(source="Procedure/mri-1", kind=ImagingKind.MRI,
                        site=site_of(sites, terminology),
                        images_pelvis=names_pelvis(sites))


def primary(name: str, tumour_id: str = "cond-1") -> Tumour:
    return tumour(Entity.PECOMA, tumour_id, site=fact(PRIMARIES[name], f"Condition/{tumour_id}"))


@pytest.mark.parametrize("text", sorted(COUNTS_FOR))
@pytest.mark.parametrize("name", sorted(PRIMARIES))
def test_study_site_counts_for_primary(text: str, name: str) -> None:
    """An MRI of the pelvis counts for a uterine or broad-ligament primary; one of another part of
    the trunk, of the abdomen or of a limb does not (the trunk ones count for a pelvic soft-tissue
    primary, as before: the pelvis region is part of the trunk)."""
    study, subject = study_of(text), primary(name)
    other = primary("thigh" if name != "thigh" else "uterus", "cond-2")
    assert is_primary_mri(study, subject, case(subject, other)) is (name in COUNTS_FOR[text])


@pytest.mark.parametrize("name", sorted(PRIMARIES))
def test_unknown_study_site_counts_for_a_sole_tumour_only(name: str) -> None:
    """An MRI with no site counts for the patient's sole tumour, never with several (unchanged)."""
    study = ImagingStudy(source="Procedure/mri-1", kind=ImagingKind.MRI)
    subject = primary(name)
    assert is_primary_mri(study, subject, case(subject))
    other = primary("thigh" if name != "thigh" else "uterus", "cond-2")
    assert not is_primary_mri(study, subject, case(subject, other))


def test_images_site_only_widens_for_pelvic_organs() -> None:
    """``images_pelvis`` widens the match to the uterus and broad ligament and nothing else."""
    for site in Site:
        subject = tumour(site=fact(site))
        widened = images_site(Site.TRUNK, True, subject) and not same_site(Site.TRUNK, subject)
        assert widened is (site in (Site.UTERUS, Site.BROAD_LIGAMENT)), site
        assert images_site(Site.TRUNK, False, subject) is same_site(Site.TRUNK, subject), site


@pytest.mark.parametrize(("label", "fires"), [
    ("CT pelvis with contrast", True),
    ("CT abdomen and pelvis with IV contrast", True),
    ("CT chest wall", False),
    ("CT thigh", False),
])
def test_draft_ct_of_the_pelvis_for_a_uterine_primary(label: str, fires: bool) -> None:
    """sts-mri-local-staging OS/OSN: a draft CT of the pelvis images a uterine primary awaiting
    local staging: warning with the MRI replacement; a CT of another part of the trunk does not."""
    terminology = shipped_terminology()
    matches = positive(terminology.match_codeable_concept({"text": label}))
    sites = in_domain(matches, "site")
    draft = order("ServiceRequest", "ct-1", label=label, kind=OrderKind.IMAGING,
                  imaging=ImagingKind.CT, site=site_of(sites, terminology),
                  images_pelvis=names_pelvis(sites))
    subject = case(primary("uterus"), draft_orders=(draft,))
    recs = fire(workup.mri_local_staging, subject, context(Hook.ORDER_SIGN))
    assert [(r.indicator, r.subject, r.against_order) for r in recs] == (
        [(Indicator.WARNING, "ServiceRequest/ct-1", True)] if fires else [])
    if fires:
        assert [s.creates[0].kind for s in recs[0].suggestions] == ["mri"]
        assert recs[0].suggestions[0].deletes == ("ServiceRequest/ct-1",)


def test_pelvic_fracture_is_not_through_a_uterine_tumour() -> None:
    """Fracture matching did not change: a pelvic fracture (site trunk) is not at a uterine
    primary, and still at a pelvic soft-tissue one."""
    pelvic = Fracture(source="Condition/fx-1", site=site_of(["site/pelvis"], shipped_terminology()),
                      splint="site-planned")
    assert pelvic.site is Site.TRUNK
    assert not same_site(pelvic.site, primary("uterus"))
    assert not same_region(Site.TRUNK, Site.UTERUS)
    assert fire(ascmn.fracture_no_internal_fixation,
                case(primary("uterus"), fractures=(pelvic,)), context()) == []
    recs = fire(ascmn.fracture_no_internal_fixation,
                case(primary("pelvic soft tissue"), fractures=(pelvic,)), context())
    assert [r.subject for r in recs] == ["cond-1"]
