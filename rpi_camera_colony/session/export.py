"""``rcc_export --nwb SESSION OUT.nwb``: a recording as a Neurodata Without Borders file (the ``nwb`` extra, pynwb).

Per camera: an ``ImageSeries`` named after it that refers to its MP4 as an external file (path relative to the NWB
file; made with :func:`~rpi_camera_colony.session.convert.convert_video` if missing), with every frame's time on the
conductor's clock (refitted from the clock samples, else as recorded), in seconds from the session start: the
earliest first frame of all cameras. TTL pulses out (``{camera}_ttl_out``: 1 at each pulse's rise) and edges in
(``{camera}_ttl_in``: the level after each edge) are ``TimeSeries`` on the same time base. The file is checked with
pynwb's validator before it takes its name.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from rpi_camera_colony import __version__
from rpi_camera_colony.exc import SessionDataError
from rpi_camera_colony.session.convert import convert_video
from rpi_camera_colony.session.readers import read_session_data, recordings
from rpi_camera_colony.session.timing import clock_fit, read_clock

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]


def _pynwb() -> Any:
    try:
        import pynwb
    except ImportError:
        raise SessionDataError("NWB export needs pynwb: pip install 'rpi_camera_colony[nwb]'") from None
    return pynwb


def _conductor_us(session_dir: Path, camera: str, when: Optional[str], camera_us: np.ndarray) -> Optional[np.ndarray]:
    """Camera-clock times on the conductor's clock, from the fit of the clock samples (None without samples)."""
    try:
        slope, intercept = clock_fit(read_clock(session_dir, camera, acquisition_time=when))
    except SessionDataError:
        return None
    return camera_us * slope + intercept


def export_nwb(session_dir: PathLike, out: PathLike, *, acquisition_time: Optional[str] = None) -> Path:
    """Write one recording of ``session_dir`` (default: the latest) as an NWB file; its path.

    Raises:
        SessionDataError: no such session folder or no recording in it, ``out`` a folder, a damaged file (named,
            with the line), a camera without conductor-clock times, pynwb missing, or a file the validator refuses
            (its errors listed).
    """
    pynwb = _pynwb()
    from pynwb.image import ImageSeries

    folder = Path(session_dir)
    out = Path(out)
    check_arguments(folder, out)
    session = read_session_data(folder, acquisition_time=acquisition_time)
    cameras: dict[str, dict[str, Any]] = {}
    for name, entry in sorted(session.items()):
        if entry["errors"]:
            raise SessionDataError(f"{name}: damaged file(s): {'; '.join(entry['errors'])}")
        table = entry.get("timestamps.ttl.out")
        if table is None or not len(table) or not entry.get("has_h264"):
            raise SessionDataError(f"{name}: no video or frame times in {folder}")
        when = (entry.get("metadata") or {}).get("file_time")
        video = folder / entry["video_file_h264"]
        conversion = convert_video(video) if not entry.get("has_mp4") else None
        mp4 = conversion.mp4 if conversion else folder / entry["video_file_mp4"]
        frames = conversion.frames if conversion else _mp4_frames(mp4)
        camera_us = table["timestamp_frame"].to_numpy(dtype=float)[:frames]
        conductor = _conductor_us(folder, name, when, camera_us)
        if conductor is None:
            if "timestamp_conductor" not in table or table["timestamp_conductor"].isna().any():
                raise SessionDataError(f"{name}: its frames have no time on the conductor's clock (no clock samples)")
            conductor = table["timestamp_conductor"].to_numpy(dtype=float)[:frames]
        cameras[name] = {"entry": entry, "mp4": mp4, "frames_us": conductor, "when": when}
    start_us = min(float(c["frames_us"][0]) for c in cameras.values())
    first_meta = next(iter(cameras.values()))["entry"].get("metadata") or {}
    nwb = pynwb.NWBFile(
        session_description=f"RPi Camera Colony recording {first_meta.get('acquisition_name', folder.name)}",
        identifier=f"rcc-{first_meta.get('acquisition_name', folder.name)}-{first_meta.get('file_time', '')}",
        session_start_time=dt.datetime.fromtimestamp(start_us / 1e6, tz=dt.timezone.utc),
        source_script=f"rpi_camera_colony {__version__}",
        source_script_file_name="rcc_export",
    )
    for name, camera in cameras.items():
        meta = camera["entry"].get("metadata") or {}
        settings = meta.get("settings") or {}
        nwb.add_acquisition(
            ImageSeries(
                name=name,
                description=f"{settings.get('description') or name}: {meta.get('resolution')} at "
                f"{meta.get('framerate')} fps; frame times on the conductor's clock",
                external_file=[os.path.relpath(camera["mp4"], out.parent)],
                format="external",
                starting_frame=[0],
                timestamps=(camera["frames_us"] - start_us) / 1e6,
            )
        )
        _add_ttl(nwb, pynwb, folder, name, camera, start_us)
    partial = out.with_name(out.stem + ".partial.nwb")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with pynwb.NWBHDF5IO(str(partial), "w") as io:
            io.write(nwb)
    except OSError as err:
        partial.unlink(missing_ok=True)
        raise SessionDataError(f"cannot write {out}: {err}") from None
    errors = pynwb.validate(path=str(partial))
    if errors:
        partial.unlink(missing_ok=True)
        raise SessionDataError(f"{out}: the NWB validator refused it: " + "; ".join(map(str, errors[:5])))
    os.replace(partial, out)
    return out


def _add_ttl(nwb: Any, pynwb: Any, folder: Path, name: str, camera: dict[str, Any], start_us: float) -> None:
    entry, when = camera["entry"], camera["when"]
    table = entry["timestamps.ttl.out"]
    edges = entry.get("timestamps.ttl.in")
    series = []
    if "timestamp_ttl" in table and not table["timestamp_ttl"].isna().all():
        rises = table["timestamp_ttl"].dropna().to_numpy(dtype=float)
        series.append((f"{name}_ttl_out", rises, np.ones(len(rises), dtype=np.uint8), "rise of each frame's pulse"))
    if edges is not None and len(edges):
        levels = edges["level"].to_numpy(dtype=np.uint8) if "level" in edges else np.ones(len(edges), dtype=np.uint8)
        series.append((f"{name}_ttl_in", edges["timestamp_frame"].to_numpy(dtype=float), levels, "input edges"))
    for label, camera_us, data, what in series:
        conductor = _conductor_us(folder, name, when, camera_us)
        if conductor is None:
            logger.warning("%s: no clock samples: %s left out of the NWB file", name, label)
            continue
        nwb.add_acquisition(
            pynwb.TimeSeries(
                name=label,
                description=f"TTL {what} (level after it), on the conductor's clock",
                data=data,
                unit="n.a.",
                timestamps=(conductor - start_us) / 1e6,
            )
        )


def _mp4_frames(mp4: Path) -> int:
    import av

    with av.open(str(mp4)) as container:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size)


def check_arguments(session_dir: Path, out: Path) -> None:
    """Whether a session folder and an output file name can be exported at all (``rcc_export`` exits 2 if not).

    Raises:
        SessionDataError: no such session folder (or a file), no recording in it, or ``out`` is a folder.
    """
    if not session_dir.is_dir():
        what = "is a file, not a folder" if session_dir.exists() else "does not exist"
        raise SessionDataError(f"session folder {session_dir} {what}: give a session folder (DATA/GROUP/NAME)")
    if not recordings(session_dir):
        raise SessionDataError(
            f"no RCC recording in {session_dir}: give a session folder (DATA/GROUP/NAME); rcc_sessions lists them"
        )
    if out.is_dir():
        raise SessionDataError(f"{out} is a folder: give the NWB file's name, e.g. {out / (session_dir.name + '.nwb')}")


def main(argv: Optional[list[str]] = None) -> int:
    """``rcc_export --nwb SESSION_DIR OUT.nwb [--acquisition-time T]``. Exit 0; 1 when the export failed; 2 for bad
    arguments (no such session folder, no recording in it, OUT a folder)."""
    import argparse
    import sys

    from rpi_camera_colony.cli_help import HelpFormatter

    parser = argparse.ArgumentParser(
        prog="rcc_export",
        description="RPi Camera Colony: a recording as a Neurodata Without Borders file (videos as external MP4s, "
        "every frame's time on the conductor's clock, TTL pulses and edges).",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--nwb", nargs=2, metavar=("SESSION_DIR", "OUT"), required=True, help="what to write where")
    parser.add_argument("--acquisition-time", default=None, metavar="YYYYmmdd_HHMMSS", help="which recording")
    args = parser.parse_args(argv)
    session_dir, out = args.nwb
    try:
        check_arguments(Path(session_dir), Path(out))
    except SessionDataError as err:
        print(f"rcc_export: {err}", file=sys.stderr)
        return 2
    try:
        path = export_nwb(session_dir, out, acquisition_time=args.acquisition_time)
    except SessionDataError as err:
        print(f"rcc_export: {err}", file=sys.stderr)
        return 1
    print(f"NWB file: {path}")
    return 0
