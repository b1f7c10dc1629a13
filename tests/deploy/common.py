"""Paths of the deployment files and the readers the deployment tests share."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import yaml
from dockerfile_parse import DockerfileParser

from tests.common import ROOT

DEPLOY_DIR = ROOT / "deploy"
KUBERNETES_DIR = DEPLOY_DIR / "kubernetes"
DOCKERFILE = DEPLOY_DIR / "Dockerfile"
COMPOSE_FILE = DEPLOY_DIR / "compose.yaml"
GUNICORN_CONF = DEPLOY_DIR / "gunicorn.conf.py"


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    """Every non-empty YAML document of a file."""
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def final_stage(path: Path = DOCKERFILE) -> list[dict[str, Any]]:
    """The instructions of a Dockerfile's last stage (the image that runs), comments dropped."""
    structure = DockerfileParser(str(path)).structure
    instructions = [i for i in structure if i["instruction"] != "COMMENT"]
    last_from = max(n for n, i in enumerate(instructions) if i["instruction"] == "FROM")
    return instructions[last_from:]


def exec_form(value: str) -> list[str]:
    """An instruction's JSON (exec form) argument list; fails on the shell form."""
    args = json.loads(value)
    assert isinstance(args, list) and all(isinstance(arg, str) for arg in args), value
    return args


def gunicorn_conf_values() -> dict[str, Any]:
    """Run ``deploy/gunicorn.conf.py`` in the current environment and return its namespace."""
    return runpy.run_path(str(GUNICORN_CONF))
