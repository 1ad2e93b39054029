"""rcc_dashboard over a simulated colony: the JSON API, the server-sent status, the MJPEG relay and the command line,
through a real uvicorn server on 127.0.0.1 (the page in a real browser: test_dashboard_browser.py)."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import simplejpeg  # type: ignore[import-untyped]

from rpi_camera_colony import read_session_data
from rpi_camera_colony.control.conductor import Conductor
from rpi_camera_colony.dashboard.main import is_loopback, listen
from rpi_camera_colony.dashboard.session import DashboardSession
from rpi_camera_colony.mjpeg import read_parts
from rpi_camera_colony.testing import assert_session_complete, wait_for
from rpi_camera_colony.testing.dashboard import ServedDashboard

BIN = Path(sys.executable).parent
CAMERAS = ["cam0", "cam1"]


def request(url: str, body: Any = None, headers: Optional[dict[str, str]] = None) -> tuple[int, Any]:
    """(status, decoded JSON) of a GET, or of a POST when ``body`` is given."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def mjpeg_parts(url: str, count: int) -> list[tuple[dict[str, str], bytes]]:
    """The first ``count`` parts (headers, JPEG) of a multipart/x-mixed-replace stream."""
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.headers["Content-Type"] == "multipart/x-mixed-replace; boundary=FRAME"
        parts = list(itertools.islice(read_parts(response), count))  # raises on any framing error
    assert len(parts) == count
    return parts


@pytest.fixture
def colony(colony_config: Callable[..., Path]) -> Iterator[Conductor]:
    config = colony_config(cameras=2, framerate=30, resolution=(320, 240), acquisition_name="dash__default")
    with Conductor(config_file=str(config)) as conductor:
        conductor.stream_preview(True)
        yield conductor


@pytest.fixture
def served(colony: Conductor) -> Iterator[ServedDashboard]:
    served = ServedDashboard(DashboardSession(colony))
    try:
        yield served
    finally:
        served.close()


def test_status_lists_every_camera_live(served: ServedDashboard) -> None:
    assert wait_for(
        lambda: all(
            c["previews"] > 0 and c["clock_offset_us"] is not None
            for c in request(served.url + "/api/status")[1]["cameras"]
        )
    )
    status, view = request(served.url + "/api/status")
    assert status == 200 and not view["acquiring"] and view["elapsed_s"] is None
    assert [c["name"] for c in view["cameras"]] == CAMERAS
    for tile in view["cameras"]:
        assert tile["state"] == "previewing" and tile["problem"] is None
        assert tile["resolution"] == [320, 240] and tile["framerate"] == 30 and tile["free_disk"] > 0
        assert tile["clock_offset_us"] is not None and tile["clock_uncertainty_us"] >= 0


def test_the_relay_streams_each_camera_and_a_snapshot(served: ServedDashboard) -> None:
    for camera in CAMERAS:
        parts = mjpeg_parts(f"{served.url}/cameras/{camera}/preview.mjpg", 3)
        indices = [int(headers["x-frame-index"]) for headers, _ in parts]
        assert indices == sorted(set(indices)), indices  # new images, in order
        images = [simplejpeg.decode_jpeg(jpeg, colorspace="GRAY") for _, jpeg in parts]
        assert all(image.shape[:2] == (240, 320) for image in images)
        assert (images[0] != images[-1]).any()  # the picture moves
    with urllib.request.urlopen(f"{served.url}/cameras/cam1/snapshot.jpg", timeout=10) as response:
        assert response.headers["Content-Type"] == "image/jpeg" and response.read(2) == b"\xff\xd8"
    assert request(f"{served.url}/api/nothing") == (404, {"error": "Not Found", "kind": "HTTPException"})
    assert request(f"{served.url}/api/start") == (405, {"error": "Method Not Allowed", "kind": "HTTPException"})
    with pytest.raises(KeyError, match=r"no camera 'cam9' in this colony \(cameras: cam0, cam1\)"):
        served.session.conductor.preview_frame("cam9")
    status, error = request(f"{served.url}/cameras/cam9/snapshot.jpg")
    assert status == 404 and error == {"error": "no camera 'cam9' in this colony (cameras: cam0, cam1)",
                                       "kind": "NotFound"}  # fmt: skip


def test_start_and_stop_from_the_api_with_the_preview_on(served: ServedDashboard, data_dir: Path) -> None:
    status, started = request(served.url + "/api/start", {"acquisition_name": "api__take1"})
    assert status == 200, started
    assert started["acquisition_name"] == "api__take1" and set(started["first_frames"]) == set(CAMERAS)
    status, again = request(served.url + "/api/start", {"acquisition_name": "api__take2"})
    assert status == 409 and again == {"error": "already recording: stop first", "kind": "RecordingError"}
    previews = {c["name"]: c["previews"] for c in request(served.url + "/api/status")[1]["cameras"]}
    assert wait_for(lambda: all(c["frames"] >= 30 for c in request(served.url + "/api/status")[1]["cameras"]))
    view = request(served.url + "/api/status")[1]
    assert view["acquiring"] and view["elapsed_s"] >= 0
    assert all(c["state"] == "recording" and c["previews"] > previews[c["name"]] for c in view["cameras"])
    status, stopped = request(served.url + "/api/stop", {})
    assert status == 200 and set(stopped["summaries"]) == set(CAMERAS)
    assert all(s["dropped"] == 0 and s["frames"] > 0 for s in stopped["summaries"].values())
    folder = data_dir / "api" / "api__take1"
    assert_session_complete(read_session_data(folder), CAMERAS, folder)
    view = request(served.url + "/api/status")[1]
    assert [r["acquisition_name"] for r in view["recordings"]] == ["api__take1"]
    assert view["recordings"][0]["cameras"]["cam0"]["frames"] == stopped["summaries"]["cam0"]["frames"]
    assert wait_for(lambda: all(c["state"] == "previewing" for c in request(served.url + "/api/status")[1]["cameras"]))
    assert request(served.url + "/api/stop", {}) == (200, {"summaries": {}})  # nothing to stop


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", 'the body must be JSON, e.g. {"acquisition_name": "mouse1__day1"}'),
        ({"acquisition_name": 5}, 'the body must be {"acquisition_name": "NAME"}'),
        ({"acquisition_name": "../etc"}, "acquisition_name '../etc' cannot be used in file names"),
    ],
)
def test_bad_requests_are_refused_with_the_reason(served: ServedDashboard, body: Any, message: str) -> None:
    status, error = request(served.url + "/api/start", body)
    assert status == 400 and error["error"].startswith(message) and error["kind"] == "ValueError"
    assert not request(served.url + "/api/status")[1]["acquiring"]


def test_status_arrives_as_server_sent_events(served: ServedDashboard) -> None:
    with urllib.request.urlopen(served.url + "/api/events", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        line = response.readline()
        assert line.startswith(b"data: ")
        view = json.loads(line[len(b"data: ") :])
        assert [c["name"] for c in view["cameras"]] == CAMERAS


def test_a_token_is_required_when_given(colony: Conductor) -> None:
    served = ServedDashboard(DashboardSession(colony), token="s3cret")
    try:
        status, error = request(served.url + "/api/status")
        assert status == 401 and error["kind"] == "Auth" and "token" in error["error"]
        assert request(served.url + "/api/status?token=wrong")[0] == 401
        assert request(served.url + "/api/status?token=s3cret")[0] == 200
        assert request(served.url + "/api/status", headers={"Authorization": "Bearer s3cret"})[0] == 200
        with urllib.request.urlopen(served.url + "/?token=s3cret", timeout=10) as response:
            assert "rcc_token=s3cret" in response.headers["Set-Cookie"]
    finally:
        served.close()
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10")


def test_the_command_line_serves_and_ends_cleanly_on_ctrl_c(colony_config: Callable[..., Path]) -> None:
    config = colony_config(cameras=2, framerate=30)
    process = subprocess.Popen(
        [str(BIN / "rcc_dashboard"), "-c", str(config), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("rcc_dashboard: 2 camera(s) at http://127.0.0.1:"), line
        url = line.split(" at ")[1].split()[0].rstrip("/")
        status, started = request(url + "/api/start", {"acquisition_name": "cli__take"})
        assert status == 200, started
        pids = [c["pid"] for c in request(url + "/api/status")[1]["cameras"]]
        assert all(pids)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0, process.stderr.read() if process.stderr else ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    for pid in pids:  # every agent ended
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    folder = config.parent / "data" / "cli" / "cli__take"
    session = read_session_data(folder)
    assert all(session[c]["metadata"]["status"] == "stopped" for c in CAMERAS)  # stopped with complete files


def test_the_command_line_refuses_a_busy_port(colony_config: Callable[..., Path]) -> None:
    config = colony_config(cameras=1)
    holder = listen("127.0.0.1", 0)
    try:
        port = holder.getsockname()[1]
        result = subprocess.run(
            [str(BIN / "rcc_dashboard"), "-c", str(config), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        holder.close()
    assert result.returncode == 2
    assert f"cannot serve the page on 127.0.0.1:{port}: Address already in use; choose another with --port" in (
        result.stderr
    )
