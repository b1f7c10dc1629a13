"""Every operator-facing knob, read once from the environment (prefix ``CDS_``) and validated."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
from pathlib import Path

from pydantic import Field
from pydantic import SecretStr
from pydantic import field_validator
from pydantic_settings import BaseSettings
from pydantic_settings import SettingsConfigDict

DEFAULT_DATA_DIR = Path("var")
"""Where the embedded SQLite database lives unless ``CDS_DATABASE_URL`` says otherwise."""


def _split_csv(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


class Settings(BaseSettings):
    """Service settings; keyword arguments override the environment (the way tests set them)."""

    model_config = SettingsConfigDict(
        env_prefix="CDS_",
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
    )

    database_url: str = f"sqlite:///{DEFAULT_DATA_DIR / 'cds-service.sqlite3'}"
    """SQLAlchemy URL of the feedback store, card ledger and JWT replay store."""

    ledger_spool_dir: Path | None = None
    """Local directory where each answered card is written before the response (replayed into the
    card ledger at the next worker start); unset = ``ledger-spool`` beside the SQLite database
    file, else a directory in the temporary directory named after the database URL."""

    public_base_url: str | None = None
    """Externally visible base URL (``https://cds.example.org``); unset = from the request."""

    fhir_timeout_s: float = Field(default=1.5, gt=0)
    """Timeout of one FHIR request, in seconds."""

    request_deadline_s: float = Field(default=3.0, gt=0)
    """Bound on all FHIR fetching of one hook call, in seconds."""

    fhir_max_pages: int = Field(default=20, ge=1)
    """Pages followed per FHIR query (the first included) before the call answers 412."""

    fhir_max_response_mb: float = Field(default=32, gt=0)
    """Largest FHIR response accepted, in MiB."""

    fhir_server_allowlist: str = ""
    """Comma-separated URL prefixes a request's ``fhirServer`` must start with; empty = any host
    but link-local and cloud-metadata ones, which only a prefix naming them admits (fhir.egress)."""

    max_body_mb: float = Field(default=32, gt=0)
    """Largest hook or feedback request body, in MiB."""

    body_timeout_s: float = Field(default=30, gt=0)
    """A request body not fully received this long after the request's start is refused (408)."""

    cors_origins: str = "*"
    """Comma-separated allowed browser origins; ``*`` allows any."""

    admin_bind: str | None = None
    """``host:port`` of the operator listener (``/metrics``, probes); unset = the public port."""

    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    """gunicorn worker processes for ``cds-service serve``."""

    threads: int = Field(default=4, ge=1)
    """Threads per gunicorn worker."""

    trusted_issuers: str | None = None
    """JSON list of trusted JWT issuers; unset = the service runs open."""

    ledger_salt: SecretStr | None = None
    """Salt of the ledger's patient-id hash; unset = random per install, kept in the database."""

    today: dt.date | None = None
    """Date the guideline engine treats as today (demos, tests); unset = the real date."""

    log_level: str = "INFO"
    """Python logging level name."""

    @field_validator("public_base_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else None

    @field_validator("admin_bind")
    @classmethod
    def _host_and_port(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        _, _, port = value.strip().rpartition(":")
        if not port.isdigit() or not 0 < int(port) < 65536 or ":" not in value:
            raise ValueError(f"{value!r} is not host:port (CDS_ADMIN_BIND)")
        return value.strip()

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"}:
            raise ValueError(f"unknown log level {value!r}")
        return level

    @property
    def fhir_server_prefixes(self) -> tuple[str, ...]:
        """The allowlist as a tuple of URL prefixes (empty = any server)."""
        return _split_csv(self.fhir_server_allowlist)

    @property
    def admin_port(self) -> int | None:
        """The operator listener's port, when ``CDS_ADMIN_BIND`` is set."""
        return int(self.admin_bind.rpartition(":")[2]) if self.admin_bind else None

    @property
    def cors_origin_list(self) -> tuple[str, ...]:
        """The CORS origins as a tuple."""
        return _split_csv(self.cors_origins) or ("*",)

    @property
    def max_body_bytes(self) -> int:
        """The request body limit in bytes."""
        return int(self.max_body_mb * 1024 * 1024)

    @property
    def fhir_max_response_bytes(self) -> int:
        """The FHIR response limit in bytes."""
        return int(self.fhir_max_response_mb * 1024 * 1024)

    @property
    def ledger_spool_directory(self) -> Path | None:
        """Where the card-ledger spool lives (see ``ledger_spool_dir``); None for an in-memory
        SQLite database, which dies with its process anyway."""
        if self.ledger_spool_dir is not None:
            return self.ledger_spool_dir
        from sqlalchemy.engine import make_url

        url = make_url(self.database_url)
        database = url.database or ""
        if url.get_backend_name() == "sqlite":
            if not database or database == ":memory:" or "mode=memory" in database:
                return None
            if not database.startswith("file:") and not url.query.get("uri"):
                return Path(database).parent / "ledger-spool"
        # /tmp is writable even on a read-only root filesystem (deploy/); one directory per
        # database, so that no spool is ever replayed into another install's ledger.
        digest = hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()
        return Path(tempfile.gettempdir()) / f"cds-service-ledger-spool-{digest[:16]}"

    def effective_today(self) -> dt.date:
        """Today as the engine sees it: ``CDS_TODAY`` or the real date."""
        return self.today or dt.date.today()
