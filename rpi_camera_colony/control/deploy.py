"""``rcc_deploy -c CONFIG``: install this exact rpi_camera_colony version on every Pi of a config.

Builds a wheel of the running version (from its source checkout, or takes ``--wheel``), copies it to each host over
SSH (the same keys and ``ssh_config_file`` as the conductor), installs it with ``remote_python_interpreter -m pip``
and checks the version that imports afterwards. Hosts are done in parallel; a table shows each host's result.
Exit codes: 0 all hosts ok, 1 some failed, 2 bad config or arguments.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from rpi_camera_colony import __version__
from rpi_camera_colony.cli_help import HelpFormatter, plain
from rpi_camera_colony.config.settings import ColonySettings, ControllerSettings
from rpi_camera_colony.curve import CONDUCTOR_KEY, ensure_keys
from rpi_camera_colony.exc import ColonyError, ConfigError, LaunchError

REMOTE_WHEELS = "${RCC_RUNTIME_DIR:-$HOME/.cache/rpi_camera_colony}/wheels"


@dataclass(frozen=True)
class HostResult:
    host: str
    cameras: tuple[str, ...]
    ok: bool
    version: str
    seconds: float
    message: str


def build_wheel(destination: Path) -> Path:
    """Build a wheel of the running package from its source checkout.

    Raises:
        ColonyError: if this installation has no source checkout or the build fails.
    """
    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file():
        raise ColonyError(
            f"rpi_camera_colony {__version__} is not installed from a source checkout: build or download its wheel "
            "and pass --wheel PATH"
        )
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(destination), str(root)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    wheels = sorted(destination.glob(f"rpi_camera_colony-{__version__}-*.whl"))
    if result.returncode != 0 or not wheels:
        raise ColonyError(f"building the wheel failed: {result.stderr.strip()[-2000:]}")
    return wheels[0]


def hosts_of(settings: ColonySettings) -> dict[str, list[ControllerSettings]]:
    """Cameras grouped by host, leaving out cameras that run on this machine."""
    found: dict[str, list[ControllerSettings]] = {}
    for controller in settings.controllers.values():
        if not controller.is_local:
            found.setdefault(controller.address, []).append(controller)
    return found


def key_steps(key_folder: str, names: list[str]) -> list[tuple[str, str, Optional[Path]]]:
    """Copy each camera's CURVE key pair and the conductor's public key to the same folder on its Pi (private,
    written to a temporary name first, so a half-copied key never replaces a good one)."""
    local = Path(key_folder).expanduser()  # made for every camera by main() before the hosts are served
    remote = '"$HOME"' + key_folder[1:] if key_folder.startswith("~") else shlex.quote(key_folder)
    steps: list[tuple[str, str, Optional[Path]]] = []
    for file in [f"{CONDUCTOR_KEY}.key", *(f"{name}.key_secret" for name in names)]:
        target = f"{remote}/{file}"
        script = f"umask 077 && mkdir -p {remote} && cat > {target}.part && mv -f {target}.part {target}"
        steps.append((f"keys ({file})", script, local / file))
    return steps


def deploy_host(
    settings: ColonySettings, cameras: list[ControllerSettings], wheel: Path, *, no_deps: bool
) -> HostResult:
    from rpi_camera_colony.control.ssh import SshLauncher, explain_ssh_failure

    launcher = SshLauncher(settings.general)
    first = cameras[0]
    target = launcher.target(first)
    names = tuple(c.name for c in cameras)
    started = time.monotonic()
    python = shlex.quote(settings.general.remote_python_interpreter)
    sudo = "sudo -n " if settings.general.use_sudo else ""

    def fail(message: str) -> HostResult:
        return HostResult(target, names, False, "", time.monotonic() - started, message)

    remote_wheel = f"{REMOTE_WHEELS}/{wheel.name}"
    pip = f"{sudo}{python} -m pip install --quiet"
    # Replace this package whatever version is there; then let pip add missing dependencies (unless --no-deps).
    install = f'{pip} --force-reinstall --no-deps "{remote_wheel}" 2>&1'
    if not no_deps:
        install += f' && {pip} "{remote_wheel}" 2>&1'
    steps: list[tuple[str, str, Optional[Path]]] = [
        ("copy", f'mkdir -p "{REMOTE_WHEELS}" && cat > "{remote_wheel}"', wheel),
        ("install", install, None),
        ("check", f"{python} -c 'import rpi_camera_colony as r; print(r.__version__)'", None),
    ]
    if settings.control.curve:
        steps[2:2] = key_steps(settings.control.key_folder, [c.name for c in cameras])
    version = ""
    for step, script, stdin in steps:
        try:
            result = launcher.ssh_run(first, script, 600, stdin_path=stdin)
        except LaunchError as err:
            return fail(f"{step}: {err}")
        if result.returncode == 255:
            return fail(explain_ssh_failure(target, result.returncode, result.stderr))
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip().splitlines()
            return fail(f"{step} failed: {output[-1] if output else f'exit code {result.returncode}'}")
        version = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    if version != __version__:
        return fail(f"installed, but {version or 'nothing'} imports instead of {__version__}")
    return HostResult(target, names, True, version, time.monotonic() - started, "installed")


def format_table(results: list[HostResult]) -> str:
    lines = [f"{'host':<28} {'cameras':<30} {'result':<7} {'version':<10} {'seconds':>7}  message"]
    for r in results:
        cams = ", ".join(r.cameras)
        lines.append(
            f"{r.host:<28} {cams:<30} {'ok' if r.ok else 'FAILED':<7} {r.version:<10} {r.seconds:>7.1f}  {r.message}"
        )
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="rcc_deploy", description=plain(__doc__ or ""), formatter_class=HelpFormatter)
    parser.add_argument("--config-file", "-c", dest="config_file", required=True, help="the colony's config file")
    parser.add_argument("--wheel", type=Path, default=None, help="install this wheel instead of building one")
    parser.add_argument("--camera", action="append", default=None, metavar="NAME", help="only this camera's host")
    parser.add_argument("--no-deps", action="store_true", help="do not let pip install dependencies (offline Pis)")
    args = parser.parse_args(argv)

    from rpi_camera_colony.config.loading import load_config

    try:
        settings = load_config(args.config_file)
        if args.camera:
            settings = settings.only(args.camera)
    except ConfigError as err:
        print(f"rcc_deploy: {err}", file=sys.stderr)
        return 2
    hosts = hosts_of(settings)
    if settings.control.curve:
        try:
            ensure_keys(settings.control.key_folder, list(settings.controllers))
        except ColonyError as err:
            print(f"rcc_deploy: {err}", file=sys.stderr)
            return 2
    if not hosts:
        print("rcc_deploy: no camera in this config runs on another machine; nothing to deploy")
        return 0
    with tempfile.TemporaryDirectory(prefix="rcc-deploy-") as tmp:
        try:
            wheel = args.wheel if args.wheel is not None else build_wheel(Path(tmp))
        except ColonyError as err:
            print(f"rcc_deploy: {err}", file=sys.stderr)
            return 2
        if not wheel.is_file():
            print(f"rcc_deploy: wheel not found: {wheel}", file=sys.stderr)
            return 2
        print(f"deploying {wheel.name} to {len(hosts)} host(s)...", flush=True)
        with ThreadPoolExecutor(max_workers=min(16, len(hosts))) as pool:
            results = list(
                pool.map(lambda cams: deploy_host(settings, cams, wheel, no_deps=args.no_deps), hosts.values())
            )
    print(format_table(results))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
