"""``rcc_collect``: bring an acquisition's files home from every camera's machine, verified.

For every camera of the config, its files of the acquisition (``{name}.{camera}.*.rcc.*`` in
``remote_data_path/{group}/{name}`` on its host) are copied with rsync into ``DEST/{group}/{name}/``: over the
user's OpenSSH set-up for cameras on other hosts (as the launcher uses it), locally for cameras on this machine;
hosts in parallel, resumable (``--partial``: an interrupted copy continues where it stopped). Then every file is
verified: its SHA-256 computed on the camera's host against the copy's; the results go into the manifest
``DEST/{group}/{name}/rcc.manifest.sha256`` (``sha256sum -c`` reads it). A copy that does not match is copied again
(a second run repairs what no longer matches). ``--delete-remote`` then deletes on the host only files whose copy
was verified in this run, lists them, and removes the acquisition folder there once it is empty. Before copying, DEST
must have room for what is still to come.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import shlex
import shutil
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Optional

from tqdm import tqdm

from rpi_camera_colony.config.settings import ColonySettings, ControllerSettings
from rpi_camera_colony.control.nas import parse_remote, push
from rpi_camera_colony.control.ssh import SshLauncher, explain_ssh_failure
from rpi_camera_colony.exc import ColonyError
from rpi_camera_colony.files import MANIFEST, SIGNATURE, read_manifest, session_folder

logger = logging.getLogger(__name__)

#: Seconds an ssh listing or hashing of one camera's files may take.
REMOTE_TIMEOUT = 600.0


@dataclass
class CameraCollection:
    """What happened to one camera's files."""

    camera: str
    host: str
    files: int = 0
    bytes: int = 0
    verified: int = 0
    repaired: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    error: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.files > 0 and self.verified == self.files


def _lines(stream: IO[bytes]) -> Iterator[str]:
    """The lines of a stream that ends them with \\r (progress) or \\n, as they come."""
    buffer = ""
    while chunk := stream.read1(4096):  # type: ignore[attr-defined]  # a BufferedReader: what is there, no waiting
        buffer += chunk.decode(errors="replace")
        *complete, buffer = buffer.replace("\r", "\n").split("\n")
        yield from complete
    if buffer:
        yield buffer


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Collector:
    """Collects one acquisition of a colony (see the module)."""

    def __init__(
        self,
        settings: ColonySettings,
        acquisition_name: str,
        dest: Path,
        *,
        delete_remote: bool = False,
        cameras: Optional[list[str]] = None,
        bwlimit: Optional[int] = None,
    ) -> None:
        self.settings = settings.replace_general(acquisition_name=acquisition_name)
        if cameras:
            self.settings = self.settings.only(cameras)
        general = self.settings.general
        self.name = general.acquisition_name
        self.remote_folder = session_folder(general.remote_data_path, general.group, self.name)
        self.dest = session_folder(str(dest), general.group, self.name)
        self.delete_remote = delete_remote
        self.bwlimit = bwlimit  #: KB/s per camera's copy (rsync --bwlimit), so as not to fill a shared network
        self.ssh = SshLauncher(general)
        self._manifest_lock = threading.Lock()  # cameras finish on threads of their own; one manifest

    # -- per camera --------------------------------------------------------------------------------------------

    def _pattern(self, camera: str) -> str:
        return f"{self.name}.{camera}.*{SIGNATURE}*"

    def _remote_script(self, camera: str, action: str) -> str:
        folder = shlex.quote(str(self.remote_folder))
        # the pattern is made of checked names (letters, digits, '_', '-', '.') and is left unquoted to be expanded
        return f"cd {folder} 2>/dev/null || exit 3; for f in {self._pattern(camera)}; do " \
               f"[ -f \"$f\" ] || continue; {action}; done"  # fmt: skip

    def _hashes(self, controller: ControllerSettings) -> Optional[dict[str, tuple[int, str]]]:
        """Every file of the camera on its host: name -> (size, sha256); None when the host has no such folder.

        Raises:
            ColonyError: the host cannot be reached.
        """
        action = 'printf "%s %s " "$(wc -c < "$f")" "$f"; sha256sum "$f" | cut -d" " -f1'
        if controller.is_local:
            folder = Path(self.remote_folder).expanduser()
            if not folder.is_dir():
                return None
            return {p.name: (p.stat().st_size, _sha256(p)) for p in sorted(folder.glob(self._pattern(controller.name)))}
        result = self.ssh.ssh_run(controller, self._remote_script(controller.name, action), REMOTE_TIMEOUT)
        if result.returncode == 3:
            return None
        if result.returncode != 0:
            raise ColonyError(explain_ssh_failure(self.ssh.target(controller), result.returncode, result.stderr))
        found = {}
        for line in result.stdout.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0].isdigit():
                found[parts[1]] = (int(parts[0]), parts[2])
        return found

    def _no_folder(self, controller: ControllerSettings) -> str:
        """That the camera's host has no folder of the acquisition, where it was looked for."""
        if not controller.is_local:
            return f"no folder {self.remote_folder} on {self.ssh.target(controller)}"
        folder = Path(self.remote_folder).expanduser()
        said = f"no folder {folder.absolute()} on this machine"
        if not folder.is_absolute():
            said += (f" (remote_data_path = {self.settings.general.remote_data_path} is relative: to the folder "
                     "rcc_collect runs in, as it was to the one the conductor ran in; run it there, or give the "
                     "config an absolute path)")  # fmt: skip
        return said

    def _copy(self, controller: ControllerSettings, names: list[str], total: int) -> None:
        """rsync these files of the camera into DEST (resumable), with a progress bar of their ``total`` bytes.

        Raises:
            ColonyError: rsync failed (its message).
        """
        if not names:
            return
        self.dest.mkdir(parents=True, exist_ok=True)
        folder = str(self.remote_folder)
        if controller.is_local:
            sources = [str(Path(folder).expanduser() / name) for name in names]
            command = ["rsync", "-a", "--partial", *sources, str(self.dest) + "/"]
        else:
            prefix = " ".join(shlex.quote(part) for part in self.ssh.ssh_prefix())
            # one remote source, then more from the same host as ":path" (rsync passes each path as it is)
            sources = [f"{self.ssh.target(controller)}:{folder}/{names[0]}", *(f":{folder}/{n}" for n in names[1:])]
            command = ["rsync", "-a", "--partial", "-e", prefix, *sources, str(self.dest) + "/"]
        command.insert(1, "--info=progress2")
        if self.bwlimit:
            command.insert(1, f"--bwlimit={self.bwlimit}")
        with tqdm(total=total, unit="B", unit_scale=True, desc=controller.name, disable=None, leave=False) as bar:
            process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
            )
            assert process.stdout is not None and process.stderr is not None
            for line in _lines(process.stdout):  # "  1,234,567  45%  1.23MB/s    0:00:05"
                fields = line.split()
                if fields and fields[0].replace(",", "").isdigit():
                    bar.update(max(0, int(fields[0].replace(",", "")) - bar.n))
            error = process.stderr.read().decode(errors="replace")
            code = process.wait()
        if code != 0:
            tail = error.strip().splitlines()[-1:] or [f"exit {code}"]
            raise ColonyError(f"rsync from {self.ssh.target(controller)} failed: {tail[0]}")

    def _delete(self, controller: ControllerSettings, names: list[str]) -> None:
        """Delete these files of the camera on its host, then its acquisition folder if that is left empty.

        Raises:
            ColonyError: over SSH, the host refused or could not be reached.
            OSError: on this machine, a file could not be deleted.
        """
        folder = Path(self.remote_folder).expanduser()
        if controller.is_local:
            for name in names:
                (folder / name).unlink(missing_ok=True)  # gone already: deleted by an earlier run
            with contextlib.suppress(OSError):  # not empty (other cameras' or other files), or gone: it stays so
                folder.rmdir()
            return
        files = " ".join(shlex.quote(name) for name in names)
        quoted = shlex.quote(str(self.remote_folder))
        # no folder: deleted by an earlier run. rmdir removes it only when empty (relative to where cd started).
        script = (f"[ -d {quoted} ] || exit 0; cd {quoted} && rm -f -- {files} && cd - >/dev/null && "
                  f"{{ rmdir -- {quoted} 2>/dev/null; true; }}")  # fmt: skip
        result = self.ssh.ssh_run(controller, script, REMOTE_TIMEOUT)
        if result.returncode != 0:
            raise ColonyError(explain_ssh_failure(self.ssh.target(controller), result.returncode, result.stderr))

    def survey(self, controller: ControllerSettings) -> tuple[CameraCollection, dict[str, tuple[int, str]], list[str]]:
        """The camera's files on its host (size, SHA-256), and which of them DEST lacks or holds wrong. Never
        raises: a failure is the outcome's error."""
        outcome = CameraCollection(controller.name, "this machine" if controller.is_local else controller.address)
        remote: dict[str, tuple[int, str]] = {}
        to_copy: list[str] = []
        try:
            found = self._hashes(controller)
            remote = found or {}
            outcome.files, outcome.bytes = len(remote), sum(size for size, _ in remote.values())
            if not remote:
                self._already_collected(controller, outcome, no_folder=found is None)
            to_copy = [n for n, (size, digest) in remote.items() if not self._matches(n, size, digest)]
        except ColonyError as err:
            outcome.error = str(err)
        return outcome, remote, to_copy

    def finish(
        self,
        controller: ControllerSettings,
        outcome: CameraCollection,
        remote: dict[str, tuple[int, str]],
        to_copy: list[str],
    ) -> CameraCollection:
        """Copy what is missing or wrong, verify every file, write the manifest, and with delete_remote delete the
        verified files on the host. Never raises."""
        if outcome.error is not None or not remote:
            return outcome
        try:
            repairs = [n for n in to_copy if (self.dest / n).exists()]
            for name in repairs:  # a copy that no longer matches: copied again from scratch
                (self.dest / name).unlink()
            outcome.repaired = repairs
            self._copy(controller, to_copy, sum(remote[n][0] for n in to_copy))
            verified = {n: digest for n, (_, digest) in remote.items() if n not in to_copy}
            verified.update({n: remote[n][1] for n in to_copy if self._matches(n, *remote[n])})
            outcome.verified = len(verified)
            self._write_manifest(verified)
            if outcome.verified != outcome.files:
                bad = sorted(set(remote) - set(verified))
                raise ColonyError(f"{len(bad)} copied file(s) do not match the camera's: {', '.join(bad[:3])}")
            if self.delete_remote:
                self._delete(controller, sorted(verified))
                outcome.deleted = sorted(verified)
        except ColonyError as err:
            outcome.error = str(err)
        except OSError as err:  # DEST: a file that cannot be replaced, a full disk, ...
            outcome.error = f"{err.strerror}: {err.filename}"
        return outcome

    def _already_collected(self, controller: ControllerSettings, outcome: CameraCollection, *, no_folder: bool) -> None:
        """No file (or no folder: ``no_folder``) on the camera's machine: fine if the manifest lists this camera's
        copies and they still match (an earlier run verified them and deleted the originals, and their folder if it
        was left empty).

        Raises:
            ColonyError: nothing was ever collected, or a verified copy was damaged since (no original is left).
        """
        camera = controller.name
        listed = {
            name: digest
            for name, digest in read_manifest(self.dest).items()
            if name.startswith(f"{self.name}.{camera}.")
        }
        if not listed and no_folder:
            raise ColonyError(self._no_folder(controller))
        if not listed:
            raise ColonyError(f"no file of {self.name} for {camera} in {self.remote_folder}")
        damaged = [n for n, d in listed.items() if not (self.dest / n).is_file() or _sha256(self.dest / n) != d]
        if damaged:
            raise ColonyError(f"copies damaged since they were verified, and the originals were deleted: {damaged[:3]}")
        outcome.files = outcome.verified = len(listed)
        outcome.bytes = sum((self.dest / n).stat().st_size for n in listed)

    def delete_verified(self, outcome: CameraCollection) -> None:
        """Delete on the camera's host the files of a camera the manifest lists (after they were verified where they
        are kept); the outcome counts them, or says why not."""
        controller = self.settings.controllers[outcome.camera]
        mine = f"{self.name}.{outcome.camera}."
        names = sorted(name for name in read_manifest(self.dest) if name.startswith(mine))
        try:
            self._delete(controller, names)
            outcome.deleted = names
        except (ColonyError, OSError) as err:
            outcome.error = f"deleting on the camera failed: {err}"

    def _matches(self, name: str, size: int, digest: str) -> bool:
        path = self.dest / name
        return path.is_file() and path.stat().st_size == size and _sha256(path) == digest

    def _write_manifest(self, verified: dict[str, str]) -> None:
        with self._manifest_lock:
            self._merge_manifest(verified)

    def _merge_manifest(self, verified: dict[str, str]) -> None:
        path = self.dest / MANIFEST
        entries = read_manifest(self.dest)
        entries.update(verified)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_text("".join(f"{digest}  {name}\n" for name, digest in sorted(entries.items())))
        partial.replace(path)

    # -- all cameras -------------------------------------------------------------------------------------------

    def check_room(self, sizes: int) -> None:
        """Raises ColonyError when DEST cannot hold ``sizes`` more bytes."""
        probe = self.dest
        while not probe.exists():
            probe = probe.parent
        free = shutil.disk_usage(probe).free
        if sizes > free:
            raise ColonyError(
                f"{self.dest} has {free / 1e9:.1f} GB free, the files need {sizes / 1e9:.1f} GB: free space or "
                "choose another --to"
            )

    def run(self, jobs: int = 4) -> list[CameraCollection]:
        """Collect every camera, hosts in parallel; one outcome per camera, in config order.

        Raises:
            ColonyError: DEST has no room for what is to be copied (nothing is copied then).
        """
        controllers = list(self.settings.controllers.values())
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            surveys = list(pool.map(self.survey, controllers))
            self.check_room(sum(remote[n][0] for _, remote, to_copy in surveys for n in to_copy))
            return list(pool.map(lambda pair: self.finish(pair[0], *pair[1]), zip(controllers, surveys)))


def _check_folder(option: str, path: Path) -> None:
    """Raises ColonyError when ``path`` cannot be a folder: it, or the nearest part of it that exists, is a file."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise ColonyError(f"{option} {path}: {probe} is a file, not a folder: give a folder to collect into")


def main(argv: Optional[list[str]] = None) -> int:
    """``rcc_collect -c CONFIG -n NAME --to DEST [--delete-remote] [--jobs N] [--camera C]``: exit 0 only when every
    file of every camera was verified; 1 otherwise; 2 for bad arguments or config."""
    import argparse
    import sys

    from rpi_camera_colony.cli_help import HelpFormatter
    from rpi_camera_colony.config.loading import load_config
    from rpi_camera_colony.exc import ConfigError
    from rpi_camera_colony.files import check_name_part

    parser = argparse.ArgumentParser(
        prog="rcc_collect",
        description="RPi Camera Colony: copy an acquisition's files from every camera's machine into DEST, "
        "verify each against a SHA-256 computed on the camera's machine, and optionally delete the verified ones "
        "there.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--config-file", "-c", dest="config_file", required=True, help="the colony's config file")
    parser.add_argument("--acquisition-name", "-n", required=True, help="the acquisition (group__name as recorded)")
    parser.add_argument(
        "--to",
        dest="dest",
        required=True,
        help="where to put it: DEST/{group}/{name}/; DEST may be host:path (a server over SSH: collected here first)",
    )
    parser.add_argument(
        "--staging",
        default=str(Path("~/.cache/rpi_camera_colony/staging")),
        help="with DEST host:path: where files are collected and verified on this machine first (removed after)",
    )
    parser.add_argument("--delete-remote", action="store_true", help="then delete verified files on the cameras")
    parser.add_argument("--jobs", "-j", type=int, default=4, help="cameras copied at once")
    parser.add_argument("--camera", action="append", default=None, metavar="NAME", help="only this camera")
    parser.add_argument(
        "--bwlimit", type=int, default=None, metavar="KBPS", help="at most this many KB/s per camera's copy"
    )
    args = parser.parse_args(argv)
    if args.jobs < 1:
        print("rcc_collect: --jobs must be at least 1", file=sys.stderr)
        return 2
    if args.bwlimit is not None and args.bwlimit < 1:
        print("rcc_collect: --bwlimit must be at least 1 (KB/s); leave it out for no limit", file=sys.stderr)
        return 2
    if shutil.which("rsync") is None:
        print("rcc_collect: rsync is needed on this machine (and on the Pis): apt install rsync", file=sys.stderr)
        return 2
    server = parse_remote(args.dest)
    try:
        check_name_part("--acquisition-name", args.acquisition_name)
        _check_folder("--staging" if server else "--to", Path(args.staging if server else args.dest).expanduser())
        collector = Collector(
            load_config(args.config_file),
            args.acquisition_name,
            Path(args.staging if server else args.dest).expanduser(),
            delete_remote=args.delete_remote and server is None,  # with a server: only once verified there
            cameras=args.camera,
            bwlimit=args.bwlimit,
        )
    except (ConfigError, ColonyError) as err:
        print(f"rcc_collect: {err}", file=sys.stderr)
        return 2
    try:
        outcomes = collector.run(args.jobs)
    except ColonyError as err:
        print(f"rcc_collect: {err}", file=sys.stderr)
        return 1
    copied = None
    if server is not None and all(o.ok for o in outcomes):
        target, path = server
        folder = str(session_folder(path, collector.settings.general.group, collector.name))
        copied = push(collector.dest, target, folder, collector.ssh.ssh_prefix())
        if copied.ok:
            if args.delete_remote:
                for outcome in outcomes:
                    collector.delete_verified(outcome)
            shutil.rmtree(collector.dest)  # the server's copy is verified: the staging copy goes
    print(f"{'camera':20} {'host':16} {'files':>5} {'MB':>9} {'verified':>8} {'repaired':>8} {'deleted':>7}  result")
    for o in outcomes:
        result = "ok" if o.ok else f"FAILED: {o.error}"
        print(f"{o.camera:20} {o.host:16} {o.files:>5} {o.bytes / 1e6:>9.2f} {o.verified:>8} {len(o.repaired):>8} "
              f"{len(o.deleted):>7}  {result}")  # fmt: skip
    if (collector.dest / MANIFEST).exists():
        print(f"files: {collector.dest}  (manifest: {MANIFEST})")
    if copied is not None:
        where = f"{copied.target}:{copied.folder}"
        print(
            f"server: {len(copied.verified)} file(s) verified on {where}"
            if copied.ok
            else f"server: FAILED: {copied.error}"
        )
    elif server is not None:
        print("server: nothing copied (not every camera was verified here)")
    return 0 if all(o.ok for o in outcomes) and (server is None or (copied is not None and copied.ok)) else 1
