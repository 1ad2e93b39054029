"""A dashboard served for a test: the real app on a real uvicorn server, on a thread, on a free loopback port."""

from __future__ import annotations

import threading
from typing import Optional

from rpi_camera_colony.dashboard.app import create_app
from rpi_camera_colony.dashboard.main import listen, make_server
from rpi_camera_colony.dashboard.session import DashboardSession
from rpi_camera_colony.testing import wait_for


class ServedDashboard:
    """``ServedDashboard(DashboardSession(conductor))``: its page at :attr:`url` until :meth:`close`."""

    def __init__(self, session: DashboardSession, token: Optional[str] = None) -> None:
        self.session = session
        self.sock = listen("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = make_server(create_app(session, token=token))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        if not wait_for(lambda: self.server.started, timeout=10):
            self.close()
            raise RuntimeError("the dashboard did not start within 10 s")

    def close(self) -> None:
        """Stop serving (the session's conductor is the caller's to clean up). Safe to call twice."""
        self.server.stop()
        self.thread.join(timeout=10)
        self.sock.close()

    def __enter__(self) -> ServedDashboard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
