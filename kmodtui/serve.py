"""`kmodtui serve`: the TUI in a browser, for an SSH tunnel, behind a secret token.

textual-serve alone lets anyone who can reach the port drive the app; on a shared build host every
local user can reach 127.0.0.1, and the app may run as root. So the page needs `?token=<secret>`
(printed once, at start) and the websocket that drives the app lives at `/ws/<secret>`: without the
token a client gets 403 for the page and 404 for every websocket path.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from textual_serve.server import Server


class TokenServer(Server):
    def __init__(self, command: str, token: str | None = None, **kwargs: Any) -> None:
        super().__init__(command, **kwargs)
        self.token = token or secrets.token_urlsafe(24)

    @property
    def url(self) -> str:
        return f"{self.public_url}/?token={self.token}"

    async def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._require_token])
        aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(self.templates_path))
        app.add_routes([
            web.get("/", self.handle_index, name="index"),
            web.get(f"/ws/{self.token}", self.handle_websocket, name="websocket"),
            web.get("/download/{key}", self.handle_download, name="download"),
            web.static("/static", self.statics_path, show_index=False, name="static"),
        ])
        app.on_startup.append(self.on_startup)
        app.on_shutdown.append(self.on_shutdown)
        return app

    @web.middleware
    async def _require_token(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == "/" and not hmac.compare_digest(request.query.get("token", ""), self.token):
            return web.Response(status=403, text="kmodtui serve: open the address with the token that "
                                                 "`kmodtui serve` printed when it started.\n")
        return await handler(request)

    async def on_startup(self, app: web.Application) -> None:
        pass  # the address is printed once the socket listens (serve below), not before

    def _ready(self, *_: object) -> None:
        print(f"kmodtui on {self.url}\n(only this machine; from elsewhere: "
              f"ssh -L {self.port}:127.0.0.1:{self.port} THIS_HOST, then open the address above)", flush=True)

    def serve(self, debug: bool = False) -> None:
        """textual-serve's serve(), but the address is printed when the server is listening."""
        import asyncio
        import signal

        self.debug = debug
        self.initialize_logging()
        try:
            loop = asyncio.get_event_loop()
        except Exception:
            loop = asyncio.new_event_loop()
        try:
            loop.add_signal_handler(signal.SIGINT, self.request_exit)
            loop.add_signal_handler(signal.SIGTERM, self.request_exit)
        except NotImplementedError:
            pass
        web.run_app(self._make_app(), host=self.host, port=self.port, handle_signals=False, loop=loop,
                    print=self._ready)
