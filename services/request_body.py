"""Reading a request body with a size bound, shared by the feature server and the model server."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request


async def read_bounded(request: Request, limit: int, too_large: Callable[[str], Exception]) -> bytes:
    """The body, read at most ``limit`` bytes far so an oversized request costs no memory.

    A declared ``content-length`` over the limit is refused before anything is read;
    otherwise the stream is counted as it arrives. ``too_large`` makes the error (413).
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(f"body: {declared} bytes; at most {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(f"body: more than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
