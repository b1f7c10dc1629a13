"""Sample live gunicorn workers with py-spy and sum the stacks by function."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from bench.inprocess import HotSpot
from bench.records import ROOT

_FRAME = re.compile(r"^(?P<function>.*) \((?P<path>[^()]*?)(?::(?P<line>\d+))?\)$")


def executable() -> str | None:
    """The py-spy binary beside this Python, or on PATH; None when it is not installed."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def record(pids: list[int], seconds: float, work: Path, load: Callable[[], object]) -> list[str]:
    """Sample every thread of ``pids`` while ``load()`` runs; returns the raw stack lines.

    Raises:
        RuntimeError: py-spy is missing or could not attach (no ptrace permission).
    """
    binary = executable()
    if binary is None:
        raise RuntimeError("py-spy is not installed")
    processes = []
    outputs = []
    for pid in pids:
        output = work / f"py-spy-{pid}.txt"
        outputs.append(output)
        processes.append(subprocess.Popen(
            [binary, "record", "--pid", str(pid), "--duration", str(int(seconds)),
             "--rate", "250", "--format", "raw", "--nonblocking", "--output", str(output)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        ))
    load()
    lines: list[str] = []
    for process, output in zip(processes, outputs, strict=True):
        _, err = process.communicate(timeout=seconds + 30)
        if process.returncode != 0 or not output.exists():
            message = err.decode(errors="replace").strip().splitlines()
            raise RuntimeError(message[-1] if message else "py-spy failed")
        lines += output.read_text().splitlines()
    return lines


def hot_spots(lines: list[str]) -> tuple[int, list[HotSpot]]:
    """Samples taken, and every function's self and total share of them."""
    totals: dict[tuple[str, str], list[int]] = {}
    samples = 0
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        samples += count
        frames = [_parse(frame) for frame in stack.split(";")]
        for key in dict.fromkeys(frames):  # a recursive function counts once per stack
            totals.setdefault(key, [0, 0])[1] += count
        leaf = totals.setdefault(frames[-1], [0, 0])
        leaf[0] += count
    spots = [HotSpot(function, where, own / samples, total / samples)
             for (function, where), (own, total) in totals.items()] if samples else []
    return samples, spots


def _parse(frame: str) -> tuple[str, str]:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip(), ""
    path = _short(match["path"])
    module = path.removesuffix(".py").replace("/", ".")
    return f"{module}.{match['function']}", path


def _short(path: str) -> str:
    for marker in ("/site-packages/", f"{ROOT}/", "/lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path
