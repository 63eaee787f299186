"""The decision log's on-disk format, read back: segment files of JSON lines.

The model server writes the log (``services/model_server/segmented_log.py``); monitoring
and ``mlplat-serve decisions`` read it. One definition of the layout lives here, below
both: a directory of ``decisions-00000001.jsonl``, ``-00000002``, ... where closed
segments are plain JSON lines and the active one (or one a crash left) ends in zero
bytes of preallocated padding.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("mlplat.decision_log")

#: Where a model server writes its log and its readers look, when not told: ``mlplat up``'s log.
DEFAULT_DECISION_LOG = Path(".mlplat/decisions")

_NAME = re.compile(r"^decisions-(\d{8})\.jsonl$")


def segment_path(directory: Path, number: int) -> Path:
    """The file of segment ``number`` in ``directory``."""
    return directory / f"decisions-{number:08d}.jsonl"


def segments(directory: Path) -> list[tuple[int, Path]]:
    """The directory's segment files, oldest first."""
    found = []
    for path in directory.iterdir():
        match = _NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def ends_in_padding(path: Path) -> bool:
    """Whether a segment is still preallocated (the active one, or one a crash left): it ends in zero bytes."""
    with path.open("rb") as file:
        size = file.seek(0, 2)
        if size == 0:  # created, not yet filled: nothing in it
            return True
        file.seek(size - 1)
        return file.read(1) == b"\0"


def read_decision_log(directory: Path) -> Iterator[dict[str, Any]]:
    """Every record in the log, oldest first, from a running server's log or a crashed one's.

    Zero padding is skipped; a line that does not parse (a record torn by a crash, which no
    client was answered for) is skipped with a warning naming the segment and offset.
    """
    for _, path in segments(directory):
        offset = 0
        for line in path.read_bytes().split(b"\n"):
            text = line.strip(b"\0")
            if text:
                try:
                    yield orjson.loads(text)
                except orjson.JSONDecodeError:
                    log.warning("%s: skipping a torn record at byte %d", path, offset)
            offset += len(line) + 1
