"""``deploy/compose.yaml``: the service, its migration and PostgreSQL on one host."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from cds_service.settings import Settings
from tests.deploy.common import COMPOSE_FILE
from tests.deploy.common import DEPLOY_DIR
from tests.deploy.common import gunicorn_conf_values
from tests.deploy.common import load_yaml_documents

(COMPOSE,) = load_yaml_documents(COMPOSE_FILE)
SERVICES: dict[str, Any] = COMPOSE["services"]


def test_the_file_defines_the_service_its_migration_and_postgresql() -> None:
    assert set(SERVICES) == {"cds-service", "migrate", "db"}
    assert SERVICES["db"]["image"].startswith("postgres:")
    assert "pg_isready" in " ".join(SERVICES["db"]["healthcheck"]["test"])
    assert "pgdata" in COMPOSE["volumes"]


def test_the_service_starts_after_the_database_and_a_successful_migration() -> None:
    depends = SERVICES["cds-service"]["depends_on"]
    assert depends == {"db": {"condition": "service_healthy"},
                       "migrate": {"condition": "service_completed_successfully"}}
    assert SERVICES["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert SERVICES["migrate"]["command"] == ["migrate"]
    assert SERVICES["migrate"]["restart"] == "no"


def test_both_use_the_image_built_from_the_dockerfile() -> None:
    for name in ("cds-service", "migrate"):
        service = SERVICES[name]
        assert service["image"] == SERVICES["cds-service"]["image"]
        context = (DEPLOY_DIR / service["build"]["context"]).resolve()
        assert (context / service["build"]["dockerfile"]).samefile(DEPLOY_DIR / "Dockerfile")


def test_the_database_is_postgresql_reached_by_its_service_name() -> None:
    for name in ("cds-service", "migrate"):
        url = urlsplit(SERVICES[name]["environment"]["CDS_DATABASE_URL"])
        assert (url.scheme, url.hostname, url.path) == ("postgresql+psycopg", "db", "/cds")
    assert "sqlite" not in COMPOSE_FILE.read_text(encoding="utf-8").lower()


def test_the_database_password_must_be_given() -> None:
    password = SERVICES["db"]["environment"]["POSTGRES_PASSWORD"]
    assert re.fullmatch(r"\$\{POSTGRES_PASSWORD:\?[^}]+\}", password)


def test_every_setting_passed_is_a_known_one() -> None:
    known = {f"CDS_{name.upper()}" for name in Settings.model_fields}
    for name in ("cds-service", "migrate"):
        assert set(SERVICES[name]["environment"]) <= known


def test_the_service_runs_read_only_behind_a_local_proxy() -> None:
    service = SERVICES["cds-service"]
    assert service["read_only"] is True and "/tmp" in service["tmpfs"]
    assert service["ports"] == ["127.0.0.1:8080:8080"]  # TLS is the host's reverse proxy's job
    assert "command" not in service  # the image's `cds-service serve --config ...`
    grace = int(service["stop_grace_period"].removesuffix("s"))
    assert gunicorn_conf_values()["graceful_timeout"] < grace
