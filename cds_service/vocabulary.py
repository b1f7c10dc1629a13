"""The domain vocabulary shared by the wire layer (``hooks``) and the engine (``guidelines``).

Only names both sides speak: the hooks answered, the services hosting them and card urgency. It
imports nothing of the service, so every stage may import it.
"""

from __future__ import annotations

from enum import StrEnum


class Hook(StrEnum):
    """The hooks this service answers."""

    PATIENT_VIEW = "patient-view"
    ORDER_SELECT = "order-select"
    ORDER_SIGN = "order-sign"


class Indicator(StrEnum):
    """Card urgency, in increasing order."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


PATIENT_VIEW_ID = "sts-patient-view"
ORDER_SELECT_ID = "sts-order-select"
ORDER_SIGN_ID = "sts-order-sign"

SERVICE_IDS = frozenset({PATIENT_VIEW_ID, ORDER_SELECT_ID, ORDER_SIGN_ID})
"""The ids of the CDS Services this server hosts (``hooks.services`` declares them in full)."""
