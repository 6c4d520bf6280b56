"""Runs a script of raw requests over several named connections and records
every byte each connection receives, so that two servers can be compared
byte for byte (replies, and the pushes the other connections get).

The reference run (redis-server) goes first and says how many bytes to
expect; the run under test then waits for that many bytes (up to a
timeout) instead of guessing how long a push takes to arrive, and a short
quiet read afterwards catches anything extra.
"""

from __future__ import annotations

import socket
import time
from typing import Optional, Sequence, Tuple

# One step: (connection name, arguments). Arguments are str or bytes.
Step = Tuple[str, Sequence[object]]
# What a step produced: the reply on its connection, then the bytes every
# other connection got meanwhile, by name (sorted).
Outcome = Tuple[bytes, Tuple[Tuple[str, bytes], ...]]


def encode(args: Sequence[object]) -> bytes:
    out = b"*%d\r\n" % len(args)
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(b), b)
    return out


def _read(sock: socket.socket, expected: Optional[int], first_timeout: float) -> bytes:
    """Reads `expected` bytes (waiting up to `first_timeout` for them), or,
    with no expectation, whatever arrives until the peer is quiet; then a
    short quiet read for anything beyond."""
    data = b""
    deadline = time.monotonic() + first_timeout
    while expected is None or len(data) < expected:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left if expected is not None or not data else 0.05)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            return data + b"<EOF>"
        data += chunk
        if expected is None:
            deadline = min(deadline, time.monotonic() + 0.05)
    sock.settimeout(0.02)
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data + b"<EOF>"
            data += chunk
    except socket.timeout:
        pass
    return data


def run(port: int, steps: Sequence[Step], reference: Optional[Sequence[Outcome]] = None) -> list[Outcome]:
    """Runs `steps` against the server on `port`; with `reference` (the
    outcomes of the reference server), waits for as many bytes as it got."""
    conns: dict[str, socket.socket] = {}
    out: list[Outcome] = []
    try:
        for i, (name, args) in enumerate(steps):
            if name not in conns:
                conns[name] = socket.create_connection(("127.0.0.1", port), timeout=10)
            conns[name].sendall(encode(args))
            want = reference[i] if reference is not None else None
            reply = _read(conns[name], len(want[0]) if want else None, 5.0 if want else 1.0)
            others = []
            for other, sock in sorted(conns.items()):
                if other == name:
                    continue
                expected = dict(want[1]).get(other, b"") if want else b""
                got = _read(sock, len(expected), 5.0 if expected else 0.0)
                if got:
                    others.append((other, got))
            out.append((reply, tuple(others)))
    finally:
        for sock in conns.values():
            sock.close()
    return out


def compare(ours: Sequence[Outcome], theirs: Sequence[Outcome], steps: Sequence[Step]) -> None:
    """Asserts equal outcomes step by step, naming the first that differs."""
    for step, a, b in zip(steps, ours, theirs):
        assert a == b, f"{step}: fincaskv {a!r} != redis {b!r}"
