"""The live view on the agent side: preview images from the simulated camera and from the real picamera2 (on the
fake libcamera), never at the cost of a recorded frame; and the preview message's decoding."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import simplejpeg  # type: ignore[import-untyped]

from rpi_camera_colony import protocol
from rpi_camera_colony.acquisition.camera_agent import CameraAgent
from rpi_camera_colony.acquisition.preview import PreviewStream
from rpi_camera_colony.config import controller_from_dict
from rpi_camera_colony.exc import ProtocolError
from rpi_camera_colony.testing import wait_for
from rpi_camera_colony.testing.fakes import installed


@pytest.fixture
def fakes() -> Iterator[dict[str, Any]]:
    with installed("picamera2") as modules:
        yield modules


@pytest.mark.parametrize("camera", ["simulated", "picamera2"])
def test_preview_images_while_recording_and_previewing(tmp_path: Path, fakes: dict[str, Any], camera: str) -> None:
    images: list[protocol.PreviewFrame] = []
    stream = PreviewStream("cam0", size=(160, 120), framerate=10, sinks=[images.append])
    agent = CameraAgent(instance_name="cam0", data_path=str(tmp_path), camera_backend=camera, ttl_backend="simulated")
    try:
        agent.configure(controller_from_dict({"name": "cam0", "framerate": 30, "resolution": "640x480",
                                              "exposure_warmup": 0}))  # fmt: skip
        agent.set_preview(stream)
        agent.preview(settle_exposure=False)
        assert wait_for(lambda: len(images) >= 3)
        assert not any(image.recording for image in images)
        recording = agent.start(acquisition_name="live", acquisition_time="20260101_000000")  # from previewing
        assert wait_for(lambda: sum(image.recording for image in images) >= 5)
        summary = agent.stop()
        assert summary["dropped"] == 0 and recording.frames_written > 0
    finally:
        agent.close()
        stream.close()
    recorded = [image for image in images if image.recording]
    indices = [image.index for image in recorded]
    assert indices == sorted(set(indices))
    assert 2 <= indices[1] - indices[0] <= 4  # about every third frame of 30 fps: 10 images a second
    decoded = simplejpeg.decode_jpeg(recorded[-1].jpeg, colorspace="GRAY")
    assert decoded.shape[:2] == (120, 160) and (recorded[-1].width, recorded[-1].height) == (160, 120)


@pytest.mark.parametrize(
    ("frame", "box", "expected"),
    [((480, 640), (320, 240), (240, 320)), ((720, 1280), (320, 240), (180, 320)), ((240, 320), (640, 480), (240, 320))],
)
def test_preview_images_keep_the_frame_proportions(
    frame: tuple[int, int], box: tuple[int, int], expected: tuple[int, int]
) -> None:
    import numpy as np

    from rpi_camera_colony.acquisition.preview import shrink

    assert shrink(np.zeros(frame, dtype=np.uint8), box).shape == expected  # never enlarged, never squeezed


def test_a_slow_preview_skips_images_not_frames(tmp_path: Path) -> None:
    """A sink that cannot keep up (a slow conductor, a busy machine) costs preview images, never recorded frames."""
    release = threading.Event()
    sent: list[int] = []

    def slow(frame: protocol.PreviewFrame) -> None:
        sent.append(frame.index)
        release.wait(0.5)  # the slow consumer under test

    stream = PreviewStream("cam0", size=(320, 240), framerate=30, sinks=[slow])
    agent = CameraAgent(instance_name="cam0", data_path=str(tmp_path), camera_backend="simulated")
    try:
        agent.configure(controller_from_dict({"name": "cam0", "framerate": 90, "resolution": "640x480"}))
        agent.set_preview(stream)
        recording = agent.start(acquisition_name="slow", acquisition_time="20260101_000000")
        assert wait_for(lambda: recording.frames_written >= 180)
        summary = agent.stop()
    finally:
        release.set()
        agent.close()
        stream.close()
    assert summary["dropped"] == 0
    assert stream.skipped > 0 and len(sent) < stream.offered


def _frames(header: dict[str, Any], jpeg: bytes = b"\xff\xd8\xff\xe0rest") -> list[bytes]:
    import json

    return [json.dumps({"v": protocol.PROTOCOL_VERSION, **header}).encode(), jpeg]


GOOD = {"instance": "cam0", "index": 3, "timestamp_us": 10, "sys_time": 1.5, "width": 4, "height": 2}


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        ([b"{}"], "a preview message has a header and an image, not 1 frame"),
        (_frames({**GOOD, "index": -1}), "'index' must be a whole number >= 0"),
        (_frames({**GOOD, "instance": 5}), "no 'instance' string"),
        (_frames({**GOOD, "sys_time": "now"}), "'sys_time' must be a number"),
        (_frames(GOOD, b"GIF89a"), "must be a JPEG"),
        (_frames(GOOD, b"\xff\xd8" + bytes(protocol.MAX_PREVIEW_BYTES)), "must be a JPEG of at most"),
        ([b"x" * 5000, b"\xff\xd8"], "preview header too large"),
    ],
)
def test_bad_preview_messages_are_refused(frames: list[bytes], message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        protocol.decode_preview(frames)


def test_a_preview_message_round_trips() -> None:
    frame = protocol.PreviewFrame(**GOOD, jpeg=b"\xff\xd8data", recording=True)
    topic, *rest = protocol.encode_preview(frame)
    assert topic == protocol.PREVIEW_TOPIC and protocol.decode_preview(rest) == frame
