"""``rcc_sessions DATA_DIR``: every recording under a data folder, newest first, from the metadata files alone.

One line per recording (an acquisition folder holds one per start, each stamped with its time): group, name, the
start's stamp, its cameras, duration, frames, dropped frames, the worst camera status, and how many of its videos
have been collected and verified (``rcc_collect``'s manifest lists every one of their files) and converted to MP4.
A line below it names the cameras whose files are damaged as far as their sizes tell (a frame table missing or
empty, a video missing or shorter than its metadata says); ``rcc_report`` checks them row by row.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional, Union

from rpi_camera_colony.exc import SessionDataError
from rpi_camera_colony.files import KIND_METADATA, KIND_MP4, KIND_TTL_OUT, KIND_VIDEO, SIGNATURE, read_manifest
from rpi_camera_colony.session.readers import SessionFile

#: Files made from a recording on this machine (by rcc_convert), not copied from the camera.
DERIVED = (".mp4",)
#: Camera statuses from worst to best: a recording shows its worst.
STATUS_ORDER = ("failed", "recording", "unknown", "stopped")


@dataclass(frozen=True)
class RecordingInfo:
    """One recording (one start of an acquisition) as its metadata files describe it."""

    folder: str
    group: str
    name: str
    file_time: str
    cameras: list[str]
    duration_s: Optional[float]  #: the longest camera's
    frames: int  #: all cameras'
    dropped: int
    status: str  #: the worst camera's: failed, recording (not stopped: the agent died or still runs), stopped
    converted: int  #: cameras whose video has its MP4 beside it
    verified: int  #: cameras whose files are all in the folder's manifest (rcc_collect verified them)
    damaged: list[str]  #: "camera: what" for each camera whose files are missing or cut, by their sizes


def _camera_facts(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {"status": "unknown"}
    return data if isinstance(data, dict) else {"status": "unknown"}


def _damage(metadata: Path, facts: dict[str, Any]) -> Optional[str]:
    """What is missing or cut of a camera's files, from their sizes and its metadata alone (None: nothing seen)."""
    stem = metadata.name[: -len(KIND_METADATA)]
    table, video = metadata.with_name(stem + KIND_TTL_OUT), metadata.with_name(stem + KIND_VIDEO)
    frames = facts.get("frames")
    written = frames.get("written") if isinstance(frames, dict) else None
    expected = facts.get("video_bytes")
    if not isinstance(written, int) or written <= 0:
        return None  # no frame recorded: nothing to lose (its status says why)
    if not table.is_file():
        return "no frame table"
    if table.stat().st_size == 0:
        return "empty frame table"
    if not video.is_file():
        return None if metadata.with_name(stem + KIND_MP4).is_file() else "no video"
    size = video.stat().st_size
    if isinstance(expected, int) and size < expected:
        return f"video cut short ({size} of {expected} bytes)"
    return None


def find_recordings(data_dir: Union[str, Path]) -> list[RecordingInfo]:
    """Every recording under ``data_dir``, newest first.

    Raises:
        SessionDataError: ``data_dir`` is not a folder (missing, or a file).
    """
    root = Path(data_dir).expanduser()
    if root.exists() and not root.is_dir():
        raise SessionDataError(f"{root} is a file, not a folder: give a data folder (remote_data_path, or collected)")
    if not root.is_dir():
        raise SessionDataError(f"{root}: no such folder")
    grouped: dict[tuple[Path, str], list[tuple[SessionFile, dict[str, Any]]]] = {}
    for path in root.rglob("*.metadata.json"):
        parsed = SessionFile.parse(path)
        if parsed is None:
            continue
        grouped.setdefault((path.parent, parsed.acquisition_time), []).append((parsed, _camera_facts(path)))
    found = []
    for (folder, stamp), cameras in grouped.items():
        facts = [meta for _, meta in cameras]
        frames: list[dict[str, Any]] = [m["frames"] if isinstance(m.get("frames"), dict) else {} for m in facts]
        durations = [float(m["duration_s"]) for m in facts if isinstance(m.get("duration_s"), (int, float))]
        statuses = [str(m.get("status", "unknown")) for m in facts]
        worst = min(statuses, key=lambda s: STATUS_ORDER.index(s) if s in STATUS_ORDER else 0)
        converted = sum(
            1
            for file, _ in cameras
            if file.path.with_name(file.path.name.replace("metadata.json", "video.h264.mp4")).exists()
        )
        try:
            listed = read_manifest(folder)  # what rcc_collect verified here (not checked again)
        except OSError:
            listed = {}
        verified = sum(
            1
            for file, _ in cameras
            if all(
                p.name in listed
                for p in folder.glob(f"{file.acquisition_name}.{file.camera}.{stamp}{SIGNATURE}*")
                if not p.name.endswith(DERIVED)  # made here afterwards (MP4s): not the camera's
            )
        )
        damage = [(file.camera, _damage(file.path, meta)) for file, meta in cameras]
        first = facts[0]
        found.append(
            RecordingInfo(
                folder=str(folder),
                group=str(first.get("acquisition_group") or ""),
                name=str(first.get("acquisition_name") or cameras[0][0].acquisition_name),
                file_time=stamp,
                cameras=sorted(file.camera for file, _ in cameras),
                duration_s=max(durations) if durations else None,
                frames=sum(int(f.get("written") or 0) for f in frames),
                dropped=sum(int(f.get("dropped") or 0) for f in frames),
                status=worst,
                converted=converted,
                verified=verified,
                damaged=sorted(f"{camera}: {what}" for camera, what in damage if what),
            )
        )
    return sorted(found, key=lambda r: (r.file_time, r.folder), reverse=True)


def main(argv: Optional[list[str]] = None) -> int:
    """``rcc_sessions DATA_DIR [--json]``. Exit 0, or 2 when DATA_DIR is not a folder (missing, or a file)."""
    import argparse
    import sys

    from rpi_camera_colony.cli_help import HelpFormatter

    parser = argparse.ArgumentParser(
        prog="rcc_sessions",
        description="RPi Camera Colony: every recording under a data folder, newest first.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("data_dir", metavar="DATA_DIR", help="a data folder (remote_data_path, or collected data)")
    parser.add_argument("--json", action="store_true", help="one JSON object per recording, one per line")
    args = parser.parse_args(argv)
    try:
        found = find_recordings(args.data_dir)
    except SessionDataError as err:
        print(f"rcc_sessions: {err}", file=sys.stderr)
        return 2
    if args.json:
        for recording in found:
            print(json.dumps(asdict(recording)))
        return 0
    if not found:
        print(f"no recording under {args.data_dir}")
        return 0
    print(f"{'recorded':15}  {'group':12} {'name':28} {'cameras':>7} {'seconds':>8} {'frames':>8} {'dropped':>7}  "
          f"{'status':9} {'verified':>8} {'mp4':>5}")  # fmt: skip
    for r in found:
        seconds = "" if r.duration_s is None else f"{r.duration_s:.1f}"
        count = len(r.cameras)
        print(f"{r.file_time:15}  {r.group or '-':12} {r.name:28} {count:>7} {seconds:>8} {r.frames:>8} "
              f"{r.dropped:>7}  {r.status:9} {r.verified:>5}/{count:<2} {r.converted:>2}/{count:<2}")  # fmt: skip
        if r.damaged:
            print(f"{'':15}  DAMAGED: {', '.join(r.damaged)} (rcc_report {r.folder} says more)")
    return 0
