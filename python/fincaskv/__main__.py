"""``python -m fincaskv`` and the ``fincaskv-server`` console script: the
FincasKV RESP server with exactly the command line of the ``fincaskv-server``
binary (the same Rust code parses it and runs the server or a subcommand).

    python -m fincaskv --port 8911 --dir ./fincaskv-data --fsync everysec
    python -m fincaskv check --repair ./fincaskv-data
"""

from __future__ import annotations

import sys
from typing import List, Optional

from fincaskv import _native


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the server command line until SIGINT, SIGTERM or SHUTDOWN and
    returns its exit code (0 success, 1 failure, 2 usage error)."""
    args = sys.argv[1:] if argv is None else list(argv)
    return int(_native.run_cli(["fincaskv-server", *args]))


if __name__ == "__main__":
    sys.exit(main())
