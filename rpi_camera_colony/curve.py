"""CURVE encryption and authentication of the colony's sockets (``[control] curve = True``).

:func:`ensure_keys` makes the key pairs, :class:`CurveServer` encrypts the conductor's sockets and admits only peers
whose public key is in the key folder, each under its own camera's name (a peer that presents cam1's key cannot
speak as cam0); :class:`CurveClient` is an agent's side.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Union

import zmq

from rpi_camera_colony.exc import ColonyError

logger = logging.getLogger(__name__)

CONDUCTOR_KEY = "conductor"


def ensure_keys(folder: Union[str, Path], names: Iterable[str]) -> Path:
    """Make the missing key pairs (``NAME.key`` public, ``NAME.key_secret`` private) for the conductor and these
    cameras in ``folder`` (made private: mode 0700); returns the folder.

    Raises:
        ColonyError: if the folder or a key cannot be written.
    """
    import zmq.auth

    path = Path(folder).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.chmod(0o700)
        for name in [CONDUCTOR_KEY, *names]:
            if not (path / f"{name}.key_secret").exists():
                zmq.auth.create_certificates(str(path), name)
                (path / f"{name}.key_secret").chmod(0o600)
                logger.info("made the CURVE key pair %s in %s", name, path)
    except OSError as err:
        raise ColonyError(f"cannot write CURVE keys in {path}: {err.strerror or err}") from None
    return path


def _load_pair(path: Path) -> tuple[bytes, bytes]:
    import zmq.auth

    try:
        public, secret = zmq.auth.load_certificate(str(path))
    except (OSError, ValueError) as err:
        raise ColonyError(f"cannot read the CURVE key {path}: {err}") from None
    if secret is None:
        raise ColonyError(f"{path} holds no secret key: the .key_secret file is needed")
    return public, secret


class CurveServer:
    """The conductor's CURVE keys and authenticator: only keys in ``folder`` may connect, each as its camera."""

    def __init__(self, folder: Union[str, Path]) -> None:
        self.folder = Path(folder).expanduser()
        self.public, self.secret = _load_pair(self.folder / f"{CONDUCTOR_KEY}.key_secret")
        self._names: dict[bytes, str] = {}
        import zmq.auth

        for public_file in sorted(self.folder.glob("*.key")):
            try:
                public, _ = zmq.auth.load_certificate(str(public_file))
            except (OSError, ValueError) as err:
                logger.warning("ignored CURVE key %s: %s", public_file, err)
                continue
            self._names[public] = public_file.stem
        self._auth: Any = None

    def start(self, context: zmq.Context[Any]) -> None:
        from zmq.auth.thread import ThreadAuthenticator
        from zmq.utils import z85

        names = self._names

        class _Authenticator(ThreadAuthenticator):
            def curve_user_id(self, client_public_key: bytes) -> str:  # the camera this (binary) key belongs to
                return names.get(z85.encode(client_public_key), "")

        self._auth = _Authenticator(context)
        self._auth.start()
        self._auth.configure_curve_callback(domain="*", credentials_provider=self)

    def callback(self, domain: str, key: bytes) -> bool:
        """ZAP: admit only the keys found in the key folder (``key`` is Z85-encoded, as in the key files)."""
        return key in self._names

    def apply(self, sock: zmq.Socket[bytes]) -> None:
        sock.curve_secretkey = self.secret
        sock.curve_publickey = self.public
        sock.curve_server = True

    def stop(self) -> None:
        if self._auth is not None:
            self._auth.stop()
            self._auth = None


class CurveClient:
    """An agent's CURVE keys: its own pair and the conductor's public key, from ``folder``."""

    def __init__(self, folder: Union[str, Path], name: str) -> None:
        import zmq.auth

        path = Path(folder).expanduser()
        self.public, self.secret = _load_pair(path / f"{name}.key_secret")
        try:
            self.server, _ = zmq.auth.load_certificate(str(path / f"{CONDUCTOR_KEY}.key"))
        except (OSError, ValueError) as err:
            raise ColonyError(f"cannot read the conductor's CURVE key in {path}: {err}") from None

    def apply(self, sock: zmq.Socket[bytes]) -> None:
        sock.curve_secretkey = self.secret
        sock.curve_publickey = self.public
        sock.curve_serverkey = self.server
