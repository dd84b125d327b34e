"""`kmodtui serve`: the TUI in a browser, listening on 127.0.0.1 only."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_listens_on_loopback_only_and_serves_the_page() -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "kmodtui", "serve", "--demo", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        page = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    page = response.read().decode("utf-8", "replace")
                break
            except OSError:
                time.sleep(0.2)
        assert "kmodtui" in page
        listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True).stdout
        if listening:  # ss from iproute2; where it is missing, the bind address is still set in code
            assert all("127.0.0.1" in line for line in listening.splitlines() if line.strip())
    finally:
        proc.terminate()
        proc.wait(timeout=10)
