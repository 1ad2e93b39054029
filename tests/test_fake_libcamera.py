"""The real picamera2 over the fake kernel/libcamera layer (rpi_camera_colony.testing.fakes.libcamera).

picamera2 is driven only through its public API, as a lab's script would; the fake camera's assertion helpers say
what the "hardware" did. Every test checks that it leaves no thread and no file descriptor behind.
"""

from __future__ import annotations

import gc
import importlib.util
import io
import os
import select
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from rpi_camera_colony.acquisition.cameras.simulated import read_frame_index
from rpi_camera_colony.testing import wait_for
from rpi_camera_colony.testing.fakes.libcamera import FakeSensor, fake_libcamera

if importlib.util.find_spec("picamera2") is None:
    pytest.skip("the real picamera2 is needed (make venv installs it)", allow_module_level=True)

VIDEO_SIZE = (640, 480)
FRAME_US = 33333


def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def _fd_kind(fd: str) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "?"


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Fail a test that leaves a thread or a file descriptor behind."""
    gc.collect()
    threads, fds = set(threading.enumerate()), _fds()
    yield
    gc.collect()
    assert [t for t in threading.enumerate() if t not in threads] == []
    leaked = {fd: _fd_kind(fd) for fd in _fds() - fds}
    assert leaked == {}
    assert "libcamera" not in sys.modules
    assert not any(name == "picamera2" or name.startswith("picamera2.") for name in sys.modules)


def _close_leaked_pipes(before: set[str]) -> list[str]:
    """picamera2 opens its notification pipe before it checks the camera; a failed ``Picamera2()`` leaks the write
    end (``close()`` returns early when the camera is not open). Close what it leaked, and say what it was."""
    gc.collect()
    leaked = sorted(_fds() - before)
    kinds = [_fd_kind(fd) for fd in leaked]
    for fd in leaked:
        os.close(int(fd))
    return kinds


def _video_config(picam2: Any, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = picam2.create_video_configuration(
        main={"size": VIDEO_SIZE, "format": "YUV420"},
        buffer_count=6,
        controls={"FrameDurationLimits": (FRAME_US, FRAME_US)},
        **extra,
    )
    return config


def _decode_barcodes(path: Path) -> list[int]:
    with av.open(str(path)) as container:
        return [read_frame_index(frame.to_ndarray(format="gray")) for frame in container.decode(video=0)]


class _Recorder:
    """post_callback: what picamera2 hands the application for every frame, and on which thread."""

    def __init__(self) -> None:
        self.sequences: list[int] = []
        self.timestamps: list[int] = []
        self.threads: set[str] = set()
        self.metadata: list[dict[str, Any]] = []

    def __call__(self, request: Any) -> None:
        buffer = next(iter(request.request.buffers.values()))
        metadata = request.get_metadata()
        self.sequences.append(buffer.metadata.sequence)
        self.timestamps.append(metadata["SensorTimestamp"])
        self.metadata.append(metadata)
        self.threads.add(threading.current_thread().name)


def _output_class() -> type:
    from picamera2.outputs import Output

    class CollectingOutput(Output):  # type: ignore[misc]
        """An Output recording what the encoder hands it."""

        def __init__(self) -> None:
            super().__init__()
            self.frames: list[tuple[bytes, bool, int]] = []
            self.threads: set[str] = set()

        def outputframe(
            self, frame: bytes, keyframe: bool = True, timestamp: Any = None, packet: Any = None, audio: bool = False
        ) -> None:
            self.frames.append((bytes(frame), keyframe, timestamp))
            self.threads.add(threading.current_thread().name)

    return CollectingOutput


# --------------------------------------------------------------------------------------------- camera discovery


def test_global_camera_info_lists_the_fake_sensors() -> None:
    with fake_libcamera(sensors=[FakeSensor.imx477(), FakeSensor.imx708()], platform="pisp") as kernel:
        from picamera2 import Picamera2

        info = Picamera2.global_camera_info()
        assert [(c["Num"], c["Model"], c["Location"], c["Rotation"]) for c in info] == [
            (0, "imx477", 2, 180),
            (1, "imx708", 2, 180),
        ]
        assert info[0]["Id"] == "/base/axi/pcie@1000120000/rp1/i2c@88000/imx477@1a"
        assert kernel.cameras[1].camera_id == info[1]["Id"]
        assert not any(cam.acquired for cam in kernel.cameras)
    with fake_libcamera(sensors=[FakeSensor.imx219(), FakeSensor.ov5647()], platform="vc4"):
        from picamera2 import Picamera2

        ids = sorted(c["Id"] for c in Picamera2.global_camera_info())
        assert ids == ["/base/soc/i2c0mux/i2c@0/ov5647@36", "/base/soc/i2c0mux/i2c@1/imx219@10"]


def test_no_camera_raises_picamera2s_error() -> None:
    with fake_libcamera(sensors=[], platform="pisp"):
        from picamera2 import Picamera2

        assert Picamera2.global_camera_info() == []
        before = _fds()
        with pytest.raises(RuntimeError, match="No camera number 0 found"):
            Picamera2(0)
        assert [kind[:5] for kind in _close_leaked_pipes(before)] == ["pipe:"]  # the write end, leaked


def test_opening_the_same_camera_twice_fails() -> None:
    with fake_libcamera(sensors=[FakeSensor.imx477()], platform="pisp") as kernel:
        from picamera2 import Picamera2

        with Picamera2(0) as first:
            assert kernel.cameras[0].acquired
            # picamera2's event-loop thread makes its selector (an epoll descriptor) when it gets to run: only
            # then are the descriptors the first camera holds all there, to tell the second one's leak from
            assert wait_for(lambda: any(_fd_kind(fd) == "anon_inode:[eventpoll]" for fd in _fds()))
            before = _fds()
            with pytest.raises(RuntimeError, match="Camera __init__ sequence did not complete") as caught:
                Picamera2(0)
            cause = str(caught.value.__cause__)
            del caught  # its traceback holds the failed Picamera2 (and the read end of its pipe)
            assert cause == "Failed to acquire camera: Device or resource busy"
            assert [kind[:5] for kind in _close_leaked_pipes(before)] == ["pipe:"]  # the write end, leaked
            assert first.camera_properties["Model"] == "imx477"
        assert not kernel.cameras[0].acquired
        kernel.assert_released()


# ------------------------------------------------------------------------------------------------- recording


def test_h264_recording_decodes_frame_by_frame(tmp_path: Path) -> None:
    path = tmp_path / "video.h264"
    with fake_libcamera(sensors=[FakeSensor.imx477()], platform="pisp") as kernel:
        from picamera2 import Picamera2
        from picamera2.encoders import H264Encoder, LibavH264Encoder
        from picamera2.outputs import FileOutput

        assert H264Encoder is LibavH264Encoder  # picamera2's own choice on a Pi 5
        camera = kernel.cameras[0]
        recorder = _Recorder()
        collected = _output_class()()
        with Picamera2(0) as picam2:
            picam2.configure(_video_config(picam2))
            config = picam2.camera_configuration()
            assert config["main"]["size"] == VIDEO_SIZE and config["main"]["stride"] % 128 == 0
            picam2.post_callback = recorder
            encoder = H264Encoder()
            encoder.output = [FileOutput(str(path)), collected]
            picam2.start_recording(encoder, encoder.output)
            assert camera.wait_for_frames(30, timeout=10)
            picam2.stop_recording()
            assert not camera.started
        kernel.assert_released()

        # Startup frames (AGC/AWB converging) complete with the FrameStartup status, which picamera2 drops.
        assert camera.startup_sequence_numbers == list(range(7))
        delivered = camera.sequence_numbers_delivered
        assert recorder.sequences == delivered[: len(recorder.sequences)]
        assert len(delivered) - len(recorder.sequences) <= 2  # completed while stopping: flushed by picamera2
        assert recorder.sequences == list(range(7, 7 + len(recorder.sequences)))
        by_sequence = {r.sequence: r.timestamp_ns for r in camera.frames}
        assert recorder.timestamps == [by_sequence[s] for s in recorder.sequences]
        assert all(b - a == FRAME_US * 1000 for a, b in zip(recorder.timestamps, recorder.timestamps[1:]))
        assert all(m["FrameDuration"] == FRAME_US for m in recorder.metadata)
        assert len(recorder.threads) == 1 and threading.current_thread().name not in recorder.threads

    barcodes = _decode_barcodes(path)
    assert barcodes == recorder.sequences
    # Output.outputframe gets libav packets: pts in microseconds since the first encoded frame's SensorTimestamp.
    first = recorder.timestamps[0] // 1000
    assert [t for _, _, t in collected.frames] == [ts // 1000 - first for ts in recorder.timestamps]
    assert collected.frames[0][1] is True
    assert recorder.threads <= collected.threads  # the event loop thread encodes, the final flush comes from stop
    if shutil.which("ffprobe"):
        result = subprocess.run(
            ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
             "stream=nb_read_frames", "-of", "csv=p=0", str(path)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert int(result.stdout.strip()) == len(recorder.sequences)


def test_a_blocked_event_loop_loses_frames_like_a_real_camera(tmp_path: Path) -> None:
    path = tmp_path / "drops.h264"
    with fake_libcamera(sensors=[FakeSensor.imx708()], platform="pisp") as kernel:
        from picamera2 import Picamera2
        from picamera2.encoders import H264Encoder
        from picamera2.outputs import FileOutput

        camera = kernel.cameras[0]
        recorder = _Recorder()

        def slow_callback(request: Any) -> None:
            recorder(request)
            if len(recorder.sequences) == 5:
                # The application is busy: picamera2 recycles no buffer, the sensor runs out of requests.
                assert camera.wait_until(lambda cam: cam.frames_lost >= 4, timeout=10)

        with Picamera2(0) as picam2:
            picam2.configure(_video_config(picam2))
            picam2.post_callback = slow_callback
            picam2.start_recording(H264Encoder(), FileOutput(str(path)))
            assert camera.wait_for_frames(25, timeout=10)
            picam2.stop_recording()
        kernel.assert_released()
        lost = [r.sequence for r in camera.frames if r.outcome == "lost"]
        assert len(lost) >= 4 and lost == list(range(lost[0], lost[0] + len(lost)))
        assert not set(lost) & set(recorder.sequences)
    barcodes = _decode_barcodes(path)
    assert barcodes == recorder.sequences
    gaps = [b - a for a, b in zip(barcodes, barcodes[1:]) if b - a != 1]
    assert gaps == [len(lost) + 1]


def test_hold_buffers_and_stall_faults(tmp_path: Path) -> None:
    with fake_libcamera(sensors=[FakeSensor.imx219()], platform="vc4") as kernel:
        from picamera2 import Picamera2

        camera = kernel.cameras[0]
        recorder = _Recorder()
        with Picamera2(0) as picam2:
            picam2.configure(_video_config(picam2))
            picam2.post_callback = recorder
            picam2.start()
            assert camera.wait_for_frames(3, timeout=10)
            camera.hold_buffers(0.2)
            assert camera.wait_until(lambda cam: cam.frames_lost >= 3, timeout=10)
            delivered_before_stall = camera.frames_delivered
            assert camera.wait_for_frames(delivered_before_stall + 2, timeout=10)
            camera.stall(0.3)
            assert camera.wait_for_frames(camera.frames_delivered + 3, timeout=10)
            picam2.stop()
        kernel.assert_released()
        frames = camera.frames
        sequences = [r.sequence for r in frames]
        assert sequences == list(range(len(frames)))  # a stall does not use up sequence numbers
        steps = [b.timestamp_ns - a.timestamp_ns for a, b in zip(frames, frames[1:])]
        assert max(steps) >= 300_000_000 and sorted(steps)[len(steps) // 2] == FRAME_US * 1000
        assert camera.frames_lost >= 3


# --------------------------------------------------------------------------------------------------- controls


def test_set_controls_mid_run_reach_later_frames() -> None:
    with fake_libcamera(sensors=[FakeSensor.imx477()], platform="pisp") as kernel:
        from picamera2 import Picamera2

        camera = kernel.cameras[0]
        with Picamera2(0) as picam2:
            picam2.configure(_video_config(picam2))
            picam2.start()
            auto = picam2.capture_metadata()
            assert auto["AeState"] in (1, 2) and auto["FrameDuration"] == FRAME_US
            picam2.set_controls({"ExposureTime": 5000, "AnalogueGain": 2.0, "AwbEnable": False, "Brightness": 0.25})
            assert camera.wait_until(
                lambda cam: any(r.metadata["ExposureTime"] == 5000 for r in cam.frames if r.outcome == "delivered"),
                timeout=10,
            )
            metadata = picam2.capture_metadata()
            while metadata["ExposureTime"] != 5000:
                metadata = picam2.capture_metadata()
            assert metadata["AnalogueGain"] == pytest.approx(2.0)
            assert metadata["AeState"] == 0  # both manual: AGC idle
            gains = metadata["ColourGains"]
            later = picam2.capture_metadata()
            assert later["ColourGains"] == gains  # AWB held
            picam2.stop()
        kernel.assert_released()
        carried = [(seq, c) for seq, c in camera.controls_history if "ExposureTime" in c]
        assert carried[0][1]["ExposureTime"] == 5000 and carried[0][1]["ExposureTimeMode"] == 1
        effective = min(r.sequence for r in camera.frames if r.metadata["ExposureTime"] == 5000)
        assert effective == carried[0][0] + 2  # sensor controls take effect two frames later
        assert camera.start_controls[0]["FrameDurationLimits"] == (FRAME_US, FRAME_US)


def test_controls_not_advertised_are_refused() -> None:
    with fake_libcamera(sensors=[FakeSensor.imx477(), FakeSensor.imx708()], platform="vc4"):
        from picamera2 import Picamera2

        with Picamera2(0) as hq:
            with pytest.raises(RuntimeError, match="Control Bogus is not advertised by libcamera"):
                hq.set_controls({"Bogus": 1})
            with pytest.raises(RuntimeError, match="Control AfMode is not advertised"):
                hq.set_controls({"AfMode": 2})  # no focus lens on the HQ camera
            assert "SyncMode" in hq.camera_controls  # advertised by the Raspberry Pi IPA on VC4 and PiSP alike
            assert "ScalerCrops" not in hq.camera_controls  # PiSP only
            assert hq.camera_controls["AnalogueGain"][:2] == (1.0, 16.0)  # the IPA's defaults until configured
            hq.configure(_video_config(hq))
            low, high, _ = hq.camera_controls["AnalogueGain"]
            assert (low, high) == (1.0, pytest.approx(22.26, abs=0.01))  # the sensor mode's range
        with Picamera2(1) as cm3:
            cm3.configure(_video_config(cm3))
            cm3.start()
            assert cm3.autofocus_cycle(wait=10) is True
            assert cm3.capture_metadata()["AfState"] == 2
            cm3.stop()


# ------------------------------------------------------------------------------------------- configurations


def test_sizes_the_hardware_cannot_do_are_adjusted() -> None:
    with fake_libcamera(sensors=[FakeSensor.ov5647()], platform="vc4") as kernel:
        from picamera2 import Picamera2

        with Picamera2(0) as picam2:
            config = picam2.create_video_configuration(main={"size": (32, 24), "format": "YUV420"})
            picam2.configure(config)
            assert picam2.camera_configuration()["main"]["size"] == (64, 64)  # bcm2835-isp MIN_DIM
            config = picam2.create_video_configuration(main={"size": (1000, 750), "format": "XBGR8888"})
            picam2.configure(config)
            main = picam2.camera_configuration()["main"]
            assert main["size"] == (1000, 750) and main["stride"] == 4000 and main["framesize"] == 4000 * 750
            yuv = picam2.create_video_configuration(main={"size": (1000, 750), "format": "YUV420"})
            picam2.configure(yuv)
            assert picam2.camera_configuration()["main"]["stride"] == 1024  # VC4: 64-byte luma rows for YUV420
            assert picam2.camera_configuration()["raw"]["format"] == "SGBRG10_CSI2P"
            picam2.configure(picam2.create_video_configuration(transform=sys.modules["libcamera"].Transform(hflip=1)))
            assert kernel.cameras[0].orientation == "Rotate0Mirror" and kernel.cameras[0].transform == "hflip"
            assert picam2.camera_configuration()["transform"].hflip
        assert kernel.cameras[0].configuration == []
    with fake_libcamera(sensors=[FakeSensor.imx477()], platform="pisp"):
        from picamera2 import Picamera2

        with Picamera2(0) as picam2:
            picam2.configure(picam2.create_video_configuration(main={"size": (1000, 750), "format": "YUV420"}))
            config = picam2.camera_configuration()
            assert config["main"]["stride"] == 1024 and config["raw"]["format"] == "RGGB_PISP_COMP1"


def test_lores_stream_with_libav_mjpeg_encoder() -> None:
    with fake_libcamera(sensors=[FakeSensor.imx477()], platform="pisp") as kernel:
        from picamera2 import Picamera2
        from picamera2.encoders import LibavMjpegEncoder

        camera = kernel.cameras[0]
        recorder = _Recorder()
        output = _output_class()()
        with Picamera2(0) as picam2:
            # 384 wide: no row padding on PiSP. With padded rows PyAV 18 zero-copies the frames and the libav
            # MJPEG frame threads then need the GIL to free them while stop_encoder() flushes holding it: deadlock.
            picam2.configure(_video_config(picam2, lores={"size": (384, 288), "format": "YUV420"}))
            assert [s["stream"] for s in camera.configuration] == ["isp0", "isp1", "raw"]
            assert picam2.camera_configuration()["lores"]["stride"] == 384
            picam2.post_callback = recorder
            picam2.start_recording(LibavMjpegEncoder(), output, name="lores")
            assert camera.wait_for_frames(15, timeout=10)
            picam2.stop_recording()
        kernel.assert_released()
    assert len(output.frames) == len(recorder.sequences)
    for (jpeg, keyframe, _), sequence in zip(output.frames, recorder.sequences):
        assert jpeg[:2] == b"\xff\xd8" and keyframe
        image = Image.open(io.BytesIO(jpeg))
        assert image.size == (384, 288)
        assert read_frame_index(np.asarray(image.convert("L"))) == sequence


def test_capture_array_returns_the_barcode() -> None:
    with fake_libcamera(sensors=[FakeSensor.imx708()], platform="pisp") as kernel:
        from picamera2 import Picamera2

        camera = kernel.cameras[0]
        with Picamera2(0) as picam2:
            picam2.start()  # preview configuration: XBGR8888 640x480
            rgb, metadata = picam2.capture_arrays(["main"])
            image = rgb[0]
            assert image.shape == (480, 640, 4)
            sequence = read_frame_index(image[:, :, 0])
            assert camera.record(sequence).timestamp_ns == metadata["SensorTimestamp"]
            picam2.stop()
            picam2.configure(_video_config(picam2))
            picam2.start()
            yuv = picam2.capture_array("main")
            assert yuv.shape == (720, picam2.camera_configuration()["main"]["stride"])
            assert read_frame_index(yuv[:480, :640]) in camera.sequence_numbers_delivered
            picam2.stop()
        assert camera.starts == 2
        assert camera.startup_sequence_numbers == list(range(7))  # only the first start has startup frames
        kernel.assert_released()


# ------------------------------------------------------------------------------------------------ platforms


def test_vc4_gets_the_v4l2_h264_encoder_which_cannot_start_here(tmp_path: Path) -> None:
    with fake_libcamera(sensors=[FakeSensor.imx219()], platform="vc4") as kernel:
        from picamera2 import Picamera2
        from picamera2.encoders import H264Encoder
        from picamera2.encoders.h264_encoder import H264Encoder as V4L2H264Encoder
        from picamera2.outputs import FileOutput
        from picamera2.platform import Platform, get_platform

        assert get_platform() == Platform.VC4 and H264Encoder is V4L2H264Encoder
        with Picamera2(0) as picam2:
            picam2.configure(_video_config(picam2))
            output = FileOutput(str(tmp_path / "v4l2.h264"))
            with pytest.raises(FileNotFoundError, match="/dev/video11"):
                picam2.start_recording(H264Encoder(bitrate=5_000_000), output)
            output.close()  # picamera2 opened the file; its failed start leaves it open
            assert not kernel.cameras[0].started
        kernel.assert_released()


def test_each_context_gets_a_fresh_picamera2_and_restores_modules() -> None:
    with fake_libcamera(sensors=[FakeSensor.imx477()], platform="pisp"):
        import libcamera
        from picamera2 import Picamera2 as First

        transform = libcamera.Transform(hflip=True)
    with fake_libcamera(sensors=[FakeSensor.imx477()], platform="vc4"):
        import libcamera as again
        from picamera2 import Picamera2 as Second

        assert Second is not First and again is not libcamera
        assert not isinstance(transform, again.Transform)
        with pytest.raises(TypeError):
            again.Transform(hfilp=True)  # type: ignore[call-arg]


# ------------------------------------------------------------------------------------ libcamera semantics


def _error(call: Any) -> str:
    """The message of the RuntimeError ``call()`` raises (without keeping its traceback, which holds the request)."""
    try:
        call()
    except RuntimeError as exc:
        return str(exc)
    return ""


def test_libcamera_request_lifecycle_and_errors() -> None:
    with fake_libcamera(sensors=[FakeSensor.imx219()], platform="vc4") as kernel:
        import libcamera

        manager = libcamera.CameraManager.singleton()
        assert manager is libcamera.CameraManager.singleton()
        camera = manager.cameras[0]
        camera.acquire()
        with pytest.raises(RuntimeError, match="Failed to acquire camera: Device or resource busy"):
            camera.acquire()
        config = camera.generate_configuration([libcamera.StreamRole.VideoRecording])
        config.at(0).size = libcamera.Size(100000, 480)
        assert config.validate() == libcamera.CameraConfiguration.Status.Adjusted
        assert (config.at(0).size.width, config.at(0).size.height) == (16384, 480)
        assert config.validate() == libcamera.CameraConfiguration.Status.Valid
        camera.configure(config)
        stream = config.at(0).stream
        allocator = libcamera.FrameBufferAllocator(camera)
        assert allocator.allocate(stream) == 4
        buffers = allocator.buffers(stream)
        requests = []
        for i, buffer in enumerate(buffers):
            request = camera.create_request(i)
            request.add_buffer(stream, buffer)
            requests.append(request)
        with pytest.raises(RuntimeError, match="File exists"):
            requests[0].add_buffer(stream, buffers[1])
        with pytest.raises(RuntimeError, match="Failed to queue request: Permission denied"):
            camera.queue_request(requests[0])
        camera.start()
        with pytest.raises(RuntimeError, match="Failed to release camera: Device or resource busy"):
            camera.release()
        camera.queue_request(requests[0])
        assert select.select([manager.event_fd], [], [], 5)[0] == [manager.event_fd]
        (done,) = manager.get_ready_requests()
        assert done is requests[0] and done.status == libcamera.Request.Status.Complete
        assert done.buffers[stream].metadata.status == libcamera.FrameMetadata.Status.Startup
        assert libcamera.controls.SensorTimestamp in done.metadata
        assert _error(lambda: camera.queue_request(done)) == "Failed to queue request: Invalid argument"  # not reused
        done.reuse()
        assert done.status == libcamera.Request.Status.Pending and done.metadata == {}
        kernel.cameras[0].hold_buffers(60)
        for request in requests[1:]:
            camera.queue_request(request)
        camera.stop()
        cancelled = manager.get_ready_requests()
        assert cancelled == requests[1:]
        assert all(r.status == libcamera.Request.Status.Cancelled for r in cancelled)
        camera.release()
        assert not kernel.cameras[0].acquired and not kernel.sensor_threads()
        assert kernel.cameras[0].requests_cancelled == 3


def test_kernel_standins_prctl_and_pykms() -> None:
    with fake_libcamera(sensors=[FakeSensor.imx477()], platform="pisp"):
        import prctl  # type: ignore[import-not-found,unused-ignore]
        from picamera2.outputs import FfmpegOutput  # imports prctl at import time
        from picamera2.previews import DrmPreview  # imports pykms at import time

        assert FfmpegOutput is not None and DrmPreview is not None
        if not hasattr(prctl, "get_pdeathsig"):
            pytest.skip("the real python-prctl is installed")
        original = prctl.get_pdeathsig()
        try:
            prctl.set_pdeathsig(15)
            assert prctl.get_pdeathsig() == 15  # a real prctl(2) round trip
        finally:
            prctl.set_pdeathsig(original)
