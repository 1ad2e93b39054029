"""The fake kernel: file descriptors, the fake ``libcamera`` modules, and how they replace the real ones.

:class:`FakeKernel` owns everything one :func:`fake_libcamera` context creates: the fake cameras, every file
descriptor handed out (eventfds of camera managers, memfd frame buffers, the duplicates ``FrameBuffer.Plane`` makes
as libcamera's ``SharedFD`` does), the sensor threads, and the module objects put in ``sys.modules``:

* ``libcamera`` and ``libcamera._libcamera``: the bindings of :mod:`._binding`, fresh classes per context;
* ``prctl`` (only when python-prctl is not installed): ``set_pdeathsig``/``get_pdeathsig`` really call
  ``prctl(2)`` through ctypes;
* ``pykms`` (only when neither ``kms`` nor ``pykms`` is installed): picamera2 imports it at import time for its DRM
  preview; the stand-in opens the DRM device as the real one does and then refuses to drive it.

picamera2 itself stays real. Two things it does at import touch the kernel, so an import hook (active only inside
the context) adjusts them right after the real module code ran: ``picamera2.platform`` probes ``/dev/video*`` with
``VIDIOC_QUERYCAP`` to tell a Pi 5 (PiSP) from older boards (VC4), and its ``_platform`` is set to the board the
context fakes before ``picamera2.encoders`` picks the encoder classes; ``picamera2.picamera2`` allocates frame
buffers from ``/dev/dma_heap`` with ``DmaAllocator``, and that name is replaced by a subclass of picamera2's own
``Allocator`` that allocates memfd buffers (picamera2's base ``Sync`` maps them for real).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import gc
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import mmap
import os
import sys
import threading
import types
import weakref
from collections.abc import Iterator, Sequence
from typing import Any, Callable, ClassVar, Optional

from rpi_camera_colony.testing.fakes.libcamera._binding import CameraManager, Lib
from rpi_camera_colony.testing.fakes.libcamera._fds import FdHandle, FdRegistry
from rpi_camera_colony.testing.fakes.libcamera._pipeline import FakeCamera
from rpi_camera_colony.testing.fakes.libcamera._sensors import FakeSensor

logger = logging.getLogger(__name__)

PLATFORMS = ("pisp", "vc4")
_MARKER = "__fake_libcamera_kernel__"


class _MemfdAllocatorMixin:
    """The allocator that replaces picamera2's ``DmaAllocator`` (mixed into picamera2's own ``Allocator``).

    Like ``DmaAllocator`` it allocates ``buffer_count`` single-plane buffers of ``frame_size`` bytes per stream,
    maps each once (``mapped_buffers``), keeps its own descriptors and closes them on ``close()``/deletion. The
    buffers are memfds instead of dma-heap allocations, so its ``sync`` class (derived from picamera2's ``Sync``)
    skips the ``DMA_BUF_IOCTL_SYNC`` calls and hands out the persistent mapping, as ``DmaSync`` does. (picamera2's
    base ``Sync``, which maps and unmaps around every access, cannot be used: the libav encoders keep a frame
    referencing the mapping past the ``with`` block, and closing it raises ``BufferError``.)
    """

    _kernel: ClassVar[FakeKernel]
    _sync_class: ClassVar[type]

    def __init__(self) -> None:
        super().__init__()
        self.sync = self._sync_class
        self.frame_buffers: dict[Any, list[Any]] = {}
        self.mapped_buffers: dict[Any, mmap.mmap] = {}
        self._handles: list[FdHandle] = []

    def allocate(self, libcamera_config: Any, use_case: Any) -> None:
        self._free()
        lib = self._kernel.lib
        for index, stream_config in enumerate(libcamera_config):
            buffers = []
            for i in range(stream_config.buffer_count):
                handle = self._kernel.fds.memfd(f"picamera2-{i}", stream_config.frame_size)
                self._handles.append(handle)
                plane = lib.FrameBuffer.Plane(handle.fd, 0, stream_config.frame_size)
                buffer = lib.FrameBuffer([plane])
                self.mapped_buffers[buffer] = mmap.mmap(
                    handle.fd, stream_config.frame_size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE
                )
                buffers.append(buffer)
            self.frame_buffers[stream_config.stream] = buffers
            logger.debug("allocated %d memfd buffers for stream %d", len(buffers), index)

    def buffers(self, stream: Any) -> list[Any]:
        return self.frame_buffers[stream]

    def _free(self) -> None:
        mapped, self.mapped_buffers = self.mapped_buffers, {}
        for mapping in mapped.values():
            # A frame still referencing the memory keeps the mapping alive until it goes (as with DmaAllocator).
            with contextlib.suppress(BufferError):
                mapping.close()
        self.frame_buffers = {}
        handles, self._handles = self._handles, []
        for handle in handles:
            handle.close()

    def close(self) -> None:
        self._free()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._free()


class _MemfdSyncMixin:
    """``sync`` of the memfd allocator: the persistent mapping, no cache maintenance needed for memfd."""

    def __init__(self, allocator: Any, fb: Any, write: bool) -> None:
        self._allocator = allocator
        self._fb = fb
        self._write = write

    def __enter__(self) -> mmap.mmap:
        mapping: Optional[mmap.mmap] = self._allocator.mapped_buffers.get(self._fb)
        if mapping is None:
            raise RuntimeError("failed to find buffer in MemfdSync")
        return mapping

    def __exit__(self, exc_type: Any = None, exc_value: Any = None, exc_traceback: Any = None) -> None:
        return None

    def get_buffer(self) -> mmap.mmap:
        return self.__enter__()


# ----------------------------------------------------------------------------------------- kernel stand-ins


def prctl_module() -> types.ModuleType:
    """A ``prctl`` module (python-prctl's API subset picamera2 uses) calling the real ``prctl(2)``."""
    module = types.ModuleType("prctl", "Stand-in for python-prctl: the pdeathsig calls, made for real via ctypes.")
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig, pr_get_pdeathsig = 1, 2

    def set_pdeathsig(signal: int) -> None:
        """Deliver ``signal`` to this process when its parent dies (``prctl(PR_SET_PDEATHSIG, signal)``)."""
        if libc.prctl(pr_set_pdeathsig, ctypes.c_ulong(int(signal)), 0, 0, 0) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))

    def get_pdeathsig() -> int:
        """The signal set by :func:`set_pdeathsig` (0 if none)."""
        value = ctypes.c_int(0)
        if libc.prctl(pr_get_pdeathsig, ctypes.byref(value), 0, 0, 0) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))
        return value.value

    module.set_pdeathsig = set_pdeathsig  # type: ignore[attr-defined]
    module.get_pdeathsig = get_pdeathsig  # type: ignore[attr-defined]
    return module


def pykms_module() -> types.ModuleType:
    """A ``pykms`` module for picamera2's import of its DRM preview; no DRM device can be driven with it."""
    module = types.ModuleType("pykms", "Stand-in for pykms: enough for picamera2's import, no display.")
    names = ("RGB888", "BGR888", "XRGB8888", "XBGR8888", "ABGR8888", "YUV420", "YVU420", "NV12", "YUYV", "YVYU")
    module.PixelFormat = types.SimpleNamespace(**{name: name for name in names})  # type: ignore[attr-defined]
    module.PlaneType = types.SimpleNamespace(Primary=1, Overlay=0, Cursor=2)  # type: ignore[attr-defined]

    class Card:
        """Opens the DRM device like pykms (ValueError when it cannot), then refuses: no KMS here."""

        def __init__(self, dev_path: str = "/dev/dri/card0") -> None:
            try:
                fd = os.open(dev_path, os.O_RDWR | os.O_CLOEXEC)
            except OSError as exc:
                raise ValueError(f"{os.strerror(exc.errno or errno.ENODEV)} opening device {dev_path}") from None
            os.close(fd)
            raise ValueError(f"the fake kernel layer cannot drive the DRM device {dev_path}")

    def unavailable(*_args: object) -> None:
        raise ValueError("the fake kernel layer has no DRM/KMS")

    module.Card = Card  # type: ignore[attr-defined]
    for name in ("ResourceManager", "DumbFramebuffer", "DmabufFramebuffer", "AtomicReq"):
        setattr(module, name, unavailable)
    return module


# ----------------------------------------------------------------------------------------------- the kernel


class FakeKernel:
    """Everything one :func:`fake_libcamera` context fakes. ``cameras[i]`` is the fake behind camera ``i``."""

    def __init__(self, sensors: Sequence[FakeSensor], platform: str) -> None:
        self.platform = platform
        self.fds = FdRegistry()
        self.lib = Lib(self)
        self._lock = threading.Lock()
        self._manager: Optional[weakref.ReferenceType[CameraManager]] = None
        self._managers: weakref.WeakSet[CameraManager] = weakref.WeakSet()
        self.managers_created = 0
        self.cameras: list[FakeCamera] = [FakeCamera(self, sensor, i) for i, sensor in enumerate(sensors)]
        self.closed = False
        self.allocator_class: Optional[type] = None

    # -------------------------------------------------------------------------------- camera managers

    def current_manager(self) -> Optional[CameraManager]:
        """The live CameraManager (libcamera keeps a weak pointer: a new one is made once all handles are gone)."""
        with self._lock:
            return self._manager() if self._manager is not None else None

    def manager_started(self, manager: CameraManager) -> None:
        with self._lock:
            self._manager = weakref.ref(manager)
            self._managers.add(manager)
            self.managers_created += 1
        for camera in self.cameras:
            camera.on_new_manager()

    # ------------------------------------------------------------------------------------------ modules

    def make_modules(self) -> dict[str, types.ModuleType]:
        """Fresh ``libcamera`` and ``libcamera._libcamera`` modules over this kernel."""
        lib = self.lib
        binding = types.ModuleType("libcamera._libcamera", "Fake libcamera Python bindings (rpi_camera_colony).")
        exported: dict[str, Any] = {
            "Point": lib.Point,
            "Size": lib.Size,
            "SizeRange": lib.SizeRange,
            "Rectangle": lib.Rectangle,
            "PixelFormat": lib.PixelFormat,
            "ColorSpace": lib.ColorSpace,
            "Transform": lib.Transform,
            "Orientation": lib.Orientation,
            "StreamRole": lib.StreamRole,
            "ControlType": lib.ControlType,
            "ControlId": lib.ControlId,
            "ControlInfo": lib.ControlInfo,
            "SensorConfiguration": lib.SensorConfiguration,
            "StreamFormats": lib.StreamFormats,
            "Stream": lib.Stream,
            "StreamConfiguration": lib.StreamConfiguration,
            "CameraConfiguration": lib.CameraConfiguration,
            "FrameMetadata": lib.FrameMetadata,
            "FrameBuffer": lib.FrameBuffer,
            "FrameBufferAllocator": lib.FrameBufferAllocator,
            "Request": lib.Request,
            "Camera": lib.Camera,
            "CameraManager": lib.CameraManager,
            "controls": lib.controls,
            "properties": lib.properties,
            "formats": lib.formats,
            "log_set_level": _log_set_level,
        }
        for name, value in exported.items():
            setattr(binding, name, value)
        binding.__all__ = list(exported)  # type: ignore[attr-defined]
        package = types.ModuleType("libcamera", "Fake libcamera (rpi_camera_colony.testing.fakes.libcamera).")
        package.__path__ = []  # type: ignore[attr-defined]
        for name, value in exported.items():
            setattr(package, name, value)
        package._libcamera = binding  # type: ignore[attr-defined]
        setattr(package, _MARKER, weakref.ref(self))
        return {"libcamera": package, "libcamera._libcamera": binding}

    def make_allocator_class(self) -> type:
        """The memfd allocator class, derived from picamera2's own ``Allocator`` (import it first)."""
        from picamera2.allocators.allocator import Allocator, Sync

        sync = type("MemfdSync", (_MemfdSyncMixin, Sync), {"__module__": __name__, "__doc__": _MemfdSyncMixin.__doc__})
        cls = type(
            "MemfdAllocator",
            (_MemfdAllocatorMixin, Allocator),
            {"_kernel": self, "_sync_class": sync, "__module__": __name__, "__doc__": _MemfdAllocatorMixin.__doc__},
        )
        self.allocator_class = cls
        return cls

    # ------------------------------------------------------------------------------------- inspection

    def sensor_threads(self) -> list[FakeCamera]:
        """Cameras whose sensor thread is alive."""
        return [camera for camera in self.cameras if camera.sensor_thread_alive]

    def open_fds(self, *, include_managers: bool = False) -> list[FdHandle]:
        """Descriptors of the fake kernel still open (frame buffers; camera manager eventfds on request)."""
        gc.collect()
        return [h for h in self.fds.open_handles() if include_managers or h.kind not in ("eventfd", "pipe")]

    def assert_released(self, *, include_managers: bool = False) -> None:
        """Assert that every camera is released, no sensor thread runs and no buffer descriptor is open.

        The camera manager's eventfd is allowed to stay open (picamera2 keeps its ``CameraManager`` in a class
        attribute after ``global_camera_info()``) unless ``include_managers``; the context closes it on exit.
        """
        problems = [f"{camera!r} is not released" for camera in self.cameras if camera.acquired]
        problems += [f"{camera!r} has a live sensor thread" for camera in self.sensor_threads()]
        problems += [f"{handle!r} is open" for handle in self.open_fds(include_managers=include_managers)]
        if problems:
            raise AssertionError("fake kernel not released: " + "; ".join(problems))

    def shutdown(self) -> None:
        """Stop every sensor, close every descriptor (end of the context)."""
        if self.closed:
            return
        self.closed = True
        for camera in self.cameras:
            camera.shutdown()
        for manager in list(self._managers):
            manager.shutdown()
        gc.collect()
        leftover = self.fds.open_handles()
        if leftover:
            logger.debug("closing %d descriptors left open by the application", len(leftover))
        self.fds.close_all()


def _log_set_level(category: str, level: str) -> None:
    """``libcamera.log_set_level``: the fake logs through :mod:`logging`; this sets its logger's level."""
    if not isinstance(category, str) or not isinstance(level, str):
        raise TypeError("log_set_level(): incompatible function arguments")
    names = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARN": logging.WARNING, "ERROR": logging.ERROR}
    logging.getLogger("rpi_camera_colony.testing.fakes.libcamera").setLevel(names.get(level.upper(), logging.INFO))


# ---------------------------------------------------------------------------------------- the import hook


class _PatchingLoader(importlib.abc.Loader):
    """Runs the real module's code, then ``patch(module)``."""

    def __init__(self, loader: importlib.abc.Loader, patch: Callable[[types.ModuleType], None]) -> None:
        self._loader = loader
        self._patch = patch

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Optional[types.ModuleType]:
        return self._loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        self._loader.exec_module(module)
        self._patch(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _Picamera2Hook(importlib.abc.MetaPathFinder):
    """Finds the real picamera2 modules and patches the two that probe the kernel, right after they run."""

    def __init__(self, patches: dict[str, Callable[[types.ModuleType], None]]) -> None:
        self._patches = patches

    def find_spec(
        self, fullname: str, path: Optional[Sequence[str]], target: Optional[types.ModuleType] = None
    ) -> Optional[importlib.machinery.ModuleSpec]:
        patch = self._patches.get(fullname)
        if patch is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _PatchingLoader(spec.loader, patch)  # type: ignore[assignment]
        return spec


def _is_picamera2(name: str) -> bool:
    return name == "picamera2" or name.startswith("picamera2.")


def _importable(name: str) -> bool:
    if name in sys.modules:
        return True
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


class _Installation:
    """Puts the fake modules in place and takes them out again."""

    def __init__(self, kernel: FakeKernel) -> None:
        self.kernel = kernel
        self.saved: dict[str, Optional[types.ModuleType]] = {}
        self.saved_picamera2: dict[str, types.ModuleType] = {}
        self.hook = _Picamera2Hook(
            {"picamera2.platform": self._patch_platform, "picamera2.picamera2": self._patch_picamera2}
        )

    def _patch_platform(self, module: types.ModuleType) -> None:
        platform = module.Platform.PISP if self.kernel.platform == "pisp" else module.Platform.VC4
        setattr(module, "_platform", platform)  # noqa: B010 - a module of picamera2, typed as ModuleType
        logger.debug("picamera2.platform: %s", platform)

    def _patch_picamera2(self, module: types.ModuleType) -> None:
        setattr(module, "DmaAllocator", self.kernel.make_allocator_class())  # noqa: B010

    def install(self) -> None:
        current = sys.modules.get("libcamera")
        if current is not None and hasattr(current, _MARKER):
            raise RuntimeError("fake_libcamera() contexts do not nest")
        self.saved_picamera2 = {name: mod for name, mod in sys.modules.items() if _is_picamera2(name)}
        for name in self.saved_picamera2:
            del sys.modules[name]
        modules = self.kernel.make_modules()
        if not _importable("prctl"):
            modules["prctl"] = prctl_module()
        if not _importable("kms") and not _importable("pykms"):
            modules["pykms"] = pykms_module()
        for name, module in modules.items():
            self.saved[name] = sys.modules.get(name)
            sys.modules[name] = module
        sys.meta_path.insert(0, self.hook)

    def uninstall(self) -> None:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self.hook)
        for name in [name for name in sys.modules if _is_picamera2(name)]:
            del sys.modules[name]
        sys.modules.update(self.saved_picamera2)
        for name, previous in self.saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous


@contextlib.contextmanager
def fake_libcamera(sensors: Sequence[FakeSensor] = (), *, platform: str = "pisp") -> Iterator[FakeKernel]:
    """Fake the kernel and libcamera under the real picamera2 for the duration of the ``with`` block.

    Args:
        sensors: the camera modules connected, in libcamera's camera order.
        platform: ``"pisp"`` (Raspberry Pi 5) or ``"vc4"`` (Raspberry Pi 4 and older).

    Yields:
        The :class:`FakeKernel`: ``kernel.cameras[i]`` are the fake cameras with their assertion helpers.

    Import picamera2 inside the block: each context gets a freshly imported real picamera2 (its modules are taken
    out of ``sys.modules`` on entry and on exit), over fresh fake libcamera modules.
    """
    if platform not in PLATFORMS:
        raise ValueError(f"platform must be one of {PLATFORMS}, not {platform!r}")
    sensors = list(sensors)
    if not all(isinstance(sensor, FakeSensor) for sensor in sensors):
        raise TypeError("sensors must be FakeSensor objects")
    kernel = FakeKernel(sensors, platform)
    installation = _Installation(kernel)
    installation.install()
    try:
        yield kernel
    finally:
        try:
            kernel.shutdown()
        finally:
            installation.uninstall()


__all__ = ["FakeKernel", "FdHandle", "fake_libcamera"]
