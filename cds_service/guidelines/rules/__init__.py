"""The rules, one module per source document or topic; importing this package registers them all."""

from cds_service.guidelines.rules import ascmn  # noqa: F401
from cds_service.guidelines.rules import data_quality  # noqa: F401
from cds_service.guidelines.rules import ilms  # noqa: F401
from cds_service.guidelines.rules import lrdm  # noqa: F401
from cds_service.guidelines.rules import ntrk  # noqa: F401
from cds_service.guidelines.rules import pecoma  # noqa: F401
from cds_service.guidelines.rules import pecoma_treatment  # noqa: F401
from cds_service.guidelines.rules import workup  # noqa: F401
