"""Raft clusters of ``fincaskv-server`` processes, driven from Python.

* :class:`LocalCluster` starts ``n`` server processes on free loopback ports,
  forms a cluster (``CLUSTER JOIN`` from the first node), waits for a leader,
  and lets a script or a test kill, restart, pause and resume nodes.
* :func:`bootstrap` turns servers that are already running into one cluster
  through ``CLUSTER INIT`` / ``CLUSTER JOIN``, as the README does with
  ``redis-cli``.
* :func:`cluster_info` reads ``CLUSTER INFO`` of one node into a dict.

The helpers speak RESP over a plain socket, so they need nothing but the
standard library; :meth:`Node.client` returns a ``redis.Redis`` when redis-py
is installed (``pip install fincaskv[redis]``)::

    from fincaskv.cluster import LocalCluster

    with LocalCluster(3) as cluster:
        cluster.client(0).set("a", "bc")
        assert cluster.client(2).get("a") == b"bc"
        cluster.kill(cluster.nodes.index(cluster.leader()))
        cluster.wait_for_leader()
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from fincaskv._clients import close_all
from fincaskv.exceptions import ConnectionError, Error, ResponseError, TimeoutError

__all__ = ["ClusterError", "LocalCluster", "Node", "bootstrap", "cluster_info"]

_Address = Union[str, Tuple[str, int]]


class ClusterError(Error):
    """A cluster could not be formed, or did not reach the awaited state in time."""


# --- a minimal RESP client (standard library only) -------------------------------


def _split_address(address: _Address) -> Tuple[str, int]:
    if isinstance(address, tuple):
        return address[0], int(address[1])
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"address must be 'host:port', got {address!r}")
    return host or "127.0.0.1", int(port)


def _encode(args: Sequence[Union[str, bytes, int]]) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def _read_reply(f: IO[bytes]) -> Any:
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("connection closed by the server")
    kind, body = line[:1], line[1:-2]
    if kind == b"+":
        return body.decode()
    if kind == b"-":
        raise ResponseError(body.decode(errors="replace"))
    if kind == b":":
        return int(body)
    if kind == b"$":
        n = int(body)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2].decode(errors="replace")
    if kind == b"*":
        n = int(body)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise ConnectionError(f"unexpected reply {line!r}")


def _command(address: _Address, *args: Union[str, bytes, int], timeout: float = 10.0) -> Any:
    """Sends one command on a fresh connection and returns its reply
    (``ResponseError`` for an error reply)."""
    host, port = _split_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(_encode(args))
            with sock.makefile("rb") as f:
                return _read_reply(f)
    except socket.timeout as e:
        raise TimeoutError(f"{host}:{port} did not answer {args[0]!r} in {timeout} s") from e
    except OSError as e:
        raise ConnectionError(f"cannot talk to {host}:{port}: {e}") from e


def _parse_info(text: str) -> Dict[str, str]:
    fields: Dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and ":" in line:
            k, _, v = line.partition(":")
            fields[k.strip()] = v.strip()
    return fields


def cluster_info(address: _Address, timeout: float = 10.0) -> Dict[str, str]:
    """``CLUSTER INFO`` of the node at ``address`` (``"host:port"`` or a tuple)
    as a dict of strings: ``cluster_state``, ``cluster_size``, ``raft_role``,
    ``raft_leader``, ``raft_term``, ``raft_last_applied``, ..."""
    reply = _command(address, "CLUSTER", "INFO", timeout=timeout)
    return _parse_info(str(reply))


def _wait(cond: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        try:
            if cond():
                return
        except (ConnectionError, TimeoutError, ResponseError):
            pass
        if time.monotonic() >= deadline:
            raise ClusterError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def bootstrap(
    addresses: Sequence[_Address],
    raft_addresses: Optional[Sequence[str]] = None,
    names: Optional[Sequence[str]] = None,
    timeout: float = 30.0,
) -> Dict[str, str]:
    """Turns running servers into one cluster and returns the first node's
    :func:`cluster_info` once every node is a voter and a leader serves.

    A server started without ``--node-id/--raft-addr`` is first given an
    identity with ``CLUSTER INIT <name> <raft address>`` (``raft_addresses``
    and ``names`` are then needed; names default to ``node1``, ``node2``...);
    a server that already has one keeps it. Every other node is then added
    with ``CLUSTER JOIN`` sent to the first node."""
    if not addresses:
        raise ValueError("bootstrap needs at least one address")
    if raft_addresses is not None and len(raft_addresses) != len(addresses):
        raise ValueError("raft_addresses must have one entry per address")
    if names is not None and len(names) != len(addresses):
        raise ValueError("names must have one entry per address")
    identities: List[Tuple[str, str]] = []
    for i, addr in enumerate(addresses):
        info = cluster_info(addr)
        name, raft = info.get("raft_node_name", ""), info.get("raft_addr", "")
        if not raft:
            if raft_addresses is None:
                raise ClusterError(f"{addr} has no raft address: pass raft_addresses")
            name = names[i] if names is not None else f"node{i + 1}"
            raft = raft_addresses[i]
            _command(addr, "CLUSTER", "INIT", name, raft)
        identities.append((name, raft))
    first = addresses[0]
    for name, raft in identities[1:]:
        _command(first, "CLUSTER", "JOIN", name, raft, timeout=timeout)
    want = str(len(addresses))
    _wait(
        lambda: all(
            cluster_info(a).get("cluster_size") == want and cluster_info(a).get("raft_leader", "") != ""
            for a in addresses
        ),
        f"{want} voters and a leader on every node",
        timeout,
    )
    return cluster_info(first)


# --- local clusters ----------------------------------------------------------------


def _ephemeral_range() -> Tuple[int, int]:
    """The kernel's range for outgoing connections' local ports."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
            return low, high
    except (OSError, ValueError):
        return 32768, 60999


_next_port = [0]


def _free_port(host: str) -> int:
    """A free port outside the kernel's ephemeral range: a killed node must
    find its ports free when it restarts, and an outgoing connection's
    ephemeral port could otherwise take one meanwhile."""
    low, high = _ephemeral_range()
    candidates = range(20000, low) if low > 21000 else range(high + 1, 65536)
    if not _next_port[0]:
        _next_port[0] = random.randrange(len(candidates))
    for _ in range(len(candidates)):
        port = candidates[_next_port[0] % len(candidates)]
        _next_port[0] += 1
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _server_command(server_bin: Optional[str]) -> List[str]:
    path = server_bin or os.environ.get("FINCASKV_SERVER_BIN")
    if path:
        return [path]
    script = shutil.which("fincaskv-server", path=str(Path(sys.executable).parent))
    if script:
        return [script]
    # The wheel runs the binary's own command line.
    return [sys.executable, "-m", "fincaskv"]


class Node:
    """One server process of a :class:`LocalCluster`."""

    def __init__(self, index: int, host: str, port: int, raft_port: int, dir: Path) -> None:
        #: Position in :attr:`LocalCluster.nodes`.
        self.index = index
        #: The node's cluster name (``n1``, ``n2``...).
        self.name = f"n{index + 1}"
        #: Loopback address the node listens on.
        self.host = host
        #: RESP port.
        self.port = port
        #: Raft (peer) port.
        self.raft_port = raft_port
        #: Data directory (kept across :meth:`LocalCluster.restart`).
        self.dir = dir
        #: The running process, or ``None`` while the node is down.
        self.proc: Optional["subprocess.Popen[bytes]"] = None
        #: True while the process is stopped with SIGSTOP.
        self.paused = False
        self._clients: List[Any] = []

    @property
    def address(self) -> Tuple[str, int]:
        """``(host, port)`` of the RESP listener."""
        return (self.host, self.port)

    @property
    def raft_addr(self) -> str:
        """``host:port`` of the raft listener."""
        return f"{self.host}:{self.raft_port}"

    @property
    def pid(self) -> Optional[int]:
        """The process id while the node runs."""
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    @property
    def running(self) -> bool:
        """True while the process is alive (paused counts as alive)."""
        return self.pid is not None

    @property
    def log_path(self) -> Path:
        """Where the process's stdout and stderr go."""
        return self.dir.parent / f"{self.name}.log"

    def info(self) -> Dict[str, str]:
        """This node's :func:`cluster_info`."""
        return cluster_info(self.address)

    def execute(self, *args: Union[str, bytes, int]) -> Any:
        """Sends one command to this node with the built-in RESP client."""
        return _command(self.address, *args)

    def client(self, **kwargs: Any) -> Any:
        """A ``redis.Redis`` connected to this node (needs redis-py)."""
        try:
            import redis
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("Node.client() needs redis-py: pip install 'fincaskv[redis]'") from e
        client = redis.Redis(host=self.host, port=self.port, **kwargs)
        self._clients.append(client)
        return client

    def _down(self) -> None:
        """Forgets the process and closes the clients made by :meth:`client`."""
        self.proc = None
        self.paused = False
        close_all(self._clients)

    def __repr__(self) -> str:
        state = "paused" if self.paused else ("running" if self.running else "down")
        return f"<Node {self.name} {self.host}:{self.port} raft {self.raft_addr} {state}>"


class LocalCluster:
    """``n`` ``fincaskv-server`` processes on loopback forming one Raft cluster.

    ``base_dir`` holds one data directory per node (a temporary directory,
    removed by :meth:`stop`, when not given). ``options`` become server flags:
    ``fsync="always"`` is ``--fsync always``, ``cluster_redirect=True`` is
    ``--cluster-redirect`` (``False`` or ``None`` leave a flag out). The binary is ``server_bin``,
    else ``$FINCASKV_SERVER_BIN``, else the wheel's ``fincaskv-server``.
    """

    def __init__(
        self,
        n: int = 3,
        base_dir: Optional[Union[str, "os.PathLike[str]"]] = None,
        *,
        secret: str = "fincaskv-local",
        host: str = "127.0.0.1",
        server_bin: Optional[str] = None,
        timeout: float = 30.0,
        **options: Any,
    ) -> None:
        if n < 1:
            raise ValueError("a cluster needs at least one node")
        self._tmp: Optional[str] = None
        if base_dir is None:
            self._tmp = tempfile.mkdtemp(prefix="fincaskv-cluster-")
            base_dir = self._tmp
        self.base_dir = Path(base_dir)
        self.secret = secret
        self.timeout = timeout
        self._cmd = _server_command(server_bin)
        self._flags: List[str] = []
        for key, value in options.items():
            flag = f"--{key.replace('_', '-')}"
            if value is True:
                self._flags.append(flag)
            elif value is not False and value is not None:
                self._flags += [flag, str(value)]
        #: The nodes, in start order; the first formed the cluster.
        self.nodes: List[Node] = [
            Node(i, host, _free_port(host), _free_port(host), self.base_dir / f"n{i + 1}") for i in range(n)
        ]
        try:
            for node in self.nodes:
                self._spawn(node)
            first = self.nodes[0]
            # JOIN forms the cluster on the first node if needed (a lone node
            # forms it by joining itself), adds the new node as a learner,
            # waits for it to catch up, then promotes it to voter.
            for node in self.nodes[1:] or self.nodes[:1]:
                _command(first.address, "CLUSTER", "JOIN", node.name, node.raft_addr, timeout=timeout)
            self.wait_for_leader(voters=n)
            self.wait_for_agreement()
        except BaseException:
            self.stop()
            raise

    # -- processes ----------------------------------------------------------------

    def _spawn(self, node: Node) -> None:
        node.dir.mkdir(parents=True, exist_ok=True)
        args = [
            *self._cmd,
            "--bind",
            node.host,
            "--port",
            str(node.port),
            "--dir",
            str(node.dir),
            "--node-id",
            node.name,
            "--raft-addr",
            node.raft_addr,
            "--cluster-secret",
            self.secret,
            *self._flags,
        ]
        with open(node.log_path, "ab") as log:
            node.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        node.paused = False

        def listening() -> bool:
            if node.proc is not None and node.proc.poll() is not None:
                tail = node.log_path.read_text(errors="replace")[-2000:]
                raise ClusterError(f"{node.name} exited with {node.proc.returncode}:\n{tail}")
            return node.execute("PING") == "PONG"

        _wait(listening, f"{node.name} to listen on {node.host}:{node.port}", self.timeout)

    def _node(self, i: int) -> Node:
        if not 0 <= i < len(self.nodes):
            raise IndexError(f"no node {i} in a cluster of {len(self.nodes)}")
        return self.nodes[i]

    def kill(self, i: int) -> None:
        """SIGKILLs node ``i`` (its data directory stays for :meth:`restart`)."""
        node = self._node(i)
        if node.proc is not None:
            if node.proc.poll() is None:
                node.proc.kill()
            node.proc.wait(timeout=self.timeout)
        node._down()

    def restart(self, i: int) -> None:
        """Starts node ``i`` again on its data directory and ports; it rejoins
        from its persisted raft state without any command. A running node is
        killed first."""
        self.kill(i)
        self._spawn(self._node(i))

    def pause(self, i: int) -> None:
        """Freezes node ``i`` with SIGSTOP (as a long GC pause or a hung VM)."""
        node = self._node(i)
        if node.proc is None or node.proc.poll() is not None:
            raise ClusterError(f"{node.name} is not running")
        node.proc.send_signal(signal.SIGSTOP)
        node.paused = True

    def resume(self, i: int) -> None:
        """Continues node ``i`` after :meth:`pause` (SIGCONT)."""
        node = self._node(i)
        if node.proc is not None and node.proc.poll() is None:
            node.proc.send_signal(signal.SIGCONT)
        node.paused = False

    # -- state ----------------------------------------------------------------------

    def leader(self) -> Optional[Node]:
        """The node that reports itself leader, among running, unpaused nodes."""
        for node in self.nodes:
            if node.running and not node.paused:
                try:
                    if node.info().get("raft_role") == "leader":
                        return node
                except (ConnectionError, TimeoutError, ResponseError):
                    continue
        return None

    def wait_for_leader(self, timeout: Optional[float] = None, voters: Optional[int] = None) -> Node:
        """Waits until a running node leads (and, with ``voters``, the cluster
        has that many voters) and returns it."""
        found: List[Node] = []

        def ready() -> bool:
            node = self.leader()
            if node is None:
                return False
            if voters is not None and node.info().get("cluster_size") != str(voters):
                return False
            found[:] = [node]
            return True

        _wait(ready, "a leader" + (f" with {voters} voters" if voters else ""), timeout or self.timeout)
        return found[0]

    def wait_for_agreement(self, timeout: Optional[float] = None) -> None:
        """Waits until every running, unpaused node reports the same leader
        and the same number of voters as the leader does."""

        def agreed() -> bool:
            infos = [n.info() for n in self.nodes if n.running and not n.paused]
            leaders = {i.get("raft_leader", "") for i in infos}
            sizes = {i.get("cluster_size", "") for i in infos}
            return len(leaders) == 1 and "" not in leaders and len(sizes) == 1

        _wait(agreed, "every node to agree on the leader and the membership", timeout or self.timeout)

    def wait_for_applied(self, index: int, timeout: Optional[float] = None) -> None:
        """Waits until every running, unpaused node applied log ``index``."""

        def caught_up() -> bool:
            return all(
                int(n.info().get("raft_last_applied", "0")) >= index
                for n in self.nodes
                if n.running and not n.paused
            )

        _wait(caught_up, f"every node to apply index {index}", timeout or self.timeout)

    def info(self) -> Dict[str, Dict[str, str]]:
        """:func:`cluster_info` of every running, unpaused node, by node name."""
        out: Dict[str, Dict[str, str]] = {}
        for node in self.nodes:
            if node.running and not node.paused:
                try:
                    out[node.name] = node.info()
                except (ConnectionError, TimeoutError):
                    continue
        return out

    def client(self, i: int, **kwargs: Any) -> Any:
        """A ``redis.Redis`` client of node ``i`` (needs redis-py)."""
        return self._node(i).client(**kwargs)

    def cluster_client(self, **kwargs: Any) -> Any:
        """A ``redis.cluster.RedisCluster`` over the running nodes (needs
        redis-py; close it when done). With ``cluster_redirect=True`` it
        sends every keyed command straight to the leader (followers answer
        ``-MOVED``, ``CLUSTER SLOTS`` names the leader) and finds the next
        leader after a failover; without it, followers forward as for any
        client."""
        from redis.cluster import ClusterNode, RedisCluster

        startup = [ClusterNode(n.host, n.port) for n in self.nodes if n.running and not n.paused]
        return RedisCluster(startup_nodes=startup, **kwargs)

    # -- lifetime -------------------------------------------------------------------

    def stop(self) -> None:
        """Stops every node (SIGTERM, then SIGKILL after the timeout) and
        removes the temporary base directory if the cluster made it."""
        for node in self.nodes if hasattr(self, "nodes") else []:
            proc = node.proc
            if proc is None:
                continue
            if proc.poll() is None:
                if node.paused:
                    proc.send_signal(signal.SIGCONT)
                proc.terminate()
                try:
                    proc.wait(timeout=self.timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            node._down()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> "LocalCluster":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<LocalCluster {len(self.nodes)} nodes in {self.base_dir}>"
