"""``rcc_dashboard``: start the colony of a config and serve its web page.

    rcc_dashboard -c colony.config                      # http://127.0.0.1:8080/
    rcc_dashboard -c colony.config --host 0.0.0.0       # reachable from the network: a token is required

Every camera starts in live view (previewing, exposure settled); the page starts and stops recordings. Ctrl-C (or
SIGTERM) stops a recording in progress with complete files and ends every agent. Exit codes: 0 after a clean end,
1 when the colony could not start, 2 for a bad config or arguments.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import secrets
import socket
import sys
from typing import Any, Optional

from rpi_camera_colony import __version__
from rpi_camera_colony.cli_help import HelpFormatter

logger = logging.getLogger("rpi_camera_colony.dashboard.main")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rcc_dashboard",
        description="RPi Camera Colony: start every camera of a config and serve a web page to aim, watch, start "
        "and stop them.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument("--config-file", "-c", dest="config_file", required=True, help="the colony's config file")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to serve the page on (not loopback: a token is required)"
    )
    parser.add_argument("--port", type=int, default=8080, help="port to serve the page on (0: a free one)")
    parser.add_argument(
        "--token", default=None, help="the token the page needs (default: none on loopback, else a new one)"
    )
    parser.add_argument(
        "--camera", action="append", default=None, metavar="NAME", help="only this camera (repeat for several)"
    )
    parser.add_argument("--debug", "-d", action="store_true", help="show debug messages")
    return parser


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listen(host: str, port: int) -> socket.socket:
    """The page's listening socket.

    Raises:
        OSError: with a message saying what to change.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        hint = "choose another with --port (0: a free one)" if err.errno == 98 else "check --host"
        raise OSError(f"cannot serve the page on {host}:{port}: {err.strerror}; {hint}") from None
    sock.listen(64)
    sock.set_inheritable(True)
    return sock


def make_server(app: Any, *, debug: bool = False) -> Any:
    """A uvicorn server for the dashboard app that ends the page's streams as soon as it is told to stop (Ctrl-C,
    SIGTERM, :meth:`stop`), instead of waiting for them until its graceful-shutdown timeout."""
    import uvicorn

    class DashboardServer(uvicorn.Server):  # type: ignore[misc]
        def handle_exit(self, sig: int, frame: Any) -> None:
            app.state.close_streams()
            super().handle_exit(sig, frame)

        def stop(self) -> None:
            """Stop serving (from any thread)."""
            app.state.close_streams()
            self.should_exit = True

    config = uvicorn.Config(app, log_level="debug" if debug else "warning", timeout_graceful_shutdown=2, lifespan="on")
    return DashboardServer(config)


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        print("rcc_dashboard: --port must be in 0..65535", file=sys.stderr)
        return 2

    from rpi_camera_colony.config.loading import load_config
    from rpi_camera_colony.control.conductor import Conductor
    from rpi_camera_colony.control.main import Interrupt, setup_logging
    from rpi_camera_colony.dashboard.app import create_app
    from rpi_camera_colony.dashboard.session import DashboardSession
    from rpi_camera_colony.exc import ColonyError, ConfigError

    try:
        settings = load_config(args.config_file)
    except ConfigError as err:
        print(f"rcc_dashboard: {err}", file=sys.stderr)
        return 2
    setup_logging(args.debug, settings.log.level if settings.log.log_to_console else "WARNING")
    token = args.token
    if token is None and not is_loopback(args.host):
        token = secrets.token_urlsafe(16)
    try:
        sock = listen(args.host, args.port)
    except OSError as err:
        print(f"rcc_dashboard: {err}", file=sys.stderr)
        return 2
    interrupt = Interrupt()
    try:
        conductor = Conductor(settings=settings, cameras=args.camera)
    except ColonyError as err:
        sock.close()
        print(f"rcc_dashboard: {err}", file=sys.stderr)
        return 2 if isinstance(err, ConfigError) else 1
    try:
        try:
            conductor.stream_preview(True)
        except ColonyError as err:
            logger.error("live view not available on every camera: %s", err)
        session = DashboardSession(conductor)
        port = sock.getsockname()[1]
        shown = f"[{args.host}]" if ":" in args.host else args.host
        address = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
        print(f"rcc_dashboard: {len(conductor.controllers)} camera(s) at {address}  (Ctrl-C ends)", flush=True)
        if not interrupt.requested:
            make_server(create_app(session, token=token), debug=args.debug).run(sockets=[sock])
        if conductor.acquiring:
            logger.warning("stopping the recording in progress")
            session.stop()
    except ColonyError as err:
        print(f"rcc_dashboard: {err}", file=sys.stderr)
        return 1
    finally:
        sock.close()
        conductor.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
