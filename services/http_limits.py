"""uvicorn's httptools protocol with the limits a server facing the network needs: head size and read time.

uvicorn bounds neither, and httptools joins a header's pieces by concatenation: one
client can send an endless header (memory, and quadratic copying, grow with it), or keep
any number of connections open by sending a byte now and then (uvicorn arms no timer on
a new connection, and cancels its keep-alive timer at every byte received). A request
whose body trickles in keeps its handler waiting, and counts against admission
control's in-flight cap until it completes: a handful of such requests refuse everyone
else (503) for as long as the client likes.

:class:`BoundedHttpToolsProtocol` enforces, per connection:

* **Head size.** The request line and headers together are at most
  :data:`MAX_HEAD_BYTES`, as nginx's default ``large_client_header_buffers 4 8k``
  (https://nginx.org/en/docs/http/ngx_http_core_module.html#large_client_header_buffers),
  and at most :data:`MAX_HEADERS` fields; more is ``431 Request Header Fields Too Large``
  (https://www.rfc-editor.org/rfc/rfc6585#section-5) and the connection is closed.
* **Read time.** A request must arrive whole, head and body, within
  :data:`REQUEST_READ_SECONDS` of its first byte (a new connection: of its opening).
  Otherwise the answer is ``408 Request Timeout``
  (https://www.rfc-editor.org/rfc/rfc9110#section-15.5.9) and the connection is closed;
  a handler still waiting for the body is told the client is gone (it answers 408 in its
  records and metrics, :func:`services.request_body.read_bounded`) and frees its place.
  An idle connection that never sent a byte is closed without an answer.

Bodies are bounded in size by each service (``MLPLAT_MAX_BODY_BYTES``), as they are read.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import MutableMapping
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

#: Largest request line plus headers, in bytes. A service account token is 1-2 KB.
MAX_HEAD_BYTES = 32 * 1024
#: Most header fields in one request (Apache's ``LimitRequestFields`` default).
MAX_HEADERS = 100
#: Seconds a request may take to arrive whole from its first byte: bodies are at most a few
#: MB on the pod network, and an ingress forwards a body once it has it all (CIS NGINX
#: benchmark 5.2.1 recommends 10 s for nginx's header and body timeouts).
REQUEST_READ_SECONDS = 10.0
#: Set in a request's scope when :data:`REQUEST_READ_SECONDS` ran out before its body arrived.
READ_TIMED_OUT = "mlplat.read_timed_out"
#: The connections' deadlines are checked this often, as a share of :data:`REQUEST_READ_SECONDS`, so a
#: request is cut 1 to 1.1 deadlines after its first byte. One check per loop serves every connection:
#: a timer armed and cancelled per request cost the loop ~1.4 µs a request (uvloop 0.21, measured with
#: ``call_later`` + ``cancel``), where the check costs a fraction of that per connection, ten times a deadline.
SWEEP_SHARE = 0.1

_TOO_LARGE = (
    b'{"error":"request head too large: send a request line and headers of at most '
    + str(MAX_HEAD_BYTES).encode()
    + b" bytes and "
    + str(MAX_HEADERS).encode()
    + b' fields"}'
)
_TOO_SLOW = (
    b'{"error":"request not received within '
    + str(int(REQUEST_READ_SECONDS)).encode()
    + b' s of its first byte: send the whole request at once"}'
)


class _Answered:
    """The cycle of a request answered by the protocol itself: complete, so uvicorn discards its body."""

    __slots__ = ()
    response_started = True
    response_complete = True
    disconnected = False
    keep_alive = True

    class message_event:  # noqa: N801 - read by uvicorn as a cycle's attribute
        @staticmethod
        def set() -> None:
            pass


#: Stands for the cycle of a request the protocol answered (uvicorn then ignores the rest of it).
ANSWERED: Any = _Answered()


def _answer(status_line: bytes, body: bytes) -> bytes:
    head = b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body)
    return status_line + head + body


_HEAD_TOO_LARGE = _answer(b"HTTP/1.1 431 Request Header Fields Too Large\r\n", _TOO_LARGE)
_REQUEST_TIMEOUT = _answer(b"HTTP/1.1 408 Request Timeout\r\n", _TOO_SLOW)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` with a bounded request head and a deadline for each request to arrive.

    Subclasses that answer some requests themselves override :meth:`dispatch` (called
    once a head is complete and within bounds) instead of ``on_headers_complete``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading_head = True
        self._head_bytes = 0  # bytes received while the current head is incomplete
        self._received_any = False
        #: ``loop.time()`` when the request now arriving started (its first byte; a new connection:
        #: its opening), or ``None`` when no request is arriving (:class:`_Deadlines` checks it).
        self.arriving_since: float | None = None

    # --- the limits --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # uvicorn adds the connection to the server's
        self.arriving_since = self.loop.time()
        _deadlines(self.server_state, self.loop).watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self.arriving_since = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return  # refused: the rest is not read
        self._received_any = True
        if self._reading_head:
            self._head_bytes += len(data)
            if self.arriving_since is None:
                self.arriving_since = self.loop.time()
        super().data_received(data)
        if self._reading_head and self._head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
            self._refuse_head(_HEAD_TOO_LARGE)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head = True
        if self.arriving_since is None:
            self.arriving_since = self.loop.time()

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._head_bytes = 0
        # uvicorn keeps every field of the head in ``headers``; the head's size bounds their number.
        if len(self.headers) > MAX_HEADERS or self._head_size() > MAX_HEAD_BYTES:
            self._reading_head = True  # it gets no cycle: the next bytes are not its body
            self._refuse_head(_HEAD_TOO_LARGE)
            return
        self.dispatch()

    def on_message_complete(self) -> None:
        self.arriving_since = None  # the request arrived whole: only its answer is left
        self._reading_head = True  # what comes next is the next request's head
        self._received_any = False
        super().on_message_complete()

    def dispatch(self) -> None:
        """Hand a request whose head is complete and within bounds to the app (uvicorn's own handling)."""
        super().on_headers_complete()

    # --- helpers -----------------------------------------------------------------------

    def _head_size(self) -> int:
        """The request line and headers as received, less their line ends' exact spelling."""
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    def too_slow(self) -> None:
        """The request now arriving did not arrive whole within :data:`REQUEST_READ_SECONDS`: refuse it."""
        self.arriving_since = None
        if self.transport.is_closing():
            return
        cycle: RequestResponseCycle | None = self.cycle
        if self._reading_head:
            # A client that sent part of a request is told; an idle new connection is just closed.
            self._refuse_head(_REQUEST_TIMEOUT if self._received_any else b"")
        elif cycle is None or cycle.response_started or self.pipeline:
            self._refuse(b"")  # answered, answering, or queued behind an answer: close, write nothing
        else:
            # The app waits for the body: tell it the client is gone, and why, so it frees its place.
            scope: MutableMapping[str, Any] = cycle.scope  # type: ignore[assignment]
            scope[READ_TIMED_OUT] = True
            cycle.disconnected = True
            cycle.message_event.set()
            self._refuse(_REQUEST_TIMEOUT)

    def _refuse_head(self, answer: bytes) -> None:
        """Refuse the request whose head is being read: ``answer`` it, unless an earlier answer is still being written."""
        cycle: RequestResponseCycle | None = self.cycle  # None before a connection's first request
        if cycle is None:
            self.cycle = ANSWERED  # the parser may still call back with the rest of this chunk
        self._refuse(answer if cycle is None or cycle.response_complete else b"")

    def _refuse(self, answer: bytes) -> None:
        """Write ``answer`` (if any) and close: the rest of this connection's bytes are not read."""
        self.arriving_since = None
        if answer:
            self.transport.write(answer)
        self.transport.close()


class _Deadlines:
    """Refuses the requests of one server's connections that take longer than :data:`REQUEST_READ_SECONDS` to arrive.

    Every ``SWEEP_SHARE`` of the deadline, while the server has connections, one timer callback
    looks at each connection's :attr:`BoundedHttpToolsProtocol.arriving_since`.
    """

    def __init__(self, connections: set[Any], loop: asyncio.AbstractEventLoop) -> None:
        self._connections, self._loop = connections, loop
        self._timer: asyncio.TimerHandle | None = None

    def watch(self) -> None:
        """Make sure the check runs (a connection was opened)."""
        if self._timer is None:
            self._timer = self._loop.call_later(REQUEST_READ_SECONDS * SWEEP_SHARE, self._check)

    def _check(self) -> None:
        self._timer = None
        now = self._loop.time()
        late = [
            connection
            for connection in self._connections
            if isinstance(connection, BoundedHttpToolsProtocol)
            and connection.arriving_since is not None
            and now - connection.arriving_since >= REQUEST_READ_SECONDS
        ]
        for connection in late:  # refusing one closes it, which changes the set
            connection.too_slow()
        if self._connections:
            self.watch()


#: The check of each server's connections, by the server's state (uvicorn's, one per server).
_CHECKS: weakref.WeakKeyDictionary[ServerState, _Deadlines] = weakref.WeakKeyDictionary()


def _deadlines(server: ServerState, loop: asyncio.AbstractEventLoop) -> _Deadlines:
    """The one :class:`_Deadlines` of ``server``'s connections."""
    found = _CHECKS.get(server)
    if found is None:
        found = _CHECKS[server] = _Deadlines(server.connections, loop)
    return found
