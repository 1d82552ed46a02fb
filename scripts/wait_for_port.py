"""Waits until HOST:PORT accepts TCP connections: gitlab-ci-local's service wait (`--wait-image`, called as
`IMAGE HOST:PORT -t SECONDS`), in an image built here since no registry can be reached (make ci-local).
"""

import socket
import sys
import time


def main(target: str, timeout_s: float) -> int:
    host, port = target.rsplit(":", 1)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=2):
                return 0
        except OSError as error:
            if time.monotonic() > deadline:
                print(f"{target} not reachable after {timeout_s:.0f} s: {error}", file=sys.stderr)
                return 1
            time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], float(sys.argv[sys.argv.index("-t") + 1]) if "-t" in sys.argv else 30.0))
