"""uvicorn's httptools protocol with admission control's queue shed done as the request's head is parsed.

Under overload the event loop's time goes to dispatching requests: when many keep-alive
connections' requests are ready at once, uvicorn parses each, builds its request-response
cycle, creates a task for it and, in the next pass, runs the ASGI middleware chain, all
before the loop reads the sockets again; a request that arrives meanwhile waits for the
whole pass. Shed in :class:`services.admission.AdmissionControl`, a 503 costs that whole
dispatch (tens of microseconds) and is answered only when its task's turn comes.

:class:`SheddingHttpToolsProtocol` asks the app's :class:`services.admission.LoopLag`
as soon as a request's head is parsed and, while the loop is overloaded, writes the
pre-encoded ``503`` with ``Retry-After`` to the transport at once: no cycle, no task, no
app call; likewise past the app's in-flight cap (the counter its middleware keeps), and,
while the loop is behind, past what one pass of the loop may take
(:meth:`services.admission.EarlyShed.refusal`). The request's body is read and discarded as it arrives, so the keep-alive
connection carries the next request as usual. What it does not shed early it hands to
uvicorn unchanged, and the middleware still applies every rule: requests queued behind
an unanswered one on the same connection (HTTP pipelining), ``Expect: 100-continue``,
connections that close after the answer (HTTP/1.0, ``Connection: close``), upgrades,
escaped paths, probes and ``/metrics``. An app without ``app.state.early_shed``
(:func:`services.admission.install`) is served exactly as by
:class:`services.http_limits.BoundedHttpToolsProtocol`: uvicorn's, with the head-size and
read-time limits every request of both services has.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from mlplat.operations.metric_names import SHED_IN_FLIGHT
from services.admission import DISPATCHED_AT, EarlyShed
from services.http_limits import ANSWERED, BoundedHttpToolsProtocol

_STATUS_LINE = b"HTTP/1.1 503 Service Unavailable\r\n"


def early_shed_of(app: object) -> EarlyShed | None:
    """The :class:`EarlyShed` of ``app`` or of the app inside uvicorn's wrappers (``.app``), if any."""
    for _ in range(8):
        found = getattr(getattr(app, "state", None), "early_shed", None)
        if isinstance(found, EarlyShed):
            return found
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


class SheddingHttpToolsProtocol(BoundedHttpToolsProtocol):
    """:class:`BoundedHttpToolsProtocol` that answers 503 itself while the app's loop is overloaded."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.early_shed = early_shed_of(self.app)

    def dispatch(self) -> None:
        shed = self.early_shed
        if (
            shed is None
            or (self.cycle is not None and not self.cycle.response_complete)  # pipelined: answers keep their order
            or self.expect_100_continue
            or not self.parser.should_keep_alive()  # HTTP/1.0 or Connection: close
            or self.parser.get_http_version() != "1.1"
            or self.parser.should_upgrade()
            or self.parser.get_method() == b"HEAD"  # its answer has no body
        ):
            super().dispatch()
            return
        path = self.url.partition(b"?")[0]
        if b"%" in path or not path.startswith(b"/") or shed.is_exempt(self.root_path + path.decode("latin-1")):
            super().dispatch()
            return
        now = time.perf_counter()
        reason = shed.refusal(now)
        if reason is None:
            self.scope[DISPATCHED_AT] = now  # type: ignore[literal-required]  # an extension key of the scope
            super().dispatch()
            return
        answer = (shed.full_head, shed.full_body) if reason == SHED_IN_FLIGHT else (shed.head, shed.body)
        shed.on_shed(reason)
        self.cycle = ANSWERED  # the body that follows is discarded as it arrives
        head = [_STATUS_LINE]
        for name, value in self.server_state.default_headers:
            head += (name, b": ", value, b"\r\n")
        head += answer
        self.transport.write(b"".join(head))
        self.on_response_complete()  # counts the request, arms the keep-alive timeout
