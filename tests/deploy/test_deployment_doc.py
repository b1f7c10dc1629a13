"""The deployment guide (docs/deployment.md, linked from the README) names files and Secret keys
that exist."""

from __future__ import annotations

import re

from tests.common import ROOT
from tests.deploy.common import KUBERNETES_DIR
from tests.deploy.common import load_yaml_documents

README = "\n".join(path.read_text(encoding="utf-8")
                   for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])


def test_every_deploy_path_the_readme_names_exists() -> None:
    paths = set(re.findall(r"\bdeploy/[\w./-]*\w", README))
    assert {"deploy/kubernetes/migrate", "deploy/lock.py", "deploy/constraints.txt"} <= paths
    missing = sorted(path for path in paths if not (ROOT / path).exists())
    assert not missing


def test_the_readmes_secret_command_creates_the_keys_the_pods_read() -> None:
    (deployment,) = load_yaml_documents(KUBERNETES_DIR / "deployment.yaml")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    keys = {entry["valueFrom"]["secretKeyRef"]["key"]
            for entry in container["env"] if "secretKeyRef" in entry.get("valueFrom", {})}
    command = README[README.index("kubectl create secret generic cds-service"):]
    command = command[:command.index("```")]
    assert keys == set(re.findall(r"--from-(?:literal|file)=([\w-]+)=", command))
