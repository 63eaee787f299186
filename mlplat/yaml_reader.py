"""Reads YAML files into plain values and remembers where each value was written.

PyYAML's composer gives nodes with marks; we build the values ourselves so that
every mapping key and sequence item keeps its line and column, duplicate keys are
errors (PyYAML silently keeps the last), and no input, however broken, escapes as a
traceback.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
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
    positions: Mapping[Path, tuple[int, int]]

    def location(self, path: Path) -> Location:
        """Where ``path`` was written, or its nearest written ancestor."""
        for end in range(len(path), -1, -1):
            position = self.positions.get(path[:end])
            if position is not None:
                return Location(self.file, *position)
        return Location(self.file)


class _BuildError(Exception):
    def __init__(self, mark: yaml.Mark | None, message: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message


def _position(mark: yaml.Mark | None) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)


class _Builder:
    """Turns one composed document into values, recording positions by path."""

    def __init__(self) -> None:
        self.positions: dict[Path, tuple[int, int]] = {}
        self._constructor = yaml.constructor.SafeConstructor()
        self._count = 0
        self._active: set[int] = set()

    def build(self, node: yaml.Node, path: Path) -> object:
        self._count += 1
        if self._count > MAX_VALUES:
            raise _BuildError(node.start_mark, f"document has more than {MAX_VALUES} values; aliases expand too far")
        if len(path) > MAX_DEPTH:
            raise _BuildError(node.start_mark, f"document is nested deeper than {MAX_DEPTH} levels")
        if id(node) in self._active:
            raise _BuildError(node.start_mark, "an alias refers to the node that contains it")
        self._active.add(id(node))
        try:
            return self._build_node(node, path)
        finally:
            self._active.discard(id(node))

    def _build_node(self, node: yaml.Node, path: Path) -> object:
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                self.positions[(*path, index)] = _position(item.start_mark)
                items.append(self.build(item, (*path, index)))
            return items
        return self._scalar(node)

    def _scalar(self, node: yaml.Node) -> object:
        try:
            return self._constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError, TypeError) as error:
            raise _BuildError(node.start_mark, f"cannot read value {node.value!r}: {error}") from None

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[object, object]:
        try:
            self._constructor.flatten_mapping(node)  # resolves `<<: *anchor` merge keys
        except yaml.YAMLError as error:
            raise _BuildError(node.start_mark, f"invalid merge key: {error}") from None
        result: dict[object, object] = {}
        first_seen: dict[object, int] = {}
        for key_node, value_node in node.value:
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
            first_seen[key] = key_node.start_mark.line + 1
            child = (*path, key) if isinstance(key, str | int) else (*path, str(key))
            self.positions[child] = _position(key_node.start_mark)
            result[key] = self.build(value_node, child)
        return result


def _decode(data: bytes, file: str) -> tuple[str | None, Diagnostic | None]:
    if b"\x00" in data:
        return None, Diagnostic(
            Location(file, 1, 1), (), "not a text file (it contains NUL bytes); remove it from the spec directory"
        )
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        return None, Diagnostic(
            Location(file, line, 1),
            (),
            f"not UTF-8 text ({error.reason} at byte {error.start}); save the file as UTF-8",
        )


def _syntax_diagnostic(file: str, error: yaml.YAMLError) -> Diagnostic:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    context = getattr(error, "context", None)
    message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
    return Diagnostic(Location(file, *_position(mark)), (), message)


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
                    documents.append(YamlDocument(file, index, value, builder.positions))
            index += 1
    except yaml.YAMLError as error:
        diagnostics.append(_syntax_diagnostic(file, error))
    except RecursionError:
        diagnostics.append(
            Diagnostic(Location(file, 1, 1), (), f"YAML is nested too deeply (more than {MAX_DEPTH} levels)")
        )
    if not documents and not diagnostics:
        diagnostics.append(
            Diagnostic(Location(file, 1, 1), (), "file holds no document; add a spec or delete the file")
        )
    return documents, diagnostics


def read_yaml_file(path: FilePath, file: str) -> tuple[list[YamlDocument], list[Diagnostic]]:
    """Read and parse one file; unreadable, binary and non-UTF-8 files become diagnostics."""
    try:
        data = path.read_bytes()
    except OSError as error:
        return [], [Diagnostic(Location(file), (), f"cannot read file: {error.strerror}")]
    text, problem = _decode(data, file)
    if problem is not None or text is None:
        return [], [problem] if problem else []
    return read_yaml(text, file)
