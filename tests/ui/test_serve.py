"""`kmodtui serve`: the TUI in a browser, listening on 127.0.0.1 only, behind a secret token."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import aiohttp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(port: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-I", "-m", "kmodtui", "serve", "--demo", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+/\?token=[\w-]+)", line)
        if match:
            return proc, match.group(1)
    proc.terminate()
    raise AssertionError("kmodtui serve printed no address with a token")


def test_serve_listens_on_loopback_only_and_serves_the_page_with_its_token() -> None:
    port = free_port()
    proc, url = start_serve(port)
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            page = response.read().decode("utf-8", "replace")
        assert "kmodtui" in page
        token = url.rsplit("=", 1)[1]
        assert f"/ws/{token}" in page  # the page the token opens drives the app through the secret path
        listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True).stdout
        if listening:  # ss from iproute2; where it is missing, the bind address is still set in code
            assert all("127.0.0.1" in line for line in listening.splitlines() if line.strip())
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_client_without_the_token_is_refused() -> None:
    """Any local user can reach 127.0.0.1: without the token there is no page and no websocket."""
    port = free_port()
    proc, url = start_serve(port)
    token = url.rsplit("=", 1)[1]

    async def attempts() -> dict[str, object]:
        out: dict[str, object] = {}
        async with aiohttp.ClientSession() as session:
            for name, path in (("page", "/"), ("page-wrong", "/?token=nope")):
                async with session.get(f"http://127.0.0.1:{port}{path}") as response:
                    out[name] = response.status
            for name, path in (("ws", "/ws"), ("ws-wrong", "/ws/nope"), ("ws-token", f"/ws/{token}")):
                try:
                    async with session.ws_connect(f"http://127.0.0.1:{port}{path}?width=80&height=24") as ws:
                        await ws.close()
                        out[name] = "connected"
                except aiohttp.WSServerHandshakeError as err:
                    out[name] = err.status
        return out

    try:
        result = asyncio.run(attempts())
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert result == {"page": 403, "page-wrong": 403, "ws": 404, "ws-wrong": 404, "ws-token": "connected"}, result
