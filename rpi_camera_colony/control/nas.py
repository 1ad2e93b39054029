"""``rcc_collect --to host:path``: the collected folder copied on to a server over SSH (a NAS), and verified there.

The files are first collected and verified into a staging folder on this machine (see
:mod:`~rpi_camera_colony.control.collect`); then rsync copies that folder, manifest included, to
``host:path/{group}/{name}/``, and ``sha256sum -c`` on the server checks every file against the manifest. Only then
may the cameras' originals be deleted, and the staging copy is removed.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from rpi_camera_colony.exc import ColonyError
from rpi_camera_colony.files import MANIFEST

#: ``host:path`` or ``user@host:path`` (a local path never has a ':' before its first '/').
REMOTE_DEST = re.compile(r"^(?P<target>(?:[^@/:\s]+@)?[^@/:\s]+):(?P<path>.*)$")
#: Seconds the server may take to check every file.
CHECK_TIMEOUT = 3600.0


def parse_remote(dest: str) -> Optional[tuple[str, str]]:
    """``(target, path)`` of a ``host:path`` destination, or None for a local one."""
    found = REMOTE_DEST.match(dest)
    if found is None or Path(dest).exists():
        return None
    return found["target"], found["path"] or "."


@dataclass
class NasCopy:
    """What reached the server."""

    target: str
    folder: str
    verified: list[str] = field(default_factory=list)
    error: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.verified)


def push(staging: Path, target: str, folder: str, ssh_prefix: list[str]) -> NasCopy:
    """Copy ``staging/`` (with its manifest) to ``target:folder/`` and check every file there. Never raises: a
    failure is the result's error."""
    result = NasCopy(target, folder)
    ssh = [*ssh_prefix, target]
    quoted = shlex.quote(folder)
    try:
        made = subprocess.run([*ssh, f"mkdir -p {quoted}"], capture_output=True, text=True, timeout=120)
        if made.returncode != 0:
            raise ColonyError(f"cannot make {folder} on {target}: {made.stderr.strip()[-300:]}")
        copied = subprocess.run(
            ["rsync", "-a", "--partial", "-e", " ".join(shlex.quote(p) for p in ssh_prefix), f"{staging}/",
             f"{target}:{folder}/"],
            capture_output=True, text=True, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        if copied.returncode != 0:
            last = (copied.stderr.strip().splitlines() or [f"exit {copied.returncode}"])[-1]
            raise ColonyError(f"rsync to {target} failed: {last}")
        check = subprocess.run(
            [*ssh, f"cd {quoted} && sha256sum -c {MANIFEST}"],
            capture_output=True, text=True, timeout=CHECK_TIMEOUT,
        )  # fmt: skip
        lines = [line.rsplit(": ", 1) for line in check.stdout.splitlines() if ": " in line]
        result.verified = [name for name, state in lines if state == "OK"]
        bad = [name for name, state in lines if state != "OK"]
        if check.returncode != 0 or bad:
            raise ColonyError(f"{len(bad) or 'some'} file(s) do not check out on {target}: {bad[:3]}")
    except subprocess.TimeoutExpired:
        result.error = f"{target} did not answer in time"
    except ColonyError as err:
        result.error = str(err)
    return result
