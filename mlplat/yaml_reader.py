"""Reads YAML files into plain values and remembers where each value was written.

PyYAML's composer gives nodes with marks; we build the values ourselves so that
every mapping key and sequence item keeps its line and column, duplicate keys are
errors (PyYAML silently keeps the last), and no input, however broken, escapes as a
traceback.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path as FilePath

import yaml

from mlplat.diagnostics import Diagnostic, Location, Path

try:  # libyaml is several times faster; the pure-Python loader reads the same YAML.
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

#: Values built from one document at most; stops alias expansion bombs.
MAX_VALUES = 200_000
#: Nesting depth at most; spec documents are a handful of levels deep.
MAX_DEPTH = 64


@dataclass(frozen=True)
class YamlDocument:
    """One document of a YAML file: its value and where each part of it was written."""

    file: str
    index: int
    value: object
    #: Where each mapping key and sequence item starts, by path.
    positions: Mapping[Path, tuple[int, int]]
    #: Where each mapping value starts, by path, when it differs from its key.
    value_positions: Mapping[Path, tuple[int, int]] = field(default_factory=dict)
    #: False for a stub standing in for a document that could not be read: it holds
    #: only ``kind`` and ``metadata.name``, so references to it are not reported again.
    complete: bool = True

    def location(self, path: Path) -> Location:
        """Where ``path`` was written (its key), or its nearest written ancestor."""
        for end in range(len(path), -1, -1):
            position = self.positions.get(path[:end])
            if position is not None:
                return Location(self.file, *position)
        return Location(self.file)

    def value_location(self, path: Path) -> Location:
        """Where the value at ``path`` starts (or its nearest written ancestor's): what a message about a bad value points at."""
        for end in range(len(path), -1, -1):
            position = self.value_positions.get(path[:end]) or self.positions.get(path[:end])
            if position is not None:
                return Location(self.file, *position)
        return Location(self.file)


class _BuildError(Exception):
    def __init__(self, mark: yaml.Mark | None, message: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message


def _position(mark: yaml.Mark | None) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _problem(error: BaseException) -> str:
    """PyYAML's one-line problem, without the multi-line ``in "<unicode string>"`` marks."""
    problem = getattr(error, "problem", None)
    return str(problem) if problem else str(error).splitlines()[0]


_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"


class _Builder:
    """Turns one composed document into values, recording positions by path."""

    def __init__(self) -> None:
        self.positions: dict[Path, tuple[int, int]] = {}
        self.value_positions: dict[Path, tuple[int, int]] = {}
        self._constructor = yaml.constructor.SafeConstructor()
        self._count = 0
        self._active: set[int] = set()
        # Merged pairs per mapping node: flatten_mapping rewrites a node once, and an
        # alias may bring the same node back.
        self._merged: dict[int, int] = {}

    def build(self, node: yaml.Node, path: Path) -> object:
        self._count += 1
        if self._count > MAX_VALUES:
            raise _BuildError(node.start_mark, f"document has more than {MAX_VALUES} values; aliases expand too far")
        if len(path) > MAX_DEPTH:
            raise _BuildError(node.start_mark, f"document is nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, yaml.ScalarNode):  # scalars hold no aliases: no cycle to look for
            return self._scalar(node)
        if id(node) in self._active:
            raise _BuildError(node.start_mark, "an alias refers to the node that contains it")
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            return self._sequence(node, path)
        finally:
            self._active.discard(id(node))

    def _sequence(self, node: yaml.Node, path: Path) -> list[object]:
        items = []
        for index, item in enumerate(node.value):
            self.positions[(*path, index)] = _position(item.start_mark)
            items.append(self.build(item, (*path, index)))
        return items

    def _scalar(self, node: yaml.Node) -> object:
        if node.tag == _STR_TAG:  # most spec values; PyYAML's generic constructor costs 5x more
            return node.value
        try:
            return self._constructor.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as error:
            if node.tag in yaml.constructor.SafeConstructor.yaml_constructors:
                reason = _problem(error)
            else:
                tag = node.tag.replace("tag:yaml.org,2002:", "!!")
                reason = f"tag {tag!r} is not supported; specs use plain YAML values"
            raise _BuildError(node.start_mark, f"cannot read {_shorten(str(node.value))!r}: {reason}") from None
        # PyYAML's scalar constructors raise KeyError, IndexError, ValueError... on odd
        # explicitly tagged values (`!!bool maybe`, `!!float ''`); each becomes one located error.
        except Exception as error:
            kind = node.tag.rsplit(":", 1)[-1]
            article = "an" if kind[:1] in tuple("aeiou") else "a"
            raise _BuildError(
                node.start_mark,
                f"cannot read {_shorten(str(node.value))!r} as {article} {kind} ({_shorten(str(error), 80)}); "
                "quote it if it is text",
            ) from None

    def _flatten(self, node: yaml.MappingNode) -> int:
        """Resolve ``<<: *anchor`` merge keys; the number of pairs that came from merges."""
        if id(node) not in self._merged:
            if not any(key.tag == _MERGE_TAG for key, _ in node.value):
                return 0
            own = sum(1 for key, _ in node.value if key.tag != _MERGE_TAG)
            try:
                self._constructor.flatten_mapping(node)
            except yaml.YAMLError as error:
                raise _BuildError(node.start_mark, f"invalid merge key: {_problem(error)}") from None
            self._merged[id(node)] = len(node.value) - own
        return self._merged[id(node)]

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[object, object]:
        merged = self._flatten(node)
        result: dict[object, object] = {}
        first_seen: dict[object, int] = {}
        for number, (key_node, value_node) in enumerate(node.value):
            if not isinstance(key_node, yaml.ScalarNode):
                raise _BuildError(key_node.start_mark, "mapping keys must be plain scalars, not lists or mappings")
            key = self._scalar(key_node)
            if not isinstance(key, str | int | float | bool) and key is not None:
                key = str(key)
            if key in first_seen:
                raise _BuildError(
                    key_node.start_mark,
                    f"duplicate key {key!r} (first written at line {first_seen[key]}); keep one of them",
                )
            if number >= merged:  # keys written here may override merged ones, not each other
                first_seen[key] = key_node.start_mark.line + 1
            child = (*path, key) if isinstance(key, str | int) else (*path, str(key))
            self.positions[child] = _position(key_node.start_mark)
            self.value_positions[child] = _position(value_node.start_mark)
            result[key] = self.build(value_node, child)
        return result


def _decode(data: bytes, file: str) -> tuple[str | None, Diagnostic | None]:
    if b"\x00" in data:
        line, column = _byte_position(data, data.index(b"\x00"))
        return None, Diagnostic(
            Location(file, line, column),
            (),
            "not a text file (it contains NUL bytes); remove it from the spec directory",
        )
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as error:
        line, column = _byte_position(data, error.start)
        return None, Diagnostic(
            Location(file, line, column),
            (),
            f"not UTF-8 text (byte 0x{data[error.start]:02x}: {error.reason}); save the file as UTF-8",
        )


def _byte_position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of byte ``offset`` of ``data``."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", errors="replace")) + 1
    return data.count(b"\n", 0, offset) + 1, column


_HINTS = {
    "found character that cannot start any token": "; if this line is indented with a tab, indent with spaces",
    "mapping values are not allowed in this context": (
        "; check this line's indentation, or quote a value that contains ': '"
    ),
}


def _syntax_diagnostic(text: str, file: str, error: yaml.YAMLError) -> Diagnostic:
    if isinstance(error, yaml.reader.ReaderError):
        # libyaml reports the offending character by byte offset in the UTF-8 text.
        line, column = _byte_position(text.encode("utf-8", errors="surrogatepass"), error.position)
        return Diagnostic(
            Location(file, line, column),
            (),
            f"character U+{error.character:04X} is not allowed in YAML ({error.reason}); remove it",
        )
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = _problem(error)
    message = f"YAML syntax error: {problem}"
    context = getattr(error, "context", None)
    context_mark = getattr(error, "context_mark", None)
    if context and context_mark is not None and mark is not None and context_mark.line != mark.line:
        message += f" ({context} started at line {context_mark.line + 1})"
    elif context:
        message += f" ({context})"
    return Diagnostic(Location(file, *_position(mark)), (), message + _HINTS.get(problem, ""))


_KIND_RE = re.compile(r"^kind:[ \t]*[\"']?([A-Za-z]+)", re.MULTILINE)
_NAME_RE = re.compile(
    r"^metadata:[ \t]*(?:\{[^}\n]*?\bname:|\n(?:[ \t]+.*\n)*?[ \t]+name:)[ \t]*[\"']?([A-Za-z0-9_.\-]+)",
    re.MULTILINE,
)
_SEPARATOR_RE = re.compile(r"^---", re.MULTILINE)


def _stubs(text: str, file: str, documents: list[YamlDocument]) -> list[YamlDocument]:
    """Kind and name of each object of an unreadable file, found by a line scan, as stubs.

    A file with a syntax error loses its objects; without stubs every reference to
    them would be a second, misleading error ("does not exist").
    """
    read = {_kind_and_name(d.value) for d in documents}
    stubs = []
    for chunk in _SEPARATOR_RE.split(text):
        kind, name = _KIND_RE.search(chunk), _NAME_RE.search(chunk)
        if name is not None and (kind and kind.group(1), name.group(1)) not in read:
            value = {"kind": kind.group(1) if kind else None, "metadata": {"name": name.group(1)}}
            stubs.append(YamlDocument(file, -1, value, {}, complete=False))
    return stubs


def _kind_and_name(value: object) -> tuple[str | None, str | None]:
    if not isinstance(value, dict):
        return None, None
    kind, metadata = value.get("kind"), value.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return (kind if isinstance(kind, str) else None), (name if isinstance(name, str) else None)


def _compose(text: str) -> Iterator[yaml.Node | None]:
    loader = _Loader(text)
    try:
        while loader.check_node():
            yield loader.get_node()
    finally:
        loader.dispose()


def read_yaml(text: str, file: str) -> tuple[list[YamlDocument], list[Diagnostic]]:
    """Every document of ``text`` (named ``file`` in diagnostics), and the problems found."""
    documents: list[YamlDocument] = []
    diagnostics: list[Diagnostic] = []
    index = 0
    try:
        for node in _compose(text):
            if node is None:
                continue
            builder = _Builder()
            try:
                value = builder.build(node, ())
            except _BuildError as error:
                diagnostics.append(Diagnostic(Location(file, *_position(error.mark)), (), error.message))
            else:
                if value is not None:
                    builder.positions[()] = _position(node.start_mark)
                    documents.append(YamlDocument(file, index, value, builder.positions, builder.value_positions))
            index += 1
    except yaml.YAMLError as error:
        diagnostics.append(_syntax_diagnostic(text, file, error))
    except RecursionError:
        diagnostics.append(
            Diagnostic(Location(file, 1, 1), (), f"YAML is nested too deeply (more than {MAX_DEPTH} levels)")
        )
    if not documents and not diagnostics:
        diagnostics.append(
            Diagnostic(Location(file, 1, 1), (), "file holds no document; add a spec or delete the file")
        )
    if diagnostics:
        documents.extend(_stubs(text, file, documents))
    return documents, diagnostics


def read_yaml_file(path: FilePath, file: str) -> tuple[list[YamlDocument], list[Diagnostic]]:
    """Read and parse one file; unreadable, binary and non-UTF-8 files become diagnostics."""
    try:
        data = path.read_bytes()
    except OSError as error:
        return [], [Diagnostic(Location(file, 1, 1), (), f"cannot read file: {error.strerror}")]
    text, problem = _decode(data, file)
    if problem is not None or text is None:
        return [], [problem] if problem else []
    return read_yaml(text, file)
