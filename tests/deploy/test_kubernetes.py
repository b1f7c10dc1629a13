"""``deploy/kubernetes/``: every manifest is valid for Kubernetes 1.30, and they fit together."""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions
from kubernetes_validate.utils import major_minor

from cds_service.settings import Settings
from tests.deploy.common import KUBERNETES_DIR
from tests.deploy.common import exec_form
from tests.deploy.common import final_stage
from tests.deploy.common import gunicorn_conf_values
from tests.deploy.common import load_yaml_documents

KUBERNETES_VERSION = "1.30"
"""The oldest Kubernetes release the manifests must apply to (its schemas ship in the package)."""

OUTSIDE_BASE = {"secret.example.yaml"}
"""Manifests of the base applied by hand, not by ``kubectl apply -k`` (docs/deployment.md)."""

MANIFESTS = [
    (str(path.relative_to(KUBERNETES_DIR)), doc)
    for path in sorted(KUBERNETES_DIR.rglob("*.yaml")) if path.name != "kustomization.yaml"
    for doc in load_yaml_documents(path)
]
IMAGE_COMPONENT = KUBERNETES_DIR / "image" / "kustomization.yaml"
MIGRATE_KUSTOMIZATION = KUBERNETES_DIR / "migrate" / "kustomization.yaml"


def _one(kind: str) -> dict[str, Any]:
    found = [doc for _, doc in MANIFESTS if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def _containers(kind: str) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = _one(kind)["spec"]["template"]["spec"]["containers"]
    return containers


def _env(container: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for entry in container.get("env", []):
        yield entry["name"], entry


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def _pod_labels(kind: str) -> dict[str, str]:
    labels: dict[str, str] = _one(kind)["spec"]["template"]["metadata"]["labels"]
    return labels


def test_the_pinned_kubernetes_schemas_ship_with_the_validator() -> None:
    assert KUBERNETES_VERSION in {major_minor(version) for version in all_versions()}


@pytest.mark.parametrize(
    ("file_name", "manifest"), MANIFESTS, ids=[f"{name}:{doc['kind']}" for name, doc in MANIFESTS]
)
def test_manifest_is_valid_for_kubernetes(file_name: str, manifest: dict[str, Any]) -> None:
    # strict: a misspelt or misplaced field is an error, as the API server's field validation is.
    validated = kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    assert validated == KUBERNETES_VERSION


def test_the_validator_rejects_a_misplaced_field() -> None:
    deployment = copy.deepcopy(_one("Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFilesystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError, match="readOnlyRootFilesystem"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_every_kind_the_deployment_needs_is_there() -> None:
    kinds = sorted(doc["kind"] for _, doc in MANIFESTS)
    assert kinds == sorted([
        "ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Ingress", "Job", "NetworkPolicy",
        "PodDisruptionBudget", "Secret", "Service",
    ])


def test_the_kustomization_lists_every_manifest_of_the_base() -> None:
    (kustomization,) = load_yaml_documents(KUBERNETES_DIR / "kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
    on_disk = {path.name for path in KUBERNETES_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(on_disk - OUTSIDE_BASE)


def test_probes_use_readyz_for_readiness_and_healthz_for_liveness_on_the_operator_port(
) -> None:
    (container,) = _containers("Deployment")
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": 8080, "admin": 9090}
    # The operator listener's threads are never busy with hook calls: probes do not queue.
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
    # Liveness never depends on the database: an outage must not restart every pod.
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}


def test_the_base_sets_the_operator_listener_on_the_admin_port_prometheus_scrapes() -> None:
    settings = Settings(admin_bind=_one("ConfigMap")["data"]["CDS_ADMIN_BIND"])
    (container,) = _containers("Deployment")
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert settings.admin_port == ports["admin"] != ports["http"]
    annotations = _one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert (annotations["prometheus.io/port"], annotations["prometheus.io/path"]) == (
        str(ports["admin"]), "/metrics")
    # The Service publishes the public port only; Prometheus scrapes the pods.
    assert [port["targetPort"] for port in _one("Service")["spec"]["ports"]] == ["http"]


def test_the_ingress_admits_bodies_up_to_the_services_limit() -> None:
    # ingress-nginx refuses over 1 MiB by default: a 5,000-resource prefetch (~2.8 MB) would
    # never reach the service.
    annotations = _one("Ingress")["metadata"]["annotations"]
    limit = annotations["nginx.ingress.kubernetes.io/proxy-body-size"]
    assert limit.endswith("m")
    max_body_mb = Settings(max_body_mb=_one("ConfigMap")["data"]["CDS_MAX_BODY_MB"]).max_body_mb
    assert float(limit.removesuffix("m")) == max_body_mb >= 3


def _policy_rule_ports(rule: dict[str, Any]) -> set[tuple[Any, str]]:
    return {(port["port"], port.get("protocol", "TCP")) for port in rule.get("ports", [])}


def test_the_network_policy_admits_the_ingress_controller_and_monitoring_by_port() -> None:
    policy = _one("NetworkPolicy")["spec"]
    assert _selects(policy["podSelector"]["matchLabels"], _pod_labels("Deployment"))
    assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
    by_port = {frozenset(_policy_rule_ports(rule)): rule["from"] for rule in policy["ingress"]}
    assert set(by_port) == {frozenset({("http", "TCP")}), frozenset({("admin", "TCP")})}
    (public,) = by_port[frozenset({("http", "TCP")})]
    assert public["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "ingress-nginx"}
    (operator,) = by_port[frozenset({("admin", "TCP")})]
    assert operator == {"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "monitoring"}}}


def test_the_network_policy_lets_out_dns_the_database_and_https_never_link_local() -> None:
    egress = _one("NetworkPolicy")["spec"]["egress"]
    ports = set().union(*(_policy_rule_ports(rule) for rule in egress))
    database_port = urlsplit(_one("Secret")["stringData"]["database-url"]).port
    assert ports == {(53, "UDP"), (53, "TCP"), (database_port, "TCP"), (443, "TCP")}
    metadata_address = ipaddress.ip_address("169.254.169.254")
    for rule in egress:
        for peer in rule["to"]:
            block = peer.get("ipBlock")
            if block and metadata_address in ipaddress.ip_network(block["cidr"]):
                assert any(metadata_address in ipaddress.ip_network(cidr)
                           for cidr in block.get("except", []))


@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_pods_run_as_the_images_non_root_user_on_a_read_only_root(kind: str) -> None:
    pod = _one(kind)["spec"]["template"]["spec"]
    (user,) = [i["value"] for i in final_stage() if i["instruction"] == "USER"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert str(pod["securityContext"]["runAsUser"]) == user.split(":")[0] != "0"
    assert pod["automountServiceAccountToken"] is False
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        # The one writable path (gunicorn's heartbeat files go to /dev/shm).
        mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]]


@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_every_container_has_resource_requests_and_limits(kind: str) -> None:
    for container in _containers(kind):
        for bound in ("requests", "limits"):
            assert set(container["resources"][bound]) == {"cpu", "memory"}


def test_database_url_and_trusted_issuers_come_from_the_secret() -> None:
    secret = _one("Secret")
    (container,) = _containers("Deployment")
    env = dict(_env(container))
    for name, key in [("CDS_DATABASE_URL", "database-url"),
                      ("CDS_TRUSTED_ISSUERS", "trusted-issuers")]:
        reference = env[name]["valueFrom"]["secretKeyRef"]
        assert reference == {"name": secret["metadata"]["name"], "key": key}
        assert key in secret["stringData"]
    (job_container,) = _containers("Job")
    job_reference = dict(_env(job_container))["CDS_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert job_reference == env["CDS_DATABASE_URL"]["valueFrom"]["secretKeyRef"]


def test_production_uses_postgresql_never_sqlite() -> None:
    assert urlsplit(_one("Secret")["stringData"]["database-url"]).scheme == "postgresql+psycopg"
    for path in KUBERNETES_DIR.glob("*.yaml"):
        assert "sqlite" not in path.read_text(encoding="utf-8").lower(), path.name


def test_the_example_trusted_issuers_are_a_json_list_of_issuers() -> None:
    issuers = yaml.safe_load(_one("Secret")["stringData"]["trusted-issuers"])
    assert isinstance(issuers, list) and all({"iss", "jwks_url"} <= set(i) for i in issuers)


def test_the_configmap_holds_valid_non_secret_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    data: dict[str, str] = _one("ConfigMap")["data"]
    known = {f"CDS_{name.upper()}" for name in Settings.model_fields}
    assert set(data) <= known
    assert not {"CDS_DATABASE_URL", "CDS_TRUSTED_ISSUERS", "CDS_LEDGER_SALT"} & set(data)
    for name, value in data.items():
        monkeypatch.setenv(name, value)
    settings = Settings()  # raises if a value is invalid
    assert settings.fhir_server_prefixes, "an empty allowlist would admit any fhirServer"
    assert urlsplit(settings.public_base_url or "").scheme == "https"
    (container,) = _containers("Deployment")
    config_map = _one("ConfigMap")["metadata"]["name"]
    assert container["envFrom"] == [{"configMapRef": {"name": config_map}}]
    # One worker per CPU of the limit (os.cpu_count() would see the whole node).
    assert settings.workers == int(container["resources"]["limits"]["cpu"])


def test_service_pdb_and_autoscaler_target_the_deployments_pods() -> None:
    deployment = _one("Deployment")
    labels = _pod_labels("Deployment")
    assert _selects(deployment["spec"]["selector"]["matchLabels"], labels)
    service = _one("Service")
    assert _selects(service["spec"]["selector"], labels)
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert _selects(_one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"], labels)
    hpa = _one("HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                     "name": deployment["metadata"]["name"]}
    assert "replicas" not in deployment["spec"]  # the autoscaler owns the count
    # A drain can always evict one pod while the rest keep serving.
    assert 1 <= _one("PodDisruptionBudget")["spec"]["minAvailable"] < hpa["minReplicas"]


def test_migration_pods_never_receive_service_traffic() -> None:
    assert not _selects(_one("Service")["spec"]["selector"], _pod_labels("Job"))


def test_migration_job_runs_migrate_with_the_services_image_set_in_one_place() -> None:
    job = _one("Job")
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    (migrate,) = _containers("Job")
    (serve,) = _containers("Deployment")
    assert migrate["args"] == ["migrate"]
    # Both name the image `cds-service`; one kustomize component says which image that is, and
    # both kustomizations use it (a release changes one line, for the Job and the Deployment).
    (component,) = load_yaml_documents(IMAGE_COMPONENT)
    assert component["kind"] == "Component"
    (image,) = component["images"]
    assert migrate["image"] == serve["image"] == image["name"]
    assert image["newName"] and (image.get("newTag") or image.get("digest"))
    (base,) = load_yaml_documents(KUBERNETES_DIR / "kustomization.yaml")
    (migration,) = load_yaml_documents(MIGRATE_KUSTOMIZATION)
    assert base["components"] == ["image"] and migration["components"] == ["../image"]
    assert migration["resources"] == ["job.yaml"]


def test_the_deployment_runs_the_images_serve_command() -> None:
    (container,) = _containers("Deployment")
    stage = {i["instruction"]: i["value"] for i in final_stage()}
    assert "command" not in container  # the image's ENTRYPOINT, cds-service
    assert container["args"] == exec_form(stage["CMD"])


def test_shutdown_drains_within_the_grace_period() -> None:
    pod = _one("Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    pause = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    graceful = gunicorn_conf_values()["graceful_timeout"]
    assert pause + graceful < pod["terminationGracePeriodSeconds"]


def test_the_ingress_serves_https_on_the_public_url_and_hides_internal_paths() -> None:
    spec = _one("Ingress")["spec"]
    public = urlsplit(_one("ConfigMap")["data"]["CDS_PUBLIC_BASE_URL"])
    (rule,) = spec["rules"]
    assert rule["host"] == public.hostname and spec["tls"][0]["hosts"] == [public.hostname]
    paths = {path["path"] for path in rule["http"]["paths"]}
    assert paths == {"/cds-services", "/recommendations", "/openapi.json"}
    backends = {path["backend"]["service"]["name"] for path in rule["http"]["paths"]}
    assert backends == {_one("Service")["metadata"]["name"]}


def test_the_deployment_limits_malloc_arenas_like_the_image() -> None:
    (container,) = _containers("Deployment")
    assert dict(_env(container))["MALLOC_ARENA_MAX"] == {"name": "MALLOC_ARENA_MAX", "value": "2"}
