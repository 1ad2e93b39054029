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
#: Slices of the recording the frame-interval plot shows (each its shortest and longest interval).
BINS = 1500

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


def _plain_log_ticks(axis: Any) -> None:
    """Plain tick labels on a log-scale y axis (``0.5``, ``1``, ``2``, not matplotlib's ``1.00008 x 10^0`` when the
    data span little): at least 0.5 to 2 is shown, and the 2s and 5s between the powers of ten are labelled too when
    it spans less than two decades."""
    from matplotlib.ticker import FuncFormatter

    low, high = axis.get_ylim()
    low, high = min(low, 0.5), max(high, 2.0)
    axis.set_ylim(low, high)
    narrow = bool(np.log10(high / low) < 2)

    def minor(value: float, _: int) -> str:
        mantissa = round(value / 10 ** np.floor(np.log10(value)), 6)
        return f"{value:g}" if narrow and mantissa in (2, 5) else ""

    axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.yaxis.set_minor_formatter(FuncFormatter(minor))


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
    rows = report["cameras"]
    # frame intervals against the nominal period (log scale: a stall and the steady rate both show), binned so that an
    # hour at 90 fps stays a small picture; and where frames were dropped
    figure, axes = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for row, name in enumerate(names):
        table = tables[name]
        rate = rows[name].get("framerate") or 0
        if table is None or len(table) < 2 or not rate:
            continue
        stamps = table["timestamp_frame"].to_numpy(dtype=float)
        seconds = (stamps[1:] - stamps[0]) / 1e6
        ratio = np.diff(stamps) / (1e6 / rate)
        edges = np.linspace(seconds[0], seconds[-1] + 1e-9, min(len(ratio), BINS) + 1)
        which = np.clip(np.searchsorted(edges, seconds, side="right") - 1, 0, len(edges) - 2)
        highest = np.full(len(edges) - 1, np.nan)
        lowest = np.full(len(edges) - 1, np.nan)
        np.fmax.at(highest, which, ratio)
        np.fmin.at(lowest, which, ratio)
        axes[0].fill_between(edges[:-1], lowest, highest, step="post", alpha=0.35, color=f"C{row}")
        axes[0].step(edges[:-1], highest, where="post", lw=0.9, color=f"C{row}", label=name)
        indices = table["frame_index"].to_numpy() if "frame_index" in table else np.arange(len(table))
        gaps = np.flatnonzero(np.diff(indices) > 1)
        axes[1].plot(seconds[gaps], np.full(len(gaps), row), "|", ms=14, mew=2, color=f"C{row}")
    axes[0].set_yscale("log")
    _plain_log_ticks(axes[0])
    axes[0].axhline(1.0, color="0.5", lw=0.6, ls="--")
    axes[0].set_ylabel("frame interval / nominal period")
    if axes[0].get_legend_handles_labels()[1]:
        axes[0].legend(loc="upper right", fontsize=8)
    axes[1].set_yticks(range(len(names)), names)
    axes[1].set_ylim(-0.5, len(names) - 0.5)
    axes[1].set_xlabel("seconds into the recording")
    axes[1].set_title("dropped frames (a mark after each gap)", fontsize=9)
    parts.append(_figure("Frame intervals per camera (1 = on time; the band spans the shortest to the longest in each "
                         "slice of the recording), and where frames were dropped.", _svg(figure)))  # fmt: skip

    # clock samples around the line refitted from all of them
    figure, axis = plt.subplots(figsize=(10, 3.5))
    drawn = False
    for row, name in enumerate(names):
        try:
            clock = read_clock(session_dir, name, acquisition_time=when)
            slope, intercept = clock_fit(clock)
        except SessionDataError:
            continue
        best = clock[clock["burst_best"] == 1]
        camera = best["camera_us"].to_numpy(dtype=float)
        residual = best["conductor_us"].to_numpy(dtype=float) - (slope * camera + intercept)
        start = float(clock["camera_us"].iloc[0])
        axis.plot((camera - start) / 1e6, residual, ".", ms=4, color=f"C{row}",
                  label=f"{name} (refitted drift {(slope - 1) * 1e6:.2f} ppm)")  # fmt: skip
        drawn = True
    axis.set_xlabel("seconds since the clock synchronisation began")
    axis.set_ylabel("conductor time - fit (µs)")
    axis.ticklabel_format(axis="y", useOffset=False)
    if drawn:
        axis.legend(loc="upper right", fontsize=8)
    parts.append(_figure("Clock samples: each camera's offset from the conductor's clock around the line refitted from "
                         "all of them (the table's drift is the live estimate at the end of the recording).",
                         _svg(figure)))  # fmt: skip

    # start skew and TTL counts, cameras as rows (long names stay readable)
    height = max(2.5, 0.45 * len(names) + 1.2)
    figure, (skew_axis, ttl_axis) = plt.subplots(1, 2, figsize=(10, height), sharey=True)
    firsts = {}
    for name in names:
        timing = (session[name].get("metadata") or {}).get("timing") or {}
        first = (timing.get("first_frames_conductor_us") or {}).get(name)
        if isinstance(first, (int, float)):
            firsts[name] = float(first)
    positions = np.arange(len(names))
    if firsts:
        earliest = min(firsts.values())
        late = [(firsts[n] - earliest) if n in firsts else np.nan for n in names]
        skew_axis.barh(positions, late, color="C0")
        for y, value in zip(positions, late):
            if not np.isnan(value):
                skew_axis.annotate(f"{value:.0f} µs", (value, y), xytext=(3, 0), textcoords="offset points",
                                   va="center", fontsize=8)  # fmt: skip
        skew_axis.set_xlim(0, max(max(v for v in late if not np.isnan(v)) * 1.4, 1.0))
    skew_axis.set_yticks(positions, names)
    skew_axis.set_xlabel("first frame after the earliest (µs)")
    skew_axis.set_title(f"start skew: {report['start_skew_ms'] or 0:.3f} ms", fontsize=9)
    for shift, (key, label) in enumerate((("written", "frames"), ("ttl_out", "TTL out"), ("ttl_in", "TTL in edges"))):
        values = [rows[name].get(key) or 0 for name in names]
        ttl_axis.barh(positions + (shift - 1) * 0.27, values, height=0.27, label=label)
    ttl_axis.legend(fontsize=8, loc="lower right")
    ttl_axis.set_xlabel("count")
    parts.append(_figure("Start skew across cameras; TTL pulses out and edges in against frames written.",
                         _svg(figure)))  # fmt: skip
    return "\n".join(parts)


def write_html_report(session_dir: PathLike, out: PathLike, *, acquisition_time: Optional[str] = None) -> Path:
    """Write the page for every recording of ``session_dir`` (or the one at ``acquisition_time``) to ``out`` (its
    folder made if needed); its path.

    Raises:
        SessionDataError: no recording in the folder, matplotlib is missing, or ``out`` cannot be written.
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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page, encoding="utf-8")
    except OSError as err:
        raise SessionDataError(f"cannot write the HTML report {path}: {err.strerror or err}") from None
    return path
