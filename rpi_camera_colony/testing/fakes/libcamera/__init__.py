"""A fake of the kernel and libcamera layer under the real picamera2, for machines without a Raspberry Pi camera.

Only what touches the kernel is faked: the ``libcamera`` Python bindings (C++ in reality: camera manager, cameras,
configurations, requests, frame buffers, controls), the DMA heap picamera2 allocates frame buffers from, the
``/dev/video*`` probe that tells a Pi 5 from older boards, and the ``prctl`` / ``pykms`` extension modules when they
are not installed. Everything above runs for real: ``picamera2.Picamera2``, its jobs and event loop
(``NullPreview``), its libav encoders and its outputs. Frames are produced by a sensor thread per started camera
on the sensor's clock, with real pixels (a gradient plus the frame's sequence number as a barcode), real
CLOCK_BOOTTIME timestamps, and real drops when the application does not give buffers back in time::

    from rpi_camera_colony.testing.fakes.libcamera import FakeSensor, fake_libcamera

    with fake_libcamera(sensors=[FakeSensor.imx477()], platform="pisp") as kernel:
        from picamera2 import Picamera2
        from picamera2.encoders import H264Encoder   # picamera2's LibavH264Encoder on a Pi 5
        ...
        kernel.cameras[0].sequence_numbers_delivered

See :class:`FakeCamera` for the assertion helpers and fault injectors (``hold_buffers``, ``stall``) and
:meth:`FakeKernel.assert_released`.
"""

from __future__ import annotations

from rpi_camera_colony.testing.fakes.libcamera._fds import FdHandle
from rpi_camera_colony.testing.fakes.libcamera._kernel import FakeKernel, fake_libcamera
from rpi_camera_colony.testing.fakes.libcamera._pipeline import FakeCamera, FrameRecord
from rpi_camera_colony.testing.fakes.libcamera._sensors import FakeSensor, SensorMode

__all__ = ["FakeCamera", "FakeKernel", "FakeSensor", "FdHandle", "FrameRecord", "SensorMode", "fake_libcamera"]
