"""The knowledge base's version: a semantic version from the changelog and a content hash.

``changelog.toml`` lists the versions newest first; the first is the knowledge base's version. The
content hash is a SHA-256 over the knowledge data files (catalogue, wording, provenance, changelog,
value sets, surveillance intervals, order templates), computed once at start-up, so any card can be
traced to the exact knowledge that produced it (recommendations.md, "Knowledge-base version").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import ValidationError
from pydantic import model_validator

from cds_service.guidelines.catalogue import Catalogue
from cds_service.guidelines.catalogue import CatalogueError

PACKAGE_DIR = Path(__file__).resolve().parent.parent
"""``cds_service/``: the knowledge files are named relative to it."""

CHANGELOG_FILE = Path(__file__).with_name("changelog.toml")
"""The changelog shipped with the service."""

KNOWLEDGE_FILES = (
    "guidelines/catalogue.toml",
    "guidelines/changelog.toml",
    "guidelines/orders.toml",
    "guidelines/provenance.toml",
    "guidelines/wording/*.toml",
    "guidelines/surveillance.py",
    "terminology/*.json",
    "terminology/valuesets/*.json",
)
"""Glob patterns of the knowledge data files, relative to ``cds_service/``. The surveillance
intervals are still held in ``surveillance.py``, which is therefore hashed with the data."""

SemVer = Annotated[str, Field(pattern=r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")]

ALL = "*"
"""A change that concerns every recommendation."""


def semver_key(version: str) -> tuple[int, int, int]:
    """``"1.10.0"`` as ``(1, 10, 0)``, so versions compare numerically."""
    major, minor, patch = (int(part) for part in version.split("."))
    return major, minor, patch


class Change(BaseModel):
    """One change of a version, by recommendation id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recommendations: tuple[str, ...] = Field(min_length=1)
    change: str = Field(min_length=1)

    def concerns(self, rec_id: str) -> bool:
        """Whether the change names ``rec_id`` (or every recommendation)."""
        return ALL in self.recommendations or rec_id in self.recommendations


class VersionEntry(BaseModel):
    """One version of the changelog."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: SemVer
    date: dt.date
    summary: str = Field(min_length=1)
    changes: tuple[Change, ...] = Field(min_length=1)
    released: bool = True
    """False while the version is still being prepared: its golden cards may be regenerated
    without a further bump. Only the newest version may be unreleased."""


class Changelog(BaseModel):
    """changelog.toml: versions, newest first, strictly decreasing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    versions: tuple[VersionEntry, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _newest_first(self) -> Changelog:
        keys = [semver_key(entry.version) for entry in self.versions]
        if any(newer <= older for newer, older in zip(keys, keys[1:], strict=False)):
            raise ValueError("versions must be listed newest first, each one higher than the next")
        if any(not entry.released for entry in self.versions[1:]):
            raise ValueError("only the newest version may be unreleased")
        return self

    def for_recommendation(self, rec_id: str) -> list[tuple[str, str]]:
        """``(version, change)`` of every change concerning ``rec_id``, newest first."""
        return [(entry.version, change.change) for entry in self.versions
                for change in entry.changes if change.concerns(rec_id)]


class KnowledgeVersion(BaseModel):
    """The version stamp of the running knowledge base."""

    model_config = ConfigDict(frozen=True)

    version: SemVer
    content_hash: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    changelog: Changelog

    @property
    def released(self) -> bool:
        """Whether the running version is released (see :attr:`VersionEntry.released`)."""
        return self.changelog.versions[0].released

    @property
    def short_hash(self) -> str:
        """The first 12 hex digits of the hash, for people."""
        return self.content_hash.removeprefix("sha256:")[:12]

    def stamp(self) -> dict[str, str]:
        """What cards, discovery and the ledger carry: ``{"version", "contentHash"}``."""
        return {"version": self.version, "contentHash": self.content_hash}


def knowledge_files(root: Path = PACKAGE_DIR,
                    patterns: Iterable[str] = KNOWLEDGE_FILES) -> list[Path]:
    """Every knowledge data file, sorted by its path relative to ``root``.

    Raises:
        CatalogueError: a pattern matches no file (the list is out of date).
    """
    files: set[Path] = set()
    for pattern in patterns:
        matched = sorted(root.glob(pattern))
        if not matched:
            raise CatalogueError(f"knowledge file pattern {pattern!r} matches no file")
        files.update(matched)
    return sorted(files, key=lambda path: path.relative_to(root).as_posix())


def content_hash(root: Path = PACKAGE_DIR, patterns: Iterable[str] = KNOWLEDGE_FILES) -> str:
    """SHA-256 over the knowledge files: each one's relative path, size and bytes, in order."""
    digest = hashlib.sha256()
    for path in knowledge_files(root, patterns):
        data = path.read_bytes()
        digest.update(f"{path.relative_to(root).as_posix()}\0{len(data)}\0".encode())
        digest.update(data)
    return f"sha256:{digest.hexdigest()}"


def load_changelog(catalogue: Catalogue, path: Path | None = None) -> Changelog:
    """Read and validate the changelog (by default :data:`CHANGELOG_FILE`); every id it names must
    be in ``catalogue``.

    Raises:
        CatalogueError: unreadable, invalid, out of order, or naming an unknown recommendation.
    """
    path = path or CHANGELOG_FILE
    try:
        changelog = Changelog.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
        raise CatalogueError(f"invalid knowledge-base changelog {path}: {exc}") from exc
    known = set(catalogue.ids) | {ALL}
    unknown = sorted({rec_id for entry in changelog.versions for change in entry.changes
                      for rec_id in change.recommendations} - known)
    if unknown:
        raise CatalogueError(f"invalid knowledge-base changelog {path}: unknown ids {unknown}")
    return changelog


def load_version(catalogue: Catalogue, changelog_file: Path | None = None,
                 root: Path = PACKAGE_DIR) -> KnowledgeVersion:
    """The running knowledge base's version (the changelog's newest) and content hash.

    Raises:
        CatalogueError: the changelog is invalid or a knowledge file is missing.
    """
    changelog = load_changelog(catalogue, changelog_file)
    return KnowledgeVersion(version=changelog.versions[0].version,
                            content_hash=content_hash(root), changelog=changelog)
