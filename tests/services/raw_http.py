"""Requests and answers on a raw socket, for tests of what the services' HTTP protocol does byte by byte."""

from __future__ import annotations

import socket
import time


def get(path: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nhost: test\r\n{extra}\r\n".encode()


def post_head(path: str, length: int) -> bytes:
    return f"POST {path} HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: {length}\r\n\r\n".encode()


def answer(sock: socket.socket) -> tuple[int, bytes, bytes]:
    """Status, lower-cased head and body of one answer on a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection before answering: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.lower().split(b"\r\n") if line.startswith(b"content-length")
    )
    while len(body) < length:
        body += sock.recv(65536)
    assert len(body) == length, "more bytes than one answer: a second answer nobody asked for"
    return int(head[9:12]), head.lower(), body


def connected(base: str, count: int) -> list[socket.socket]:
    """``count`` keep-alive connections to the server at ``base``, accepted by its loop before the test goes on."""
    host, port = base.removeprefix("http://").split(":")
    sockets = [socket.create_connection((host, int(port)), timeout=10) for _ in range(count)]
    time.sleep(0.1)  # accepted by the loop before it falls behind
    return sockets
