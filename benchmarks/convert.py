"""rcc_convert against ffmpeg's own remux (``ffmpeg -r FPS -i x.h264 -c copy x.mp4``) on the same file.

A raw H.264 file of ``--frames`` frames (``--size``, 90 fps, libx264, a moving noisy picture so frames have a camera's
sizes) is made with one encoder stall (20 frame periods missing, as ``sim_fault = stall``), with its timestamp file.
Both tools remux it without re-encoding, 5 times each, taking turns (median wall time). rcc_convert runs twice: on the
recording as an agent writes it (the rows' frame sizes cut the video into frames) and on a copy whose timestamp file
has no ``frame_bytes`` column (as the original's files: FFmpeg's H.264 parser finds the frames, as ffmpeg's does).
Then each output's frame times are compared with the timestamps: rcc_convert's are exact, ffmpeg's constant rate puts
every frame after the stall at the wrong time.

    python benchmarks/convert.py [--frames 45000] [--size 640x480]
"""

from __future__ import annotations

import argparse
import csv
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from rpi_camera_colony.cli_help import positive_int
from rpi_camera_colony.session.convert import convert_video

FPS = 90
STALL_AT, STALL_FRAMES = 1000, 20


def make_recording(folder: Path, frames: int, size: tuple[int, int] = (320, 240)) -> tuple[Path, list[int]]:
    """A camera video and timestamp file as an agent writes them; the frame times (µs)."""
    stem = "bench.cam0.20260101_000000.rcc."
    video = folder / (stem + "video.h264")
    encoder = av.CodecContext.create("libx264", "w")
    width, height = size
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base, encoder.framerate = Fraction(1, FPS), Fraction(FPS, 1)
    encoder.gop_size, encoder.max_b_frames = FPS, 0
    encoder.options = {"preset": "ultrafast", "tune": "zerolatency"}
    image = np.zeros((height * 3 // 2, width), dtype=np.uint8)
    noise = np.random.default_rng(0).integers(0, 40, size=(height, width + 64), dtype=np.uint8)
    times, sizes = [], []
    slot = 0
    with open(video, "wb") as out:
        for index in range(frames):
            if index == STALL_AT:
                slot += STALL_FRAMES  # frames lost to the stall: a gap in the times
            shift = index % 64
            image[:height] = ((np.arange(width) + index) % 256).astype(np.uint8) + noise[:, shift : shift + width]
            frame = av.VideoFrame.from_ndarray(image, format="yuv420p")
            frame.pts = index
            for packet in encoder.encode(frame):
                out.write(bytes(packet))
                sizes.append(packet.size)
            times.append(round(slot * 1e6 / FPS))
            slot += 1
        for packet in encoder.encode(None):
            out.write(bytes(packet))
            sizes.append(packet.size)
    with open(folder / (stem + "timestamps.ttl.out.csv"), "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp_frame", "frame_index", "frame_bytes"])
        writer.writerows([t, i, s] for i, (t, s) in enumerate(zip(times, sizes)))
    (folder / (stem + "metadata.json")).write_text(f'{{"framerate": {FPS}}}')
    return video, times


def without_sizes(video: Path, folder: Path) -> Path:
    """The same recording in ``folder`` (the video linked), its timestamp file without the frame_bytes column."""
    folder.mkdir()
    linked = folder / video.name
    linked.symlink_to(video)
    table = video.name.replace("video.h264", "timestamps.ttl.out.csv")
    with open(video.parent / table, newline="") as source, open(folder / table, "w", newline="") as target:
        csv.writer(target).writerows(row[:2] for row in csv.reader(source))
    shutil.copy(video.parent / video.name.replace("video.h264", "metadata.json"), folder)
    return linked


def median_times(commands: list[list[str]], runs: int = 5) -> list[float]:
    """Each command's median wall time over ``runs``, the commands taking turns (so that the machine's state, e.g.
    the disk's write-back, weighs on all alike)."""
    spans: list[list[float]] = [[] for _ in commands]
    for _ in range(runs):
        for index, command in enumerate(commands):
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            spans[index].append(time.perf_counter() - start)
    return [statistics.median(times) for times in spans]


def pts_us(mp4: Path) -> list[int]:
    with av.open(str(mp4)) as container:
        stream = container.streams.video[0]
        base = stream.time_base
        assert base is not None
        stamps = sorted(int(p.pts * base * 1_000_000) for p in container.demux(stream) if p.pts is not None)
    return [t - stamps[0] for t in stamps]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=positive_int, default=45_000)
    parser.add_argument("--size", default="320x240", help="WIDTHxHEIGHT of the frames")
    args = parser.parse_args()
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        print("ffmpeg is needed as the baseline (apt-get install ffmpeg)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        width, height = (int(v) for v in args.size.split("x"))
        video, times = make_recording(Path(folder), args.frames, (width, height))
        theirs_mp4 = Path(folder) / "ffmpeg.mp4"
        parsed = without_sizes(video, Path(folder) / "no_sizes")
        run = "from rpi_camera_colony.session.convert import convert_video; convert_video({!r})"
        ours, ours_parsed, theirs, interpreter = median_times([
            [sys.executable, "-c", run.format(str(video))],
            [sys.executable, "-c", run.format(str(parsed))],
            [ffmpeg, "-y", "-v", "error", "-r", str(FPS), "-i", str(video), "-c", "copy", str(theirs_mp4)],
            [sys.executable, "-c", "import av"],
        ])  # fmt: skip
        result = convert_video(video)
        result_parsed = convert_video(parsed)
        assert (result.cut_by, result_parsed.cut_by) == ("frame sizes", "parser"), (result, result_parsed)
        video_size = video.stat().st_size
        our_error = max(abs(a - b) for mp4 in (result.mp4, result_parsed.mp4) for a, b in zip(pts_us(mp4), times))
        their_times = pts_us(theirs_mp4)
        their_error = max(abs(a - b) for a, b in zip(their_times, times))
    megabytes = video_size / 1e6
    print(f"{args.frames} frames ({args.size} @ {FPS} fps, {megabytes:.0f} MB, one stall of {STALL_FRAMES} frames); "
          "median of 5 runs, taking turns")  # fmt: skip
    print(f"ffmpeg -c copy: {theirs:.2f} s; starting Python and PyAV: {interpreter:.2f} s")
    print(f"rcc_convert: {ours:.2f} s, {ours / theirs:.2f}x ffmpeg's time (frames cut by the rows' frame_bytes)")
    print(f"rcc_convert: {ours_parsed:.2f} s, {ours_parsed / theirs:.2f}x (no frame_bytes column: H.264 parser)")
    print(f"largest frame time error: rcc_convert {our_error} µs, ffmpeg at a constant {FPS} fps "
          f"{their_error / 1000:.1f} ms")  # fmt: skip
    return 0 if our_error == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
