"""The Deployment's ``/tmp`` holds the request bodies the workers spool
(cds_service/operations/front.py)."""

from __future__ import annotations

import re

from cds_service.operations.front import BufferingFront
from cds_service.settings import Settings
from tests.deploy.common import KUBERNETES_DIR
from tests.deploy.common import load_yaml_documents

_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def _bytes(quantity: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(Ki|Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * _UNITS[unit]


def test_tmp_is_on_disk_and_holds_what_every_worker_may_spool() -> None:
    # Bodies waiting for a thread go to /tmp. In memory, they would count against the pod's
    # memory limit; and an emptyDir that overflows its sizeLimit gets the pod evicted.
    (deployment,) = load_yaml_documents(KUBERNETES_DIR / "deployment.yaml")
    (config,) = load_yaml_documents(KUBERNETES_DIR / "configmap.yaml")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    (volume,) = [v for v in pod["volumes"] if v["name"] == mounts["/tmp"]]
    assert volume["emptyDir"].get("medium") != "Memory"
    settings = Settings(**{key.removeprefix("CDS_").lower(): value
                           for key, value in config["data"].items()
                           if key in {"CDS_WORKERS", "CDS_THREADS", "CDS_MAX_BODY_MB"}})
    per_worker = BufferingFront(lambda environ, start: [], threads=settings.threads,
                                max_body_bytes=settings.max_body_bytes,
                                body_timeout_s=settings.body_timeout_s).held_bytes
    assert settings.workers * per_worker < _bytes(volume["emptyDir"]["sizeLimit"])
