"""Structural diffs: leaves by path, named list items by name, JSON text parsed, long values cut."""

from __future__ import annotations

import json

import pytest

from mlplat.plan.structure import changes, shown


def _paths(before: object, after: object) -> list[tuple[str, object, object]]:
    return [(c.path, c.before, c.after) for c in changes(before, after)]


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ({"a": 1}, {"a": 1}, []),
        ({"a": 1}, {"a": 2}, [("a", 1, 2)]),
        ({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}}, [("a.c", None, 2)]),
        ({"a": [1, 2]}, {"a": [1, 3]}, [("a[1]", 2, 3)]),
        ({"a": [1, 2]}, {"a": [1, 2, 3]}, [("a", [1, 2], [1, 2, 3])]),
        (
            {"labels": {"app.kubernetes.io/name": "x"}},
            {"labels": {"app.kubernetes.io/name": "y"}},
            [('labels["app.kubernetes.io/name"]', "x", "y")],
        ),
    ],
)
def test_leaves_that_differ_are_reported_by_path(before: object, after: object, expected: list[object]) -> None:
    assert _paths(before, after) == expected


def test_named_items_are_matched_by_name_not_position() -> None:
    before = {"features": [{"name": "a", "dtype": "int64"}, {"name": "b", "dtype": "int64"}]}
    after = {
        "features": [
            {"name": "new", "dtype": "bool"},
            {"name": "a", "dtype": "int64"},
            {"name": "b", "dtype": "float64"},
        ]
    }
    assert _paths(before, after) == [
        ("features[b].dtype", "int64", "float64"),
        ("features[new]", None, {"name": "new", "dtype": "bool"}),
    ]


def test_json_text_is_diffed_by_structure_with_documents_keyed_by_kind_and_name() -> None:
    def snapshot(ttl: str) -> str:
        view = {
            "kind": "FeatureView",
            "metadata": {"name": "repayment_history"},
            "spec": {"ttl": ttl, "blob": "x" * 5000},
        }
        return json.dumps({"documents": [{"kind": "Entity", "metadata": {"name": "applicant"}}, view]})

    assert _paths({"data": {"catalog.json": snapshot("7d")}}, {"data": {"catalog.json": snapshot("14d")}}) == [
        ('data["catalog.json"].documents[FeatureView/repayment_history].spec.ttl', "7d", "14d")
    ]


def test_text_that_only_looks_like_json_is_compared_as_text() -> None:
    assert _paths({"a": "{not json"}, {"a": "{still not"}) == [("a", "{not json", "{still not")]


def test_long_values_are_cut_with_their_length() -> None:
    assert shown("x" * 5000).endswith("… (5,000 chars)")
    assert len(shown("x" * 5000)) < 100
    assert shown(None) == "(none)"
    assert shown(["a"]) == '["a"]'
    assert shown("ab" * 32) == "abababababab…"
