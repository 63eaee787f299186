"""The services' HTTP protocol over real sockets: a bounded request head, and a deadline for each request to arrive."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mlplat.errors import MlplatError
from services import admission, http_limits
from services.request_body import read_bounded
from tests.servers import running
from tests.services.raw_http import answer as _answer
from tests.services.raw_http import get as _get
from tests.services.raw_http import post_head as _post_head

DEADLINE = 0.4  # REQUEST_READ_SECONDS in these tests


class BodyReader:
    """An app whose ``/read`` reads its body as the services do, admitting one request at a time."""

    def __init__(self) -> None:
        self.errors: list[tuple[int, str]] = []
        self.shed: list[str] = []

        async def read(request: Request) -> JSONResponse:
            try:
                body = await read_bounded(request, 1 << 20)
            except MlplatError as error:
                self.errors.append((error.http_status, str(error)))
                return JSONResponse({"error": str(error)}, error.http_status)
            return JSONResponse({"body": len(body)})

        async def ignore(request: Request) -> JSONResponse:
            return JSONResponse({"ok": True})  # answers without reading the body, as a 401 does

        self.app = Starlette(
            routes=[Route("/read", read, methods=["POST"]), Route("/ignore", ignore, methods=["POST"])]
        )
        admission.install(self.app, limit=1, max_queue_seconds=10.0, on_shed=self.shed.append)


@pytest.fixture
def reader(monkeypatch: pytest.MonkeyPatch) -> BodyReader:
    monkeypatch.setattr(http_limits, "REQUEST_READ_SECONDS", DEADLINE)
    return BodyReader()


Connect = Callable[[], socket.socket]


@pytest.fixture
def connect(reader: BodyReader) -> Iterator[Connect]:
    """Opens a raw connection to the served app; every one is closed after the test."""
    opened: list[socket.socket] = []
    with running(reader.app) as base:
        host, port = base.removeprefix("http://").split(":")

        def open_one() -> socket.socket:
            opened.append(socket.create_connection((host, int(port)), timeout=5))
            return opened[-1]

        try:
            yield open_one
        finally:
            for sock in opened:
                sock.close()


def _errors_of(reader: BodyReader) -> list[tuple[int, str]]:
    """The handler's errors, once it has run (it answers after the protocol's 408 is sent)."""
    deadline = time.monotonic() + 5
    while not reader.errors and time.monotonic() < deadline:
        time.sleep(0.01)
    return reader.errors


def _sent_until_closed(sock: socket.socket, chunk: bytes, times: int, pause: float = 0.0) -> int | None:
    """Bytes sent before the server closed the connection, sending ``chunk`` up to ``times`` times; None if it never did."""
    sent = 0
    for _ in range(times):
        try:
            sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            return sent
        sent += len(chunk)
        time.sleep(pause)
    return None


def _closed(sock: socket.socket) -> bool:
    """Whether the server closed the connection (reading what it still sends first)."""
    try:
        while chunk := sock.recv(65536):
            del chunk
    except ConnectionResetError:
        pass
    return True


def test_a_head_larger_than_the_limit_is_431_and_the_rest_is_not_read(connect: Connect) -> None:
    sock = connect()
    sock.sendall(b"GET /read HTTP/1.1\r\nhost: test\r\nx-padding: ")
    sent = _sent_until_closed(sock, b"a" * 65536, times=4096)  # 256 MB, unless the server stops reading
    assert sent is not None
    assert sent < 16 * 1024 * 1024  # what the sockets' buffers took before the server closed
    sock = connect()
    sock.sendall(b"GET /read HTTP/1.1\r\nhost: test\r\nx-padding: " + b"a" * http_limits.MAX_HEAD_BYTES + b"\r\n\r\n")
    status, head, body = _answer(sock)
    assert status == 431
    assert b"connection: close" in head
    assert b"at most 32768 bytes and 100 fields" in body
    assert _closed(sock)


def test_more_header_fields_than_the_limit_is_431(connect: Connect) -> None:
    sock = connect()
    fields = "".join(f"x-{i}: {i}\r\n" for i in range(http_limits.MAX_HEADERS + 1))
    sock.sendall(_get("/read", fields))
    assert _answer(sock)[0] == 431


def test_a_head_at_the_limit_with_its_body_in_the_same_packet_is_served(connect: Connect) -> None:
    sock = connect()
    body = b'{"pad": "' + b"b" * 200_000 + b'"}'
    fields = "".join(f"x-{i}: {'v' * 200}\r\n" for i in range(90))
    head = _post_head("/read", len(body)).replace(b"\r\n\r\n", b"\r\n" + fields.encode() + b"\r\n")
    sock.sendall(head + body)
    assert _answer(sock)[0] == 200
    sock.sendall(_post_head("/read", 2) + b"{}")  # the connection carries the next request
    assert _answer(sock)[0] == 200


def test_a_head_that_trickles_is_408_at_the_deadline(connect: Connect) -> None:
    sock = connect()
    started = time.monotonic()
    sock.sendall(b"GET /read HTTP/1.1\r\nhost: test\r\n")
    for _ in range(3):
        time.sleep(DEADLINE / 4)
        sock.sendall(b"x-more: 1\r\n")
    status, _, body = _answer(sock)
    assert status == 408
    assert b"send the whole request at once" in body
    assert _closed(sock)
    assert time.monotonic() - started < DEADLINE * 5


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(connect: Connect) -> None:
    sock = connect()
    started = time.monotonic()
    assert sock.recv(65536) == b""
    assert DEADLINE * 0.9 < time.monotonic() - started < DEADLINE * 5


def test_a_trickling_body_is_408_and_gives_its_place_in_flight_back(reader: BodyReader, connect: Connect) -> None:
    slow = connect()
    slow.sendall(_post_head("/read", 100) + b"{")  # one byte of the body, then nothing
    time.sleep(DEADLINE / 4)
    other = connect()
    other.sendall(_post_head("/read", 2) + b"{}")
    assert _answer(other)[0] == 503  # the slow request holds the only place
    status, _, _ = _answer(slow)
    assert status == 408
    assert _errors_of(reader) == [
        (408, "body: 1 bytes arrived within 0.4 s of the request's first byte; send the whole request at once")
    ]
    other = connect()
    other.sendall(_post_head("/read", 2) + b"{}")
    assert _answer(other)[0] == 200


def test_a_body_trickling_after_the_answer_is_cut_at_the_deadline(connect: Connect) -> None:
    sock = connect()
    sock.sendall(_post_head("/ignore", 1000) + b"{")
    assert _answer(sock)[0] == 200
    started = time.monotonic()
    # Byte by byte, each of which turns uvicorn's keep-alive timer off.
    assert _sent_until_closed(sock, b" ", times=100, pause=DEADLINE / 8) is not None
    assert time.monotonic() - started < DEADLINE * 5


def test_a_kept_alive_connection_sending_blank_lines_is_closed(connect: Connect) -> None:
    sock = connect()
    sock.sendall(_post_head("/read", 2) + b"{}")
    assert _answer(sock)[0] == 200
    assert _sent_until_closed(sock, b"\r\n", times=100, pause=DEADLINE / 8) is not None  # no request begins


def test_a_client_leaving_in_the_middle_of_its_body_is_a_400_not_a_500(reader: BodyReader, connect: Connect) -> None:
    sock = connect()
    sock.sendall(_post_head("/read", 100) + b"{")
    time.sleep(DEADLINE / 4)
    sock.shutdown(socket.SHUT_RDWR)
    assert _errors_of(reader) == [(400, "body: the connection closed after 1 bytes, before the body was complete")]
