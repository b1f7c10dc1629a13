"""``deploy/constraints.txt``: the image installs every package at one pinned version, and the pins
are current with ``pyproject.toml`` (``deploy/lock.py`` regenerates them)."""

from __future__ import annotations

import shlex
import tomllib
from importlib import metadata

from dockerfile_parse import DockerfileParser
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.common import ROOT
from tests.deploy.common import DEPLOY_DIR
from tests.deploy.common import DOCKERFILE

CONSTRAINTS = DEPLOY_DIR / "constraints.txt"
BUILD_BACKEND = {"setuptools"}
"""pyproject's build-system: installed first, the project then built without build isolation."""


def _pins() -> dict[str, tuple[str, str]]:
    pins = {}
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, separator, version = line.partition("==")
            assert separator and version and " " not in line, f"not name==version: {line!r}"
            pins[canonicalize_name(name)] = (name, version)
    return pins


def _runtime_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(text) for text in project["dependencies"]]


def _closure() -> set[str]:
    """Names of every package the image installs (the runtime dependencies and the build
    backend, with theirs), by the metadata of the packages installed here."""
    seen: set[tuple[str, frozenset[str]]] = set()
    pending = _runtime_requirements() + [Requirement(name) for name in sorted(BUILD_BACKEND)]
    while pending:
        requirement = pending.pop()
        key = (canonicalize_name(requirement.name), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        environments = [{"extra": extra} for extra in requirement.extras] or [{"extra": ""}]
        try:
            requires = metadata.requires(requirement.name) or []
        except metadata.PackageNotFoundError:  # not installed here: its own needs are unknown
            assert key[0] in BUILD_BACKEND, f"{requirement.name} is not installed"
            requires = []
        for text in requires:
            dependency = Requirement(text)
            if dependency.marker is None or any(dependency.marker.evaluate(environment)
                                                for environment in environments):
                pending.append(dependency)
    return {name for name, _ in seen}


def test_the_build_backend_is_pinned_as_pyproject_requires_it() -> None:
    build = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["build-system"]
    requirements = [Requirement(text) for text in build["requires"]]
    assert {canonicalize_name(r.name) for r in requirements} == BUILD_BACKEND
    for requirement in requirements:
        assert requirement.specifier.contains(_pins()[canonicalize_name(requirement.name)][1])


def test_every_runtime_dependency_is_pinned_within_its_pyproject_range() -> None:
    pins = _pins()
    for requirement in _runtime_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in {CONSTRAINTS.name}: run deploy/lock.py"
        version = pins[name][1]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{requirement} but {CONSTRAINTS.name} pins {version}: run deploy/lock.py")


def test_the_pins_are_the_whole_dependency_tree_and_nothing_else() -> None:
    pinned = set(_pins())
    needed = _closure()
    assert needed - pinned == set(), "unpinned: run deploy/lock.py"
    assert pinned - needed == set(), "pinned but no longer needed: run deploy/lock.py"


def test_the_image_installs_with_the_constraints_and_no_unpinned_build_backend() -> None:
    runs = [i["value"] for i in DockerfileParser(str(DOCKERFILE)).structure
            if i["instruction"] == "RUN"]
    installs = [shlex.split(part) for run in runs for part in run.split("&&")
                if "pip install" in part]
    assert installs
    for words in installs:
        assert words[words.index("--constraint") + 1] == "constraints.txt", words
    assert installs[0][-1:] == sorted(BUILD_BACKEND)  # the backend first, then the project
    assert installs[-1][-1] == "." and "--no-build-isolation" in installs[-1]
    copies = [i["value"].split() for i in DockerfileParser(str(DOCKERFILE)).structure
              if i["instruction"] == "COPY"]
    assert ["deploy/constraints.txt", "./"] in copies
