"""Preloading the R4B element models: validation after it imports nothing more."""

from __future__ import annotations

import subprocess
import sys

from cds_service.fhir.preload import load_element_models

# Run in a fresh interpreter: in the test process other tests have imported models already.
_SCRIPT = """
import json, sys
from cds_service.fhir.parse import resource_problems
from cds_service.fhir.preload import load_element_models
load_element_models(["Observation"])
before = set(sys.modules)
observation = {
    "resourceType": "Observation", "id": "bp", "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
    "subject": {"reference": "Patient/p"}, "effectivePeriod": {"start": "2026-01-01"},
    "component": [{"code": {"text": "systolic"}, "valueQuantity": {"value": 120}}],
    "referenceRange": [{"low": {"value": 90}, "high": {"value": 140},
                        "age": {"low": {"value": 18}}}],
    "valueRatio": {"numerator": {"value": 1}, "denominator": {"value": 2}},
    "note": [{"text": "seated"}], "interpretation": [{"text": "normal"}],
}
assert resource_problems(observation) == [], resource_problems(observation)
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_validating_a_preloaded_type_imports_no_model() -> None:
    result = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True,
                            check=True, timeout=120)
    assert result.stdout.strip() == "[]"


def test_every_reachable_element_model_is_counted_and_unknown_types_skipped() -> None:
    observation = load_element_models(["Observation"])
    assert observation > 10  # Observation and its elements (Quantity, Reference, Range...)
    assert load_element_models(["Observation", "NotAResource", "Observation"]) == observation
    assert load_element_models([]) == 0
