"""Reading a gunicorn configuration file for ``cds-service serve --config``."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

from gunicorn.config import Config


class GunicornConfigError(Exception):
    """The configuration file is missing or fails when run."""


def read_config_file(path: Path) -> dict[str, Any]:
    """The gunicorn settings a configuration file defines, read as ``gunicorn -c`` reads them.

    The file is run as Python; its top-level names that are gunicorn settings are kept and every
    other name (imports, private helpers) is ignored, as gunicorn itself does.

    Args:
        path: the ``.py`` configuration file.

    Returns:
        Setting name to value.

    Raises:
        GunicornConfigError: the file does not exist or raised while running.
    """
    if not path.is_file():
        raise GunicornConfigError(f"{path}: no such file")
    try:
        namespace = runpy.run_path(str(path))
    except Exception as exc:  # the file is arbitrary Python: report whatever it raised
        raise GunicornConfigError(f"{path}: {type(exc).__name__}: {exc}") from exc
    known = Config().settings
    return {name: value for name, value in namespace.items() if name in known}
