"""``rcc_report SESSION --html OUT``: one self-contained HTML page per session (plots inline as SVG, no other file),
so a lab sees at a glance whether a recording is good.

For each recording of the folder: the timing table and its flags (as ``rcc_report`` prints them), and plots of
frame intervals per camera over the recording, where frames were dropped, the clock samples' offset around the fitted
line (its scatter is the uncertainty of every frame's conductor time) with the drift, the start skew (each camera's
first frame against the earliest), and TTL pulses out and edges in against frames written. Plots use matplotlib
(the ``report`` extra: ``pip install 'rpi_camera_colony[report]'``).
"""

from __future__ import annotations

import html
import io
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from rpi_camera_colony.exc import SessionDataError
from rpi_camera_colony.session.readers import read_session_data, recordings
from rpi_camera_colony.session.timing import clock_fit, format_report, read_clock, timing_report

PathLike = Union[str, Path]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; max-width: 1100px; }
h1 { font-size: 1.3rem; } h2 { font-size: 1.1rem; margin-top: 2rem; border-bottom: 1px solid #ccc; }
pre { background: #f4f5f7; padding: 0.6rem; overflow-x: auto; font-size: 0.85rem; }
.good { color: #2e7d32; font-weight: 600; } .flag { color: #c62828; font-weight: 600; }
figure { margin: 1rem 0; } figcaption { color: #555; font-size: 0.85rem; }
svg { max-width: 100%; height: auto; }
"""


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise SessionDataError(
            "the HTML report draws its plots with matplotlib: pip install 'rpi_camera_colony[report]'"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _svg(figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    _pyplot().close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _figure(caption: str, svg: str) -> str:
    return f"<figure>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _recording_section(session_dir: Path, when: Optional[str]) -> str:
    plt = _pyplot()
    report = timing_report(session_dir, acquisition_time=when)
    session = read_session_data(session_dir, acquisition_time=when)
    names = sorted(session)
    parts = [f"<h2>Recording of {html.escape(str(report.get('acquisition_time') or '?'))}</h2>"]
    if report["flags"]:
        parts.append("<ul>" + "".join(f"<li class=flag>{html.escape(f)}</li>" for f in report["flags"]) + "</ul>")
    else:
        parts.append("<p class=good>No problems found.</p>")
    parts.append(f"<pre>{html.escape(format_report(report))}</pre>")

    tables = {name: session[name].get("timestamps.ttl.out") for name in names}
    # frame intervals, and where frames were dropped
    figure, axes = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    longest = 0.0
    for row, name in enumerate(names):
        table = tables[name]
        if table is None or len(table) < 2:
            continue
        stamps = table["timestamp_frame"].to_numpy(dtype=float)
        seconds = (stamps - stamps[0]) / 1e6
        intervals = np.diff(stamps) / 1e3
        longest = max(longest, float(intervals.max()))
        axes[0].plot(seconds[1:], intervals, lw=0.8, label=name)
        indices = table["frame_index"].to_numpy() if "frame_index" in table else np.arange(len(table))
        gaps = np.flatnonzero(np.diff(indices) > 1)
        axes[1].plot(seconds[gaps + 1], np.full(len(gaps), row), "|", ms=14, mew=2, color=f"C{row}")
    axes[0].set_ylabel("frame interval (ms)")
    axes[0].set_ylim(0, longest * 1.15 or 1)
    axes[0].ticklabel_format(axis="y", useOffset=False)
    axes[0].legend(loc="upper right", fontsize=8)
    axes[1].set_yticks(range(len(names)), names)
    axes[1].set_ylim(-0.5, len(names) - 0.5)
    axes[1].set_xlabel("seconds into the recording")
    axes[1].set_title("dropped frames (a mark after each gap)", fontsize=9)
    parts.append(_figure("Frame intervals per camera, and where frames were dropped.", _svg(figure)))

    # clock samples around the fitted line
    figure, axis = plt.subplots(figsize=(10, 3.5))
    drawn = False
    for name in names:
        try:
            clock = read_clock(session_dir, name, acquisition_time=when)
        except SessionDataError:
            continue
        if len(clock) < 2:
            continue
        try:
            slope, intercept = clock_fit(clock)
        except SessionDataError:
            continue
        best = clock[clock["burst_best"] == 1]
        camera = best["camera_us"].to_numpy(dtype=float)
        residual = best["conductor_us"].to_numpy(dtype=float) - (slope * camera + intercept)
        start = float(clock["camera_us"].iloc[0])
        axis.plot((camera - start) / 1e6, residual, ".", ms=4, label=f"{name} (drift {(slope - 1) * 1e6:.2f} ppm)")
        drawn = True
    axis.set_xlabel("seconds into the recording")
    axis.set_ylabel("conductor time - fit (µs)")
    axis.ticklabel_format(axis="y", useOffset=False)
    if drawn:
        axis.legend(loc="upper right", fontsize=8)
    parts.append(_figure("Clock samples: each camera's offset from the conductor's clock around its fitted line.",
                         _svg(figure)))  # fmt: skip

    # start skew and TTL counts
    figure, (skew_axis, ttl_axis) = plt.subplots(1, 2, figsize=(10, 3.2))
    firsts = {}
    for name in names:
        timing = (session[name].get("metadata") or {}).get("timing") or {}
        first = (timing.get("first_frames_conductor_us") or {}).get(name)
        if isinstance(first, (int, float)):
            firsts[name] = float(first)
    if firsts:
        earliest = min(firsts.values())
        skew_axis.bar(list(firsts), [(t - earliest) / 1e3 for t in firsts.values()], color="C0")
    skew_axis.set_ylabel("first frame after the earliest (ms)")
    skew_axis.set_title(f"start skew: {report['start_skew_ms'] or 0:.3f} ms", fontsize=9)
    rows = report["cameras"]
    positions = np.arange(len(names))
    for shift, (key, label) in enumerate((("written", "frames"), ("ttl_out", "TTL out"), ("ttl_in", "TTL in edges"))):
        values = [rows[name].get(key) or 0 for name in names]
        ttl_axis.bar(positions + (shift - 1) * 0.27, values, width=0.27, label=label)
    ttl_axis.set_xticks(positions, names)
    ttl_axis.legend(fontsize=8)
    parts.append(_figure("Start skew across cameras; TTL pulses out and edges in against frames written.",
                         _svg(figure)))  # fmt: skip
    return "\n".join(parts)


def write_html_report(session_dir: PathLike, out: PathLike, *, acquisition_time: Optional[str] = None) -> Path:
    """Write the page for every recording of ``session_dir`` (or the one at ``acquisition_time``); its path.

    Raises:
        SessionDataError: no recording in the folder, or matplotlib is missing.
    """
    folder = Path(session_dir)
    times = [acquisition_time] if acquisition_time else list(recordings(folder))
    if not times:
        raise SessionDataError(f"no RCC recording in {folder}")
    sections = [_recording_section(folder, when) for when in times]
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>RCC report: {html.escape(folder.name)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>RPi Camera Colony: {html.escape(str(folder))}</h1>" + "\n".join(sections) + "</body></html>"
    )
    path = Path(out)
    path.write_text(page, encoding="utf-8")
    return path
