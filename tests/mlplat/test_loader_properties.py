"""Whatever is in a spec directory, the loader answers with located diagnostics, never a traceback.

Inputs: random text, random bytes, YAML-ish text with anchors, aliases and tags, and
the repository's own specs with random values put in random places (which reaches the
cross-document checks with documents no fixture thought of).
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlplat.diagnostics import has_errors
from mlplat.loader import validate_directory
from mlplat.yaml_reader import MAX_DEPTH, MAX_VALUES

SPECS = Path(__file__).resolve().parents[2] / "specs"
BOUNDED = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextmanager
def spec_dir(files: dict[str, str | bytes]) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, content in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8", errors="surrogatepass")
        yield root


def assert_located(root: Path) -> None:
    """Validation ends normally; every diagnostic names a file of ``root``, a line and a column."""
    result = validate_directory(root)
    for diagnostic in result.diagnostics:
        assert diagnostic.location.file.startswith(f"{root}/"), diagnostic
        assert diagnostic.location.line >= 1, diagnostic
        assert diagnostic.location.column >= 1, diagnostic
        assert diagnostic.message, diagnostic
        assert "\n" not in str(diagnostic), diagnostic
    assert (result.catalog is None) == has_errors(result.diagnostics)


# --- random text and bytes -------------------------------------------------------------


@BOUNDED
@given(st.text())
def test_random_text(text: str) -> None:
    with spec_dir({"random.yaml": text}) as root:
        assert_located(root)


@BOUNDED
@given(st.text(alphabet=":-?[]{},&*!|>'\"#%@`<= \n\t\\akn0x.", max_size=80))
def test_text_of_yaml_punctuation(text: str) -> None:
    with spec_dir({"punctuation.yaml": text}) as root:
        assert_located(root)


@BOUNDED
@given(st.binary())
def test_random_bytes(data: bytes) -> None:
    with spec_dir({"random.yaml": data}) as root:
        assert_located(root)


# --- YAML-ish text: structure, anchors, aliases, tags ------------------------------------

TRICKY_SCALARS = [
    "~", "null", "yes", "No", "on", "0x1F", "0o17", "1e3", "1_000", ".inf", "-.nan", "2020-01-01",
    "2020-13-45", "12:30:00", "'quoted'", '"dq\\n"', '"\\x07"', "!!binary AAAA", "!!binary !!!", "!!bool maybe",
    "!!float ''", "!!int x", "!!timestamp nope", "!!python/name:os.system", "!foo bar", "<<", "*undefined",
    "|", ">-", "-", "? ", "@", "`", "%", "&", "'unterminated", "apiVersion", "mlplat/v1", "Entity",
    "FeatureView", "Model", "Source", "30d", "0h", "v1", "view:feature",
]  # fmt: skip
KEYS = st.sampled_from(
    ["apiVersion", "kind", "metadata", "name", "spec", "features", "ttl", "<<", "? x", "a", "1", "~", "true", "x y"]
)
SCALARS = st.one_of(st.sampled_from(TRICKY_SCALARS), st.text(max_size=8), st.integers().map(str))


def _trees() -> st.SearchStrategy[Any]:
    return st.recursive(
        SCALARS,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(KEYS, children, max_size=4),
        ),
        max_leaves=25,
    )


def render(tree: Any, draw: Any, anchors: list[str]) -> str:
    """Flow-style YAML of ``tree``, with anchors on some collections and aliases in place of some values."""
    if anchors and draw(st.integers(0, 9)) == 0:
        return f"*{draw(st.sampled_from(anchors))}"
    prefix = ""
    if isinstance(tree, list | dict) and draw(st.integers(0, 3)) == 0:
        anchor = f"a{len(anchors)}"
        prefix = f"&{anchor} "
        anchors.append(anchor)  # an alias inside its own anchor is a cycle: the loader must say so
    if isinstance(tree, list):
        return prefix + "[" + ", ".join(render(item, draw, anchors) for item in tree) + "]"
    if isinstance(tree, dict):
        items = (f"{key}: {render(value, draw, anchors)}" for key, value in tree.items())
        return prefix + "{" + ", ".join(items) + "}"
    return str(tree)


@BOUNDED
@given(st.lists(_trees(), min_size=1, max_size=3), st.data())
def test_yaml_with_anchors_aliases_and_tags(trees: list[Any], data: st.DataObject) -> None:
    anchors: list[str] = []
    documents = [render(tree, data.draw, anchors) for tree in trees]
    with spec_dir({"flow.yaml": "\n---\n".join(documents)}) as root:
        assert_located(root)


@BOUNDED
@given(_trees())
def test_block_style_yaml(tree: Any) -> None:
    with spec_dir({"block.yaml": yaml.safe_dump(tree, default_flow_style=False, allow_unicode=True)}) as root:
        assert_located(root)


# --- the real specs, with random values in random places ----------------------------------

ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(["", "v1", "v9", "30d", "0s", "applicant", "bureau_profile:fico_score", "request:x", "push"]),
    st.lists(st.text(max_size=4), max_size=3),
    st.dictionaries(st.text(max_size=6), st.integers(), max_size=3),
)


@functools.cache
def _spec_documents() -> tuple[Any, ...]:
    """The repository's spec documents, read once: ``mutate`` copies what it changes."""
    documents: list[Any] = []
    for path in sorted(SPECS.rglob("*.yaml")):
        documents.extend(yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader))
    return tuple(documents)


def mutate(value: Any, draw: Any) -> Any:
    """``value`` with one random change somewhere inside it: a replaced, removed or renamed entry."""
    if isinstance(value, dict) and value:
        key = draw(st.sampled_from(sorted(value, key=str)))
        action = draw(st.sampled_from(["descend", "descend", "replace", "delete", "rename"]))
        changed = dict(value)
        if action == "descend":
            changed[key] = mutate(value[key], draw)
        elif action == "replace":
            changed[key] = draw(ODD_VALUES)
        elif action == "delete":
            del changed[key]
        else:
            changed[draw(st.text(min_size=1, max_size=10))] = changed.pop(key)
        return changed
    if isinstance(value, list) and value:
        index = draw(st.integers(0, len(value) - 1))
        changed_list = list(value)
        changed_list[index] = mutate(value[index], draw) if draw(st.booleans()) else draw(ODD_VALUES)
        return changed_list
    return draw(ODD_VALUES)


@BOUNDED
@given(st.data())
def test_real_specs_with_random_changes(data: st.DataObject) -> None:
    documents = list(_spec_documents())
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(documents) - 1))
        documents[index] = mutate(documents[index], data.draw)
    # Two files, so cross-file references and duplicates are exercised; libyaml's emitter for speed.
    half = len(documents) // 2
    files = {
        name: yaml.dump_all(part, Dumper=yaml.CSafeDumper, sort_keys=False)
        for name, part in (("a.yaml", documents[:half]), ("b.yaml", documents[half:]))
    }
    with spec_dir(files) as root:
        assert_located(root)


# --- the limits: alias bombs and deep nesting -------------------------------------------------


def alias_bomb(levels: int, fanout: int) -> str:
    lines = [f"l0: &l0 [{', '.join(['x'] * fanout)}]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * fanout)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("levels", "fanout"), [(6, 10), (9, 9), (30, 2)])
def test_alias_bombs_stop_at_the_value_limit(levels: int, fanout: int) -> None:
    with spec_dir({"bomb.yaml": alias_bomb(levels, fanout)}) as root:
        [diagnostic] = validate_directory(root).diagnostics
    assert diagnostic.message == f"document has more than {MAX_VALUES} values; aliases expand too far"
    assert diagnostic.location.line >= 1


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1_000, 20_000])
def test_deep_flow_nesting_is_one_located_error(depth: int) -> None:
    with spec_dir({"deep.yaml": "a: " + "[" * depth + "]" * depth + "\n"}) as root:
        [diagnostic] = validate_directory(root).diagnostics
    assert diagnostic.location.line == 1
    assert "nest" in diagnostic.message


def test_deep_block_nesting_is_one_located_error() -> None:
    text = "".join("  " * level + f"k{level}:\n" for level in range(MAX_DEPTH + 10))
    with spec_dir({"deep.yaml": text}) as root:
        [diagnostic] = validate_directory(root).diagnostics
    assert str(diagnostic).endswith(f"error: document is nested deeper than {MAX_DEPTH} levels")
    assert diagnostic.location.line == MAX_DEPTH + 2


@BOUNDED
@given(st.integers(min_value=1, max_value=3_000), st.sampled_from(["[", "{a: ", "- "]))
def test_any_nesting_depth_is_handled(depth: int, opener: str) -> None:
    closer = {"[": "]", "{a: ": "}", "- ": ""}[opener]  # "- - - x" nests block sequences on one line
    text = opener * depth + "x" + closer * depth + "\n"
    with spec_dir({"nest.yaml": text}) as root:
        assert_located(root)
