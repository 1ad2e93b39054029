"""A test bed of SSH hosts on one Linux machine, for testing remote launch the way labs deploy it.

Namespaces mode (root): a "central" network namespace holds a bridge (the lab's switch, 10.99.0.1/24); each host is
a namespace joined to it by a veth pair (10.99.0.10, .11, ...) running its own real ``sshd`` with a generated host
key, accepting a generated user key. Run the conductor inside the central namespace with :meth:`command`. Every
address lives in namespaces the test bed created, so no traffic can leave the machine.

Loopback mode (no namespaces permitted): one sshd on a free port on 127.0.0.1, the hosts are 127.0.0.10, .11, ...

Each host gets its own agent runtime directory (pidfiles, agent logs) via sshd's ``SetEnv RCC_RUNTIME_DIR``. On
:meth:`close` every agent the bed's hosts started is ended by the pid in its pidfile, every sshd by its pid, and the
namespaces are deleted.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from rpi_camera_colony.exc import ColonyError
from rpi_camera_colony.testing import free_port

SUBNET = "10.99.0"
CENTRAL_ADDRESS = f"{SUBNET}.1"


@dataclass
class TestHost:
    name: str
    address: str
    port: int
    namespace: Optional[str]
    runtime_dir: Path
    sshd: Optional[subprocess.Popen[bytes]] = None


def _run(*argv: str) -> None:
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise ColonyError(f"{' '.join(argv)} failed: {result.stderr.strip()}")


def namespaces_available() -> bool:
    """True when this process may create network namespaces (root with iproute2 and sshd installed)."""
    if os.geteuid() != 0 or shutil.which("ip") is None or not Path("/usr/sbin/sshd").exists():
        return False
    probe = f"rccprobe{os.getpid()}"
    try:
        _run("ip", "netns", "add", probe)
    except ColonyError:
        return False
    _run("ip", "netns", "del", probe)
    return True


class SshTestBed:
    """K SSH hosts; see the module docstring. Use as a context manager.

    Args:
        workdir: an empty folder for keys, configs and runtime dirs.
        hosts: how many hosts.
        namespaces: force namespaces (True) or loopback (False); None: namespaces when available.
    """

    def __init__(self, workdir: Path, hosts: int, *, namespaces: Optional[bool] = None) -> None:
        self.workdir = Path(workdir)
        self.count = hosts
        self.use_namespaces = namespaces_available() if namespaces is None else namespaces
        self.tag = f"rcc{os.getpid() % 100000}x{id(self) % 1000}"
        self.central = f"{self.tag}c" if self.use_namespaces else None
        self.hosts: list[TestHost] = []
        self.user = getpass.getuser()
        self.user_key = self.workdir / "user_key"
        self.ssh_config = self.workdir / "ssh_config"
        self._namespaces: list[str] = []
        self._closed = False

    @property
    def central_address(self) -> str:
        """The conductor's address on the bed's network."""
        return CENTRAL_ADDRESS if self.use_namespaces else "127.0.0.1"

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` run on the central machine (inside the central namespace in namespaces mode)."""
        return ["ip", "netns", "exec", self.central, *argv] if self.central else list(argv)

    def __enter__(self) -> SshTestBed:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege separation directory
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.user_key))
        host_key = self.workdir / "host_key"
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key))
        authorized = self.workdir / "authorized_keys"
        shutil.copy(self.user_key.with_suffix(".pub"), authorized)
        authorized.chmod(0o600)
        if self.use_namespaces:
            self._make_network()
        port = 22 if self.use_namespaces else free_port()
        for i in range(self.count):
            address = f"{SUBNET}.{10 + i}" if self.use_namespaces else f"127.0.0.{10 + i}"
            runtime = self.workdir / f"host{i}" / "run"
            runtime.mkdir(parents=True)
            namespace = f"{self.tag}h{i}" if self.use_namespaces else None
            self.hosts.append(TestHost(f"host{i}", address, port, namespace, runtime))
        if self.use_namespaces:
            for host in self.hosts:
                host.sshd = self._start_sshd(host_key, authorized, [host], host.port, host.namespace)
        else:
            sshd = self._start_sshd(host_key, authorized, self.hosts, port, None)
            for host in self.hosts:
                host.sshd = sshd
        public = (host_key.with_suffix(".pub")).read_text().split()
        known = self.workdir / "known_hosts"
        known.write_text(
            "".join(
                f"{h.address if h.port == 22 else f'[{h.address}]:{h.port}'} {public[0]} {public[1]}\n"
                for h in self.hosts
            )
        )
        self.ssh_config.write_text(
            "".join(
                f"Host {h.address}\n  Port {h.port}\n  IdentityFile {self.user_key}\n  IdentitiesOnly yes\n"
                f"  UserKnownHostsFile {known}\n  StrictHostKeyChecking yes\n  LogLevel ERROR\n"
                for h in self.hosts
            )
        )

    def _make_network(self) -> None:
        assert self.central is not None
        _run("ip", "netns", "add", self.central)
        self._namespaces.append(self.central)
        _run("ip", "-n", self.central, "link", "set", "lo", "up")
        _run("ip", "-n", self.central, "link", "add", "br0", "type", "bridge")
        _run("ip", "-n", self.central, "addr", "add", f"{CENTRAL_ADDRESS}/24", "dev", "br0")
        _run("ip", "-n", self.central, "link", "set", "br0", "up")
        for i in range(self.count):
            namespace = f"{self.tag}h{i}"
            _run("ip", "netns", "add", namespace)
            self._namespaces.append(namespace)
            inner, outer = f"v{self.tag[3:]}a{i}"[:15], self._switch_port(i)
            _run("ip", "link", "add", inner, "type", "veth", "peer", "name", outer)
            _run("ip", "link", "set", inner, "netns", namespace)
            _run("ip", "link", "set", outer, "netns", self.central)
            _run("ip", "-n", namespace, "link", "set", "lo", "up")
            _run("ip", "-n", namespace, "addr", "add", f"{SUBNET}.{10 + i}/24", "dev", inner)
            _run("ip", "-n", namespace, "link", "set", inner, "up")
            _run("ip", "-n", self.central, "link", "set", outer, "master", "br0")
            _run("ip", "-n", self.central, "link", "set", outer, "up")

    def _start_sshd(
        self, host_key: Path, authorized: Path, hosts: list[TestHost], port: int, namespace: Optional[str]
    ) -> subprocess.Popen[bytes]:
        options = [
            f"HostKey={host_key}",
            f"AuthorizedKeysFile={authorized}",
            "StrictModes=no",
            "UsePAM=no",
            "PidFile=none",
            "PermitRootLogin=prohibit-password",
            "PasswordAuthentication=no",
            "KbdInteractiveAuthentication=no",
            "PermitUserEnvironment=no",
            "MaxStartups=100",
            # one runtime dir per host: pidfiles and agent logs do not mix between hosts or test runs
            f"SetEnv=RCC_RUNTIME_DIR={hosts[0].runtime_dir}"
            if len(hosts) == 1
            else f"SetEnv=RCC_RUNTIME_DIR={self.workdir}/run",
        ]
        if len(hosts) > 1:
            (self.workdir / "run").mkdir(exist_ok=True)
            for host in hosts:
                host.runtime_dir = self.workdir / "run"
        argv = ["/usr/sbin/sshd", "-D", "-e", "-f", "/dev/null", "-p", str(port)]
        for option in options:
            argv += ["-o", option]
        for host in hosts:
            argv += ["-o", f"ListenAddress={host.address}"]
        if namespace is not None:
            argv = ["ip", "netns", "exec", namespace, *argv]
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert process.stderr is not None
        seen = []
        for raw in process.stderr:  # sshd says when it listens: no guessing with sleeps
            line = raw.decode(errors="replace").strip()
            seen.append(line)
            if "Server listening on" in line and sum("Server listening" in s for s in seen) >= len(hosts):
                break
        else:
            raise ColonyError("sshd did not start: " + " | ".join(seen[-5:]))
        threading.Thread(target=self._drain, args=(process,), name="rcc-sshd-log", daemon=True).start()
        return process

    @staticmethod
    def _drain(process: subprocess.Popen[bytes]) -> None:
        """Keep reading sshd's log so it never blocks on a full pipe."""
        assert process.stderr is not None
        for _line in process.stderr:
            pass

    def _switch_port(self, index: int) -> str:
        return f"v{self.tag[3:]}b{index}"[:15]

    def cut(self, index: int) -> None:
        """Unplug host ``index`` from the switch (namespaces mode only).

        Raises:
            ColonyError: in loopback mode, where links cannot be cut.
        """
        if self.central is None:
            raise ColonyError("cutting a host's link needs the namespaces test bed")
        _run("ip", "-n", self.central, "link", "set", self._switch_port(index), "down")

    def restore(self, index: int) -> None:
        """Plug host ``index`` back in."""
        if self.central is None:
            raise ColonyError("cutting a host's link needs the namespaces test bed")
        _run("ip", "-n", self.central, "link", "set", self._switch_port(index), "up")

    def kill_agents(self) -> list[int]:
        """End every agent started on the bed's hosts (by the pids in their pidfiles); returns those pids."""
        ended = []
        for pidfile in self.workdir.rglob("*.pid"):
            try:
                pid = int(pidfile.read_text().strip())
                os.kill(pid, signal.SIGKILL)
                ended.append(pid)
            except (ValueError, ProcessLookupError, PermissionError, OSError):
                continue
        return ended

    def close(self) -> None:
        """End agents and sshd processes, delete namespaces. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self.kill_agents()
        for sshd in {id(h.sshd): h.sshd for h in self.hosts if h.sshd is not None}.values():
            if sshd.poll() is None:
                sshd.terminate()
                try:
                    sshd.wait(10)
                except subprocess.TimeoutExpired:
                    sshd.kill()
                    sshd.wait(10)
        for namespace in reversed(self._namespaces):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=30)
