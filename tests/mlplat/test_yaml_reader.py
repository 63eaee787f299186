"""Reading YAML with positions: values, where they were written, and YAML's own rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlplat.diagnostics import Location
from mlplat.yaml_reader import read_yaml, read_yaml_file


def test_keys_and_values_have_their_own_positions() -> None:
    [doc], problems = read_yaml("spec:\n  ttl:   30d\n  items:\n    - a\n    - b\n", "f.yaml")
    assert problems == []
    assert doc.location(("spec", "ttl")) == Location("f.yaml", 2, 3)
    assert doc.value_location(("spec", "ttl")) == Location("f.yaml", 2, 10)
    assert doc.value_location(("spec", "items", 1)) == Location("f.yaml", 5, 7)
    # Not written: the value of the nearest written ancestor (spec's mapping), or its key.
    assert doc.value_location(("spec", "missing", "deeper")) == Location("f.yaml", 2, 3)
    assert doc.location(("spec", "missing", "deeper")) == Location("f.yaml", 1, 1)


def test_keys_written_beside_a_merge_override_it() -> None:
    text = "base: &base {cpu: 500m, memory: 1Gi}\nserving:\n  <<: *base\n  cpu: '2'\n"
    [doc], problems = read_yaml(text, "f.yaml")
    assert problems == []
    assert doc.value == {"base": {"cpu": "500m", "memory": "1Gi"}, "serving": {"cpu": "2", "memory": "1Gi"}}


def test_a_merged_mapping_reused_by_alias_is_read_the_same() -> None:
    text = "a: &a {x: 1}\nb: &b\n  <<: *a\n  x: 2\nc: *b\nd: *b\n"
    [doc], problems = read_yaml(text, "f.yaml")
    assert problems == []
    assert doc.value == {"a": {"x": 1}, "b": {"x": 2}, "c": {"x": 2}, "d": {"x": 2}}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: 1\na: 2\n", "f.yaml:2:1: error: duplicate key 'a' (first written at line 1); keep one of them"),
        ("a: &a [*a]\n", "f.yaml:1:4: error: an alias refers to the node that contains it"),
        ("a: *nope\n", "f.yaml:1:4: error: YAML syntax error: found undefined alias"),
        (
            "a: !!bool maybe\n",
            "f.yaml:1:4: error: cannot read 'maybe' as a bool ('maybe'); quote it if it is text",
        ),
        (
            "a: !!python/object:os.system x\n",
            "f.yaml:1:4: error: cannot read 'x': tag '!!python/object:os.system' is not supported; specs use plain YAML values",
        ),
        (
            "when: 2024-13-45\n",
            "f.yaml:1:7: error: cannot read '2024-13-45' as a timestamp (month must be in 1..12); quote it if it is text",
        ),
        (
            "a:\n  <<: 5\n",
            "f.yaml:2:3: error: invalid merge key: expected a mapping or list of mappings for merging, but found scalar",
        ),
        ("? [a]\n: 1\n", "f.yaml:1:3: error: mapping keys must be plain scalars, not lists or mappings"),
        (
            "naïve: caf\x07\n",
            "f.yaml:1:11: error: character U+0007 is not allowed in YAML (control characters are not allowed); remove it",
        ),
    ],
)
def test_problems_are_located(text: str, expected: str) -> None:
    _, problems = read_yaml(text, "f.yaml")
    assert [str(p) for p in problems] == [expected]


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfa: 1\n")
    [doc], problems = read_yaml_file(path, "bom.yaml")
    assert problems == []
    assert doc.value == {"a": 1}


def test_objects_of_a_broken_file_are_kept_as_stubs() -> None:
    text = (
        "kind: Entity\nmetadata:\n  name: applicant\n---\n"
        "kind: FeatureView\nmetadata:\n  owner: x\n  name: 'profile'\n---\n"
        "kind: Model\nmetadata: {owner: y, name: risk}\nspec: [\n"
    )
    documents, problems = read_yaml(text, "f.yaml")
    assert len(problems) == 1
    assert [(d.complete, d.value) for d in documents] == [
        (True, {"kind": "Entity", "metadata": {"name": "applicant"}}),
        (True, {"kind": "FeatureView", "metadata": {"owner": "x", "name": "profile"}}),
        (False, {"kind": "Model", "metadata": {"name": "risk"}}),
    ]
