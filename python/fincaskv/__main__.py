"""``python -m fincaskv`` and the ``fincaskv-server`` console script: the
FincasKV RESP server, with the flags of the ``fincaskv-server`` binary.

    python -m fincaskv --port 8911 --dir ./fincaskv-data --fsync everysec
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any, Dict, List, Optional

import fincaskv
from fincaskv.server import Server


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """The command line (the binary's flags; a flag wins over the config file)."""
    p = argparse.ArgumentParser(
        prog="fincaskv-server", description="FincasKV: a persistent, Redis-compatible key/value server"
    )
    p.add_argument("--version", action="version", version=f"fincaskv-server {fincaskv.__version__}")
    p.add_argument("--conf", metavar="PATH", help="TOML config file")
    p.add_argument("--port", type=int, help="TCP port [default: 8911]")
    p.add_argument("--dir", help="data directory [default: ./fincaskv-data]")
    p.add_argument("--bind", help="address to listen on [default: 127.0.0.1]")
    p.add_argument("--fsync", choices=["always", "everysec", "no"], help="fsync policy [default: everysec]")
    p.add_argument("--requirepass", help="password for AUTH")
    p.add_argument("--databases", type=int, help="number of databases [default: 16]")
    p.add_argument("--index", choices=["hash", "btree", "skiplist"], help="keydir index kind [default: hash]")
    p.add_argument("--maxclients", type=int, help="maximum number of clients [default: 10000]")
    p.add_argument("--protected-mode", choices=["yes", "no"], help="protected mode [default: yes]")
    p.add_argument("--loglevel", help="log level: error, warn, info, debug, trace [default: info]")
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the server until SIGINT, SIGTERM or a client's SHUTDOWN."""
    args = parse_args(argv)
    options: Dict[str, Any] = {}
    for name in ("fsync", "requirepass", "databases", "index", "maxclients", "protected_mode", "loglevel"):
        value = getattr(args, name)
        if value is not None:
            options[name] = value
    try:
        # Unset flags keep the config file's value, or the binary's default.
        server = Server(args.dir, args.port, host=args.bind, conf=args.conf, **options)
    except (fincaskv.Error, TypeError) as e:
        print(f"fincaskv-server: {e}", file=sys.stderr)
        return 2

    def on_signal(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    print(
        f"fincaskv-server {fincaskv.__version__} listening on {server.host}:{server.port} "
        f"(data dir {server.dir})",
        flush=True,
    )
    try:
        while not server.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
