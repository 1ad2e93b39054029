"""``rcc_acquisition`` / ``python -m rpi_camera_colony.acquisition``: run one camera's agent.

Normally started by the conductor. The original package's arguments are accepted. With ``--auto-start`` it records
on its own (settings from the arguments) until ``--max-acquisition-time`` or Ctrl-C, conductor or not. With
``--selftest`` it checks this Pi and records a few seconds to verify it (see :mod:`.selftest`), then exits.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Optional

from rpi_camera_colony import __version__
from rpi_camera_colony import backend_registry as registry
from rpi_camera_colony.cli_help import HelpFormatter
from rpi_camera_colony.config.settings import GeneralSettings
from rpi_camera_colony.files import default_instance_name, get_datestr

logger = logging.getLogger(__name__)
#: the agent's defaults are the config's
DEFAULTS = GeneralSettings()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rcc_acquisition",
        description="RPi Camera Colony: acquisition agent for one camera (normally started by rcc_conductor).",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", "-v", action="version", version=__version__)
    general = parser.add_argument_group("accepted for compatibility with the original")
    general.add_argument("--print-interval", "-pi", type=float, default=0.5, help="accepted for compatibility; unused")
    agent = parser.add_argument_group("the agent")
    agent.add_argument("--instance-name", "-id", default=default_instance_name(), help="name of this camera")
    agent.add_argument("--data-path", "-p", default=DEFAULTS.remote_data_path, help="where to store recordings")
    agent.add_argument("--acquisition-name", "-n", default=None, help="name of the recording (--auto-start)")
    agent.add_argument("--acquisition-group", "-g", default="", help="group folder of the recording (--auto-start)")
    agent.add_argument(
        "--max-acquisition-time",
        "-t",
        type=float,
        default=DEFAULTS.max_acquisition_time,
        help="seconds; a recording stops itself after this (0: no limit)",
    )
    agent.add_argument("--log-ip", "-lip", default=None, help="conductor's log address; default: the control address")
    agent.add_argument("--log-port", "-lport", type=int, default=55555, help="conductor's log port")
    agent.add_argument(
        "--log-level",
        "-ll",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        type=str.upper,
        help="level of the log records shown and forwarded",
    )
    agent.add_argument("--control-stream-ip", "-cip", default="127.0.0.1", help="conductor's control address")
    agent.add_argument("--control-stream-port", "-cport", type=int, default=54545, help="conductor's control port")
    agent.add_argument("--heartbeat-interval", type=float, default=0.5, help="seconds between status messages")
    agent.add_argument(
        "--parent-pid",
        type=int,
        default=None,
        help="pid of the conductor that started this agent: when it is gone, a recording goes on to its end, "
        "then the agent exits",
    )
    agent.add_argument("--no-log-forwarding", action="store_true", help="do not send log records to the conductor")
    agent.add_argument(
        "--curve-keys",
        default=None,
        metavar="FOLDER",
        help="encrypt and authenticate with CURVE: this camera's NAME.key_secret and conductor.key are in FOLDER",
    )
    agent.add_argument(
        "--camera-backend",
        choices=registry.choices("camera"),
        default=None,
        help="force this camera backend (default: the config's camera_backend, else $RCC_CAMERA_BACKEND, else auto)",
    )
    agent.add_argument(
        "--ttl-backend",
        choices=registry.choices("ttl"),
        default=None,
        help="force this TTL backend (default: the config's ttl_backend, else $RCC_TTL_BACKEND, else auto)",
    )
    agent.add_argument(
        "--preload-backends",
        nargs=2,
        default=("auto", "auto"),
        metavar=("CAMERA", "TTL"),
        help="the config's camera_backend and ttl_backend: their libraries are loaded before the hello (the conductor "
        "passes them), so that configure and the first start do not pay for them",
    )
    agent.add_argument("--auto-start", "-a", action="store_true", help="record right away without a conductor")
    agent.add_argument("-fps", "--framerate", type=int, default=30, help="framerate (--auto-start, --selftest)")
    agent.add_argument(
        "-res",
        "--resolution",
        nargs=2,
        type=int,
        default=(1600, 1200),
        metavar=("W", "H"),
        help="resolution (--auto-start, --selftest; default: 1600 1200)",
    )
    selftest = parser.add_argument_group("Selftest (run on each Pi after setting it up)")
    selftest.add_argument(
        "--selftest",
        action="store_true",
        help="check this machine, record a few seconds and verify them; exit 0 only if everything holds",
    )
    selftest.add_argument("--selftest-seconds", type=float, default=3.0, help="length of the test recording")
    selftest.add_argument("--keep", action="store_true", help="keep the test recording (its folder is printed)")
    selftest.add_argument(
        "--config",
        "-c",
        default=None,
        help="colony config file: test with the settings of camera --instance-name from it (else -fps/-res)",
    )
    general.add_argument("-s", "--stream-video", action="store_true", help="accepted for compatibility")
    general.add_argument("-sip", "--stream-ip", default="", help="accepted for compatibility")
    general.add_argument("-sport", "--stream-port", type=int, default=8001, help="accepted for compatibility")
    return parser


def run_selftest(args: argparse.Namespace) -> int:
    """``--selftest``: print the report; 0 when every line holds, 1 when one failed, 2 for bad arguments."""
    from rpi_camera_colony.acquisition import selftest
    from rpi_camera_colony.config.loading import controller_from_dict, load_config
    from rpi_camera_colony.exc import ColonyError, ConfigError

    data_path, max_time = args.data_path, args.max_acquisition_time
    try:
        if args.config:
            colony = load_config(args.config)
            if args.instance_name not in colony.controllers:
                known = ", ".join(colony.controllers) or "none"
                print(
                    f"rcc_acquisition: no camera {args.instance_name!r} in {args.config} (its cameras: {known}); "
                    "choose one with --instance-name",
                    file=sys.stderr,
                )
                return 2
            settings = colony.controllers[args.instance_name]
            data_path, max_time = colony.general.remote_data_path, colony.general.max_acquisition_time
        else:
            settings = controller_from_dict(
                {"name": args.instance_name, "framerate": args.framerate, "resolution": list(args.resolution)}
            )
    except ConfigError as err:
        if args.config:
            print(f"rcc_acquisition: {err}", file=sys.stderr)
        else:  # name the options that were typed, not the config keys they fill
            prefix = f"controllers.{args.instance_name}."
            for problem in err.problems:
                text = problem.replace(prefix + "resolution", "-res").replace(prefix + "framerate", "-fps")
                print(f"rcc_acquisition: {text.replace(prefix, '--')}", file=sys.stderr)
        return 2
    except ColonyError as err:
        print(f"rcc_acquisition: {err}", file=sys.stderr)
        return 2
    if args.selftest_seconds <= 0:
        print("rcc_acquisition: --selftest-seconds must be more than 0", file=sys.stderr)
        return 2
    options = selftest.SelftestOptions(
        settings=settings,
        data_path=data_path,
        seconds=args.selftest_seconds,
        keep=args.keep,
        camera_backend=args.camera_backend,
        ttl_backend=args.ttl_backend,
        max_acquisition_time=max_time,
    )
    checks = selftest.run_selftest(options)
    print(selftest.report(checks, options=options))
    return selftest.exit_code(checks)


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.selftest:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        return run_selftest(args)
    logging.basicConfig(
        level=args.log_level, format=f"%(asctime)s {args.instance_name} %(levelname)s %(name)s: %(message)s"
    )

    from rpi_camera_colony.acquisition.acquisition_control import PiAcquisitionControl
    from rpi_camera_colony.config.loading import controller_from_dict
    from rpi_camera_colony.exc import ColonyError
    from rpi_camera_colony.files import check_name_part

    try:
        agent = PiAcquisitionControl(
            instance_name=args.instance_name,
            control_address=args.control_stream_ip,
            control_port=args.control_stream_port,
            log_address=None if args.no_log_forwarding else (args.log_ip or args.control_stream_ip),
            log_port=None if args.no_log_forwarding else args.log_port,
            log_level=args.log_level,
            data_path=args.data_path,
            max_acquisition_time=args.max_acquisition_time,
            heartbeat_interval=args.heartbeat_interval,
            camera_backend=args.camera_backend,
            ttl_backend=args.ttl_backend,
            parent_pid=args.parent_pid,
            curve_keys=args.curve_keys,
            preload_backends=tuple(args.preload_backends),
        )
    except ColonyError as err:
        print(f"rcc_acquisition: {err}", file=sys.stderr)
        return 2

    def _on_signal(signum: int, _frame: object) -> None:
        logger.info("signal %d: stopping", signum)
        agent.request_shutdown()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        if args.auto_start:
            now = get_datestr()
            name = args.acquisition_name or f"rcc_auto_{now}"
            # 'group__name' puts the recording in the folder 'group', as the conductor does
            group = GeneralSettings(acquisition_name=name, acquisition_group=args.acquisition_group).group
            try:
                check_name_part("--acquisition-name", name)
                if group:
                    check_name_part("--acquisition-group", group)
                settings = controller_from_dict(
                    {"name": args.instance_name, "framerate": args.framerate, "resolution": list(args.resolution)}
                )
            except ColonyError as err:
                print(f"rcc_acquisition: {err}", file=sys.stderr)
                agent.close()
                return 2
            agent.configure(settings)
            agent.start(acquisition_name=name, acquisition_group=group, file_time=now)
        # with --auto-start there is no conductor to wait for: the process ends with its recording
        agent.run(exit_after_recording=args.auto_start)
        recording = agent.recording
        if args.auto_start and recording is not None and recording.files is not None:
            print(f"files: {recording.files.folder}")
    except ColonyError as err:
        logger.error("%s", err)
        agent.close()
        return 1
    # on its own (--auto-start) the exit code says how the recording went; a conductor learns that from its replies
    return 1 if args.auto_start and agent.agent.error else 0


if __name__ == "__main__":
    sys.exit(main())
