"""``rcc_report``: the timing report of each recording in a session folder, on the terminal and with ``--html`` as a
page with plots (:mod:`~rpi_camera_colony.session.html_report`)."""

from __future__ import annotations

import argparse
import sys
from typing import Optional

from rpi_camera_colony.cli_help import HelpFormatter
from rpi_camera_colony.exc import SessionDataError
from rpi_camera_colony.session.readers import recordings
from rpi_camera_colony.session.timing import format_report, timing_report


def main(argv: Optional[list[str]] = None) -> int:
    """``rcc_report SESSION_DIR``: print the timing report of every recording in the folder (or of the one chosen);
    exit 1 if anything was flagged, 2 if unreadable."""
    parser = argparse.ArgumentParser(
        prog="rcc_report", description="Timing report of a recorded RCC session.", formatter_class=HelpFormatter
    )
    parser.add_argument("session_dir", help="the session folder ({remote_data_path}/{group}/{name})")
    parser.add_argument(
        "--acquisition-time",
        default=None,
        metavar="YYYYmmdd_HHMMSS",
        help="report only this recording of the folder (default: every recording, oldest first)",
    )
    parser.add_argument(
        "--html",
        metavar="OUT",
        default=None,
        help="also write a self-contained HTML page with plots (frame intervals, drops, clock, start skew, TTL) to OUT",
    )
    args = parser.parse_args(argv)
    try:
        times = [args.acquisition_time] if args.acquisition_time else list(recordings(args.session_dir))
        reports = [timing_report(args.session_dir, acquisition_time=t) for t in times or [None]]
    except SessionDataError as err:
        print(f"rcc_report: {err}", file=sys.stderr)
        return 2
    if len(reports) > 1:
        print(f"{len(reports)} recordings in {args.session_dir}, each reported on its own:\n")
    print("\n\n".join(format_report(report) for report in reports))
    if args.html:
        from rpi_camera_colony.session.html_report import write_html_report

        try:
            page = write_html_report(args.session_dir, args.html, acquisition_time=args.acquisition_time)
            print(f"HTML report: {page}")
        except (SessionDataError, OSError) as err:
            print(f"rcc_report: {err}", file=sys.stderr)
            return 2
    return 1 if any(report["flags"] for report in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
