"""Memory: a worker carries only what it serves with (bench/FINDINGS.md, peak RSS per worker).

Alembic (with Mako and Pygments) is only for migrating and PyJWT with cryptography only for trust:
together about 20 MiB in every gunicorn worker when the master has loaded them before the fork.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cds_service.feedback.migrate import HEAD_REVISION
from cds_service.feedback.migrate import head_revision
from cds_service.feedback.store import create_schema
from cds_service.feedback.store import make_engine

_PROBE = """
import json, sys
from cds_service.app import create_app
from cds_service.operations.prefork import prepare
from cds_service.settings import Settings
prepare(create_app(Settings(database_url=sys.argv[1], trusted_issuers=sys.argv[2] or None)))
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & {
    "alembic", "mako", "pygments", "jwt", "cryptography"})))
"""


def _loaded_after_start(database_url: str, trusted_issuers: str = "") -> list[str]:
    done = subprocess.run([sys.executable, "-c", _PROBE, database_url, trusted_issuers],
                          capture_output=True, text=True, check=True, timeout=120)
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_the_head_revision_constant_is_the_newest_migration() -> None:
    assert HEAD_REVISION == head_revision()


def test_an_open_service_on_a_migrated_store_loads_neither_alembic_nor_pyjwt(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    engine = make_engine(url)
    create_schema(engine)
    engine.dispose()
    assert _loaded_after_start(url) == []


def test_the_first_start_migrates_and_trust_loads_pyjwt(tmp_path: Path) -> None:
    # The lazy imports must not break what needs them.
    issuers = json.dumps([{"iss": "https://ehr.example.org", "jwks_url":
                           "https://ehr.example.org/jwks.json"}])
    loaded = _loaded_after_start(f"sqlite:///{tmp_path / 'new.sqlite3'}", issuers)
    assert {"alembic", "jwt"} <= set(loaded)
