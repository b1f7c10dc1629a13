"""The application factory and settings (style.md: the factory has its own test)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from cds_service.app import create_app
from cds_service.settings import Settings
from cds_service.state import service_state


def test_settings_defaults_match_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.database_url == "sqlite:///var/cds-service.sqlite3"
    assert settings.public_base_url is None
    assert (settings.fhir_timeout_s, settings.request_deadline_s) == (1.5, 3.0)
    assert (settings.fhir_max_pages, settings.fhir_max_response_mb) == (20, 32)
    assert settings.fhir_server_prefixes == ()
    assert settings.max_body_mb == 32
    assert settings.cors_origin_list == ("*",)
    assert settings.threads == 4
    assert settings.trusted_issuers is None and settings.ledger_salt is None
    assert settings.today is None and settings.log_level == "INFO"


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDS_FHIR_SERVER_ALLOWLIST", "https://a.example/fhir, https://b.example/")
    monkeypatch.setenv("CDS_TODAY", "2025-01-31")
    monkeypatch.setenv("CDS_PUBLIC_BASE_URL", "https://cds.example.org/")
    settings = Settings()
    assert settings.fhir_server_prefixes == ("https://a.example/fhir", "https://b.example/")
    assert settings.effective_today() == dt.date(2025, 1, 31)
    assert settings.public_base_url == "https://cds.example.org"


def test_invalid_settings_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDS_FHIR_TIMEOUT_S", "-1")
    with pytest.raises(ValueError, match="fhir_timeout_s"):
        Settings()


def test_factory_creates_the_sqlite_database_in_its_directory(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    database = tmp_path / "nested" / "dir" / "cds.sqlite3"
    app = create_app(make_settings(database_url=f"sqlite:///{database}"))
    service_state(app).close()
    assert database.exists()


def test_factory_refuses_to_start_on_invalid_trust_settings(
    make_settings: Callable[..., Settings]
) -> None:
    # Configured trust must never silently degrade to "open" (more in tests/auth/).
    with pytest.raises(ValueError, match=r"CDS_TRUSTED_ISSUERS\[0\]: .*jwks_url"):
        create_app(make_settings(trusted_issuers='[{"iss": "https://ehr.example.org"}]'))
