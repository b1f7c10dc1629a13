"""The rules, one module per source document or topic, and the table of them by catalogue id.

The table is the one place a rule is bound to its recommendation id: a rule returns advice without
an id, and the engine stamps the id it ran the rule under on what the rule returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from cds_service.guidelines.context import Rule
from cds_service.guidelines.rules import ascmn
from cds_service.guidelines.rules import data_quality
from cds_service.guidelines.rules import ilms
from cds_service.guidelines.rules import lrdm
from cds_service.guidelines.rules import ntrk
from cds_service.guidelines.rules import pecoma
from cds_service.guidelines.rules import pecoma_treatment
from cds_service.guidelines.rules import workup

RULES: Mapping[str, Rule] = MappingProxyType({
    "ascmn-ihc-panel": ascmn.ascmn_ihc_panel,
    "ascmn-mdm2-testing": ascmn.ascmn_mdm2_testing,
    "sts-wide-excision": ascmn.wide_excision,
    "ascmn-acral-function": ascmn.acral_function,
    "ascmn-mohs-cutaneous": ascmn.mohs_for_cutaneous_ascmn,
    "fracture-no-internal-fixation": ascmn.fracture_no_internal_fixation,
    "ascmn-no-systemic-therapy": ascmn.ascmn_no_systemic_therapy,
    "case-data-incomplete": data_quality.data_incomplete,
    "ilms-ihc-panel": ilms.ilms_ihc_panel,
    "ilms-rt-chemo-reserved": ilms.ilms_rt_chemo_reserved,
    "ilms-rms-transformation": ilms.ilms_rms_transformation,
    "sts-reexcision": lrdm.reexcision,
    "sts-adjuvant-radiotherapy": lrdm.adjuvant_radiotherapy,
    "sts-surveillance-plan": lrdm.surveillance,
    "sts-recurrence-intensify": lrdm.recurrence_intensify,
    "ntrk-rna-ngs": ntrk.ntrk_rna_ngs,
    "ntrk-trk-inhibitor": ntrk.ntrk_trk_inhibitor,
    "pecoma-ihc-panel": pecoma.pecoma_ihc_panel,
    "pecoma-risk-stratification": pecoma.pecoma_risk_stratification,
    "pecoma-chest-ct-not-xray": pecoma.pecoma_chest_ct_not_xray,
    "sts-specialist-referral": pecoma.sts_specialist_referral,
    "pecoma-metastasectomy": pecoma_treatment.pecoma_metastasectomy,
    "pecoma-adjuvant-radiotherapy": pecoma_treatment.pecoma_adjuvant_radiotherapy,
    "pecoma-postoperative-therapy": pecoma_treatment.pecoma_postoperative_therapy,
    "pecoma-mtor-first-line": pecoma_treatment.pecoma_mtor_first_line,
    "pecoma-chemo-before-mtor": pecoma_treatment.pecoma_chemo_before_mtor,
    "pecoma-uterine-regimen": pecoma_treatment.pecoma_uterine_regimen,
    "sts-histologic-confirmation": workup.confirm_histologically,
    "sts-core-biopsy-after-fna": workup.core_biopsy_after_fna,
    "sts-mri-local-staging": workup.mri_local_staging,
    "sts-chest-ct-staging": workup.chest_ct_staging,
})
"""Catalogue id -> the rule that decides it."""
