"""``deploy/gunicorn.conf.py`` and ``cds-service serve --config``, which loads it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from gunicorn.config import Config
from gunicorn.workers.gasgi import ASGIWorker

from cds_service import cli
from cds_service.operations import prefork
from cds_service.operations.gunicorn_config import read_config_file
from cds_service.operations.gunicorn_logging import JsonLogger
from tests.common import capture_gunicorn_options
from tests.deploy.common import GUNICORN_CONF
from tests.deploy.common import gunicorn_conf_values


def test_workers_threads_and_log_level_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CDS_WORKERS", "3")
    monkeypatch.setenv("CDS_THREADS", "8")
    monkeypatch.setenv("CDS_LOG_LEVEL", "warning")

    conf = gunicorn_conf_values()

    assert (conf["workers"], conf["threads"], conf["loglevel"]) == (3, 8, "warning")
    assert conf["worker_class"] == "cds_service.operations.front.BufferingWorker"
    assert conf["preload_app"] is True
    assert conf["bind"] == ["0.0.0.0:8080"]  # reachable from outside the container
    assert conf["worker_tmp_dir"] == "/dev/shm"  # the root filesystem is read-only
    assert conf["graceful_timeout"] < conf["timeout"]


def test_defaults_follow_the_settings_when_the_environment_is_silent() -> None:
    from cds_service.settings import Settings

    conf = gunicorn_conf_values()
    assert (conf["workers"], conf["threads"]) == (Settings().workers, Settings().threads)


def test_every_name_the_file_assigns_is_a_gunicorn_setting() -> None:
    # gunicorn silently ignores unknown names, so a misspelt setting would never take effect.
    tree = ast.parse(GUNICORN_CONF.read_text(encoding="utf-8"))
    assigned = {
        target.id
        for node in tree.body if isinstance(node, ast.Assign)
        for target in node.targets if isinstance(target, ast.Name)
    }
    unknown = {name for name in assigned if not name.startswith("_")} - set(Config().settings)
    assert assigned and not unknown


def test_gunicorn_accepts_every_value_of_the_file() -> None:
    config = Config()
    for name, value in read_config_file(GUNICORN_CONF).items():
        config.set(name, value)  # gunicorn's own validators raise on a bad value
    assert config.worker_class_str == "cds_service.operations.front.BufferingWorker"
    assert issubclass(config.worker_class, ASGIWorker)  # gunicorn imports it: it exists
    assert config.logger_class is JsonLogger
    assert config.wsgi_app == "cds_service.app:create_app()"
    assert config.control_socket_disable is True


def test_serve_and_the_deploy_file_share_one_set_of_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One source (cds_service/operations/gunicorn_config.py): they used to differ (graceful
    timeout 20 vs 25, keep-alive 5 vs 75); only the public listener's address and ``wsgi_app``
    may."""
    monkeypatch.setenv("CDS_ADMIN_BIND", "0.0.0.0:9090")
    seen = capture_gunicorn_options(monkeypatch)
    assert cli.main(["serve"]) == 0
    served = {k: v for k, v in seen.items() if k != "ran"}
    deployed = read_config_file(GUNICORN_CONF)

    assert served.pop("bind") == ["127.0.0.1:8080", "0.0.0.0:9090"]
    assert deployed.pop("bind") == ["0.0.0.0:8080", "0.0.0.0:9090"]
    assert deployed.pop("wsgi_app") == "cds_service.app:create_app()"
    assert served == deployed
    assert (served["graceful_timeout"], served["keepalive"]) == (25, 75)


def test_no_control_socket_is_opened_under_the_users_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    """gunicorn >= 25.1 opens a gunicornc control socket by default, at $XDG_RUNTIME_DIR or
    ~/.gunicorn/gunicorn.ctl: one path for every instance the user runs."""
    seen = capture_gunicorn_options(monkeypatch)
    assert cli.main(["serve"]) == 0
    config = Config()
    for name, value in seen.items():
        if name != "ran":
            config.set(name, value)
    assert config.control_socket_disable is True


def test_serve_config_overrides_defaults_and_flags_override_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = capture_gunicorn_options(monkeypatch)
    monkeypatch.setenv("CDS_WORKERS", "3")

    assert cli.main(["serve", "--config", str(GUNICORN_CONF), "--threads", "7"]) == 0

    assert seen["ran"]
    assert seen["bind"] == ["0.0.0.0:8080"]  # from the file
    assert seen["keepalive"] == 75 and seen["graceful_timeout"] == 25  # from the file
    assert (seen["workers"], seen["threads"]) == (3, 7)  # CDS_WORKERS; --threads wins


def test_serve_host_and_port_flags_replace_the_files_bind(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = capture_gunicorn_options(monkeypatch)
    argv = ["serve", "--config", str(GUNICORN_CONF), "--host", "127.0.0.2", "--port", "9001"]
    assert cli.main(argv) == 0
    assert seen["bind"] == ["127.0.0.2:9001"]


def test_serve_without_config_keeps_the_loopback_default(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = capture_gunicorn_options(monkeypatch)
    assert cli.main(["serve"]) == 0
    assert seen["bind"] == ["127.0.0.1:8080"]


def test_serve_with_a_missing_config_exits_2_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    seen = capture_gunicorn_options(monkeypatch)
    missing = tmp_path / "nope.conf.py"
    assert cli.main(["serve", "--config", str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err and "ran" not in seen


def test_serve_with_a_failing_config_exits_2_with_the_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    seen = capture_gunicorn_options(monkeypatch)
    broken = tmp_path / "broken.conf.py"
    broken.write_text("workers = int('many')\n", encoding="utf-8")
    assert cli.main(["serve", "--config", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "ValueError" in err and "Traceback" not in err and "ran" not in seen


def test_the_file_warms_up_before_the_fork_and_opens_pools_after() -> None:
    conf = gunicorn_conf_values()
    assert conf["when_ready"] is prefork.when_ready
    assert conf["post_worker_init"] is prefork.post_worker_init
    assert conf["worker_exit"] is prefork.worker_exit


def test_reading_the_file_leaves_prometheus_client_unimported() -> None:
    # cds-service serve reads the file before it sets PROMETHEUS_MULTIPROC_DIR, which
    # prometheus-client reads once, at import: imported earlier, the workers' metrics would split.
    script = (f"import runpy, sys; runpy.run_path({str(GUNICORN_CONF)!r}); "
              "print('prometheus_client' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True, timeout=60)
    assert result.stdout.strip() == "False"


def test_serve_refuses_an_operator_listener_on_the_public_port(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    seen = capture_gunicorn_options(monkeypatch)
    monkeypatch.setenv("CDS_ADMIN_BIND", "127.0.0.1:8080")
    assert cli.main(["serve"]) == 2
    assert "CDS_ADMIN_BIND" in capsys.readouterr().err and "ran" not in seen
