"""What SIGTERM does to `trainer-ops serve`: a drain with a bound in time (ADR 0018).

uvicorn on its own waits for every response to end before it shuts down, and a server-sent-events stream
never ends by itself: one open SDK stream kept the process up until SIGKILL, and the ordered shutdown
never ran. Here the first SIGTERM (or SIGINT):

1. sets the app's draining state at once, so /readyz answers 503;
2. READINESS_NOTICE_SECONDS later (a prober or load balancer already connected sees the 503), lets
   uvicorn stop: it closes the listening socket, so new connections are refused;
3. then tells every stream to reconnect (an SSE `retry:` and the end of the response): the socket is
   closed first, so the clients reconnect to another replica;
4. gives in-flight requests what is left of three quarters of `shutdown_seconds`, then cancels them;
5. runs the ordered shutdown (the app's lifespan);
6. ends the process, from a watchdog, if all that is not over after `shutdown_seconds`.

A second signal stops at once, as uvicorn does. A drained shutdown exits 0: uvicorn would re-raise the
signal once it is done, and a supervisor reads death by a signal as a crash.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, cast

import uvicorn

from trainer_ops.cli.logs import log_config

log = logging.getLogger("trainer_ops")
READINESS_NOTICE_SECONDS = 0.25
IN_FLIGHT_SHARE = 0.75  # of shutdown_seconds; the ordered shutdown has the rest


class DrainingServer(uvicorn.Server):
    def __init__(
        self,
        config: uvicorn.Config,
        *,
        draining: threading.Event,
        close_streams: Callable[[], None],
        shutdown_seconds: float,
    ) -> None:
        super().__init__(config)
        self._draining = draining
        self._close_streams = close_streams
        self._budget = shutdown_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._signalled = False

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # A signal handler runs between two bytecodes of the event loop's thread: it only schedules.
        if self._signalled or self._loop is None:
            super().handle_exit(sig, frame)  # a second signal: stop now, as uvicorn does
            return
        self._signalled = True
        self._loop.call_soon_threadsafe(self._begin_draining)

    def _begin_draining(self) -> None:
        log.info("shutting down: draining, exit within %g s", self._budget)
        self._draining.set()
        watchdog = threading.Timer(self._budget, _overran, args=(self._budget,))
        watchdog.daemon = True
        watchdog.start()
        assert self._loop is not None
        self._loop.call_later(READINESS_NOTICE_SECONDS, self._stop)

    def _stop(self) -> None:
        self.should_exit = True  # uvicorn's main loop sees it within 0.1 s and calls shutdown()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._draining.set()  # also when uvicorn stops for a reason of its own
        for server in self.servers:
            server.close()  # refuse new connections before the streams are told to reconnect
        self._close_streams()
        await super().shutdown(sockets)


def _overran(budget: float) -> None:
    log.error("shutdown did not finish within %g s (TRAINER_OPS_SHUTDOWN_SECONDS); exiting now", budget)
    os._exit(1)


def serve(
    app: Any,
    *,
    host: str,
    port: int,
    draining: threading.Event,
    close_streams: Callable[[], None],
    shutdown_seconds: float,
    log_level: str = "info",
    log_format: str = "json",
) -> None:
    """Serve `app` until a signal, then drain as the module docstring says."""
    in_flight = max(0.0, IN_FLIGHT_SHARE * shutdown_seconds - READINESS_NOTICE_SECONDS)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="debug" if log_level == "debug" else "warning",
        log_config=log_config(level=log_level, fmt=log_format),
        access_log=False,  # ours (EdgeMiddleware) is on stdout
        proxy_headers=False,
        loop="uvloop",
        http="httptools",
        # Annotated int, used as asyncio.wait_for's timeout: a float works.
        timeout_graceful_shutdown=cast(int, in_flight),
    )
    server = DrainingServer(
        config, draining=draining, close_streams=close_streams, shutdown_seconds=shutdown_seconds
    )
    server.run()
