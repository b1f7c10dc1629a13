"""The knowledge-base version (recommendations.md "Knowledge-base version"): semver from the
changelog, a content hash that changes with any knowledge data file."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from cds_service.guidelines.catalogue import CatalogueError
from cds_service.guidelines.catalogue import load_catalogue
from cds_service.guidelines.versioning import CHANGELOG_FILE
from cds_service.guidelines.versioning import KNOWLEDGE_FILES
from cds_service.guidelines.versioning import PACKAGE_DIR
from cds_service.guidelines.versioning import content_hash
from cds_service.guidelines.versioning import knowledge_files
from cds_service.guidelines.versioning import load_changelog
from cds_service.guidelines.versioning import load_version
from cds_service.guidelines.versioning import semver_key

CATALOGUE = load_catalogue()


def test_the_version_is_the_changelogs_newest_and_the_hash_covers_the_data_files() -> None:
    version = load_version(CATALOGUE)
    assert version.version == version.changelog.versions[0].version
    assert [v.version for v in version.changelog.versions][-1] == "1.0.0"
    assert version.content_hash.startswith("sha256:") and len(version.short_hash) == 12
    names = {path.relative_to(PACKAGE_DIR).as_posix() for path in knowledge_files()}
    assert {"guidelines/catalogue.toml", "guidelines/orders.toml", "guidelines/provenance.toml",
            "guidelines/wording/lrdm.toml", "terminology/valuesets/imaging.json",
            "guidelines/surveillance.py"} <= names


def test_the_changelog_names_only_catalogue_ids_and_mentions_every_recommendation() -> None:
    changelog = load_changelog(CATALOGUE)
    for rec_id in CATALOGUE.ids:
        assert changelog.for_recommendation(rec_id), rec_id


@pytest.fixture
def knowledge_copy(tmp_path: Path) -> Path:
    """A copy of the knowledge files, laid out as in the package."""
    for path in knowledge_files():
        target = tmp_path / path.relative_to(PACKAGE_DIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return tmp_path


@pytest.mark.parametrize("name", ["guidelines/catalogue.toml", "guidelines/wording/pecoma.toml",
                                  "terminology/valuesets/medications.json",
                                  "guidelines/orders.toml", "guidelines/provenance.toml"])
def test_any_change_to_a_knowledge_file_changes_the_hash(knowledge_copy: Path, name: str) -> None:
    before = content_hash(knowledge_copy)
    assert before == content_hash(PACKAGE_DIR)  # same bytes, same hash wherever they lie
    path = knowledge_copy / name
    path.write_bytes(path.read_bytes() + b"\n")
    assert content_hash(knowledge_copy) != before


def test_a_renamed_file_changes_the_hash(knowledge_copy: Path) -> None:
    before = content_hash(knowledge_copy)
    wording = knowledge_copy / "guidelines" / "wording"
    (wording / "ilms.toml").rename(wording / "ilms2.toml")
    assert content_hash(knowledge_copy) != before


def test_a_missing_kind_of_knowledge_file_is_an_error(knowledge_copy: Path) -> None:
    for path in (knowledge_copy / "terminology" / "valuesets").iterdir():
        path.unlink()
    with pytest.raises(CatalogueError, match="terminology/valuesets/\\*.json"):
        content_hash(knowledge_copy, KNOWLEDGE_FILES)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda text: text.replace('version = "1.0.0"', 'version = "1.2.0"'), "newest first"),
    (lambda text: text.replace('version = "1.0.0"', 'version = "1.0"'), "String should match"),
    (lambda text: text.replace('"pecoma-risk-stratification"', '"pecoma-risk"'),
     "unknown ids ['pecoma-risk']"),
    (lambda text: text.replace("[[versions]]", "[[version]]", 1), "Extra inputs are not permitted"),
    (lambda text: text.replace('date = 2026-11-22', 'date = 2026-11-22\nreleased = false'),
     "only the newest version may be unreleased"),
])
def test_a_broken_changelog_fails_loading_with_a_clear_error(
    tmp_path: Path, edit: Callable[[str], str], message: str,
) -> None:
    path = tmp_path / "changelog.toml"
    path.write_text(edit(CHANGELOG_FILE.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(CatalogueError, match="invalid knowledge-base changelog") as raised:
        load_changelog(CATALOGUE, path)
    assert message in str(raised.value)


def test_versions_compare_numerically() -> None:
    assert semver_key("1.10.0") > semver_key("1.9.3") > semver_key("1.9.0")
