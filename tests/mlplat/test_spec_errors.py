"""Every spec mistake a person is likely to make, each in its own fixture directory.

Each fixture is a small, complete set of valid documents plus one mistake. The test
asserts the whole of every diagnostic: ``file:line:column``, severity, field path and
message, so a message that stops naming the value, the fix, or the right place fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlplat.loader import validate_directory

FIXTURES = Path(__file__).parent / "fixtures" / "invalid"


class Case:
    """A fixture directory and every diagnostic it must produce, paths relative to it."""

    def __init__(self, name: str, *expected: str) -> None:
        self.name = name
        self.expected = list(expected)

    def __repr__(self) -> str:
        return self.name


CASES = [
    Case(
        "reserved_caller_name",
        "specs.yaml:48:9: error: metadata.name: 'anonymous' is reserved: the services label requests by unnamed or unauthenticated callers 'anonymous', 'unknown'; choose another name",
    ),
    Case(
        "unknown_caller",
        "specs.yaml:33:13: error: spec.readers[0]: Caller 'underwriting_consol' does not exist; defined: 'checkout_api', 'underwriting_console' (did you mean 'underwriting_console'?)",
    ),
    Case(
        "caller_listed_twice",
        "specs.yaml:33:27: error: spec.readers[1]: caller 'checkout_api' is already listed at spec.readers[0]; remove one of them",
    ),
    Case(
        "writers_on_batch_source",
        "specs.yaml:15:12: error: spec.writers: only push sources take 'writers' (batch sources are written by their pipelines); remove it or set 'type: push'",
    ),
    Case(
        "shared_service_account",
        "specs.yaml:50:19: error: spec.serviceAccount: service account checkout/checkout-api already identifies caller 'checkout_api' (line 43); one service account is one caller, so grant that caller instead",
    ),
    Case(
        "bad_cpu_quantity",
        "specs.yaml:53:12: error: spec.serving.resources.cpu: '2 cores' is not a CPU quantity: write millicores ('500m') or cores ('2')",
    ),
    Case(
        "replicas_min_above_max",
        "specs.yaml:52:29: error: spec.serving.replicas.max: max 2 is below min 4, which Kubernetes refuses for an autoscaler; raise max to at least 4 or lower min",
    ),
    Case(
        "bad_duration",
        "specs.yaml:23:8: error: spec.ttl: '30 days' is not a duration: write a whole number followed by s, m, h, d or w (e.g. '90s', '6h', '30d')",
    ),
    Case(
        "bad_label",
        "specs.yaml:21:11: error: metadata.labels.team: 'credit risk' is not a Kubernetes label key or value: use at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
    ),
    Case(
        "bad_memory_quantity",
        "specs.yaml:53:15: error: spec.serving.resources.memory: '512MB' is not a memory quantity: write e.g. '512Mi' or '2Gi'",
    ),
    Case(
        "batch_source_without_path",
        "specs.yaml:12:1: error: spec: a batch source needs 'path', the parquet file or directory of its rows (or set 'type: push' for a push source)",
    ),
    Case(
        "binary_file",
        "model.yaml:3:1: error: not a text file (it contains NUL bytes); remove it from the spec directory",
    ),
    Case(
        "canary_not_approved",
        "specs.yaml:53:16: error: spec.rollout.canary.version: version 'v2' is pending; only approved versions take decisions (run it as shadow until it is approved)",
    ),
    Case(
        "comments_only_file",
        "todo.yaml:1:1: error: file holds no document; add a spec or delete the file",
    ),
    Case(
        "duplicate_feature",
        "specs.yaml:27:13: error: spec.features[1].name: feature 'fico_score' is already defined at spec.features[0]; rename or remove one of them",
    ),
    Case(
        "duplicate_key",
        "specs.yaml:50:5: error: duplicate key 'threshold' (first written at line 49); keep one of them",
    ),
    Case(
        "duplicate_model_input",
        "specs.yaml:39:7: error: spec.features[2]: 'profile:fico_score' is already listed at spec.features[0]; remove one of them",
    ),
    Case(
        "duplicate_name_across_files",
        "specs.yaml:4:9: error: metadata.name: Entity 'applicant' is already defined at more.yaml:4:9; rename one of them",
    ),
    Case(
        "empty_file",
        "empty.yaml:1:1: error: file holds no document; add a spec or delete the file",
    ),
    Case(
        "feature_default_is_a_list",
        "specs.yaml:27:16: error: spec.features[0].default: expected true or false, a number or text; got a list",
    ),
    Case(
        "feature_default_wrong_type",
        "specs.yaml:27:16: error: spec.features[0].default: default 'none' does not fit dtype int32; write a whole number from -2147483648 to 2147483647, or remove the default",
    ),
    Case(
        "join_key_type_mismatch",
        "specs.yaml:23:13: error: spec.entities[0].type: entity 'applicant' has a string join key (the default; entity defined at line 4), but this view says int64; cast the column in the source, or change the entity's type",
    ),
    Case(
        "malformed_feature_ref",
        "specs.yaml:38:7: error: spec.features[1]: 'profile.utilization' is not a feature reference: write 'view:feature' in lowercase letters, digits and underscores (or 'request:name' for a request value)",
    ),
    Case(
        "malformed_sha256",
        "specs.yaml:43:17: error: spec.versions[0].artifact.sha256: '9f86d081884c7d659a2feaa0c55ad015' is not a sha256 digest: write 64 lowercase hex characters, as printed by `sha256sum` or `mlplat train`",
    ),
    Case(
        "missing_api_version",
        "specs.yaml:8:1: error: apiVersion: required field 'apiVersion' is missing; write 'apiVersion: mlplat/v1'",
    ),
    Case(
        "missing_feature",
        "specs.yaml:38:7: error: spec.features[1]: 'profile:utilisation' does not exist; profile has 'fico_score', 'utilization' (did you mean 'utilization'?)",
    ),
    Case(
        "missing_kind",
        "specs.yaml:8:1: error: kind: required field 'kind' is missing; use one of 'Caller', 'Entity', 'FeatureService', 'FeatureView', 'Model', 'Source'",
    ),
    Case(
        "missing_required_field",
        "specs.yaml:20:1: error: spec.source: required field 'source' is missing (the 'Source' the rows come from)",
    ),
    Case(
        "misspelt_request_value",
        "specs.yaml:39:7: error: spec.features[2]: request value 'amount' is not declared in spec.requestValues; declared: 'order_amount' (did you mean 'order_amount'?)",
    ),
    Case(
        "model_uses_offline_view",
        "specs.yaml:38:7: error: spec.features[0]: FeatureView 'profile' is not online (online: false at line 24), so the model server cannot read its features; set 'online: true' on it or drop its features from this model",
    ),
    Case(
        "name_hyphen",
        "specs.yaml:33:9: error: metadata.name: 'default-risk' is not a valid name: use lowercase letters, digits and single underscores, starting with a letter, not ending with an underscore (e.g. 'bureau_profile')",
    ),
    Case(
        "name_too_long",
        "specs.yaml:33:9: error: metadata.name: 'probability_of_default_within_ninety_days' is 41 characters long; shorten it to 32 characters or fewer",
    ),
    Case(
        "name_uppercase",
        "specs.yaml:33:9: error: metadata.name: 'Risk' is not a valid name: use lowercase letters, digits and single underscores, starting with a letter, not ending with an underscore (e.g. 'bureau_profile')",
    ),
    Case(
        "not_utf8",
        "specs.yaml:5:19: error: not UTF-8 text (byte 0xe9: invalid continuation byte); save the file as UTF-8",
    ),
    Case(
        "online_is_a_string",
        "specs.yaml:24:11: error: spec.online: expected true or false, got text 'yes'; write it without quotes",
    ),
    Case(
        "push_source_without_batch_source",
        "specs.yaml:56:1: error: spec: a push source needs 'batchSource', the batch source keeping its history",
    ),
    Case(
        "max_age_beyond_ttl",
        "specs.yaml:27:13: warning: spec.objectives.maxAge: maxAge 3d is longer than ttl 1d: values are served as OUTSIDE_MAX_AGE before the view counts as stale; lower maxAge to at most 1d",
    ),
    Case(
        "reason_phrase_for_unknown_input",
        "specs.yaml:52:7: error: spec.decision.reasonPhrases['profile:fico']: 'profile:fico' is not one of the model's features; phrases apply to spec.features only (did you mean 'profile:fico_score'?)",
    ),
    Case(
        "rollout_missing_version",
        "specs.yaml:47:14: error: spec.rollout.primary: version 'v2' does not exist; spec.versions has 'v1'",
    ),
    Case(
        "scalar_document",
        "specs.yaml:52:1: error: a spec document must be a mapping with apiVersion, kind, metadata and spec; got 'just some text'",
    ),
    Case(
        "string_model_input",
        "specs.yaml:38:7: error: spec.features[1]: 'profile:utilization' is a string; models take numeric and bool inputs only (encode it in a feature view)",
    ),
    Case(
        "syntax_error_does_not_cascade",
        "views.yaml:10:11: error: YAML syntax error: did not find expected ',' or '}' (while parsing a flow mapping started at line 9)",
    ),
    Case(
        "tab_indentation",
        "specs.yaml:6:1: error: YAML syntax error: found character that cannot start any token (while scanning for the next token); if this line is indented with a tab, indent with spaces",
    ),
    Case(
        "threshold_out_of_range",
        "specs.yaml:49:16: error: spec.decision.threshold: 50 (a number) is out of range: it must be less than 1.0",
    ),
    Case(
        "onnx_reason_codes",
        "specs.yaml:50:18: error: spec.decision.reasonCodes: 2 reason code(s) asked, but onnx models cannot give reasons (the graph returns scores, not per-feature contributions), and a credit decline must come with its reasons; train this model with xgboost or lightgbm",
    ),
    Case(
        "decline_without_reasons",
        "specs.yaml:50:18: error: spec.decision.reasonCodes: reasonCodes is 0, but a credit decline must come with its reasons; ask for at least 1 (the default is 4)",
    ),
    Case(
        "too_many_reason_codes",
        "specs.yaml:50:18: error: spec.decision.reasonCodes: 3 reason codes asked, but the model has 2 feature(s); ask for at most 2",
    ),
    Case(
        "top_level_list",
        "list.yaml:1:1: error: a spec document must be a mapping with apiVersion, kind, metadata and spec; got a list; write each object as its own document, separated by '---' lines",
    ),
    Case(
        "ttl_is_a_number",
        "specs.yaml:23:8: error: spec.ttl: 5 is not a duration: write a whole number followed by s, m, h, d or w (e.g. '90s', '6h', '30d')",
    ),
    Case(
        "ttl_shorter_than_materialization",
        "specs.yaml:23:8: warning: spec.ttl: ttl 1h is shorter than materialization.every 6h: values go stale between runs; raise ttl to at least 6h or materialize more often",
    ),
    Case(
        "unknown_dtype",
        "specs.yaml:28:14: error: spec.features[1].dtype: 'flaot32' is not accepted; use one of 'bool', 'bytes', 'float32', 'float64', 'int32', 'int64', 'string', 'timestamp' (did you mean 'float32'?)",
    ),
    Case(
        "unknown_entity",
        "specs.yaml:21:14: error: spec.entities[0]: Entity 'aplicant' does not exist; defined: 'applicant' (did you mean 'applicant'?)",
    ),
    Case(
        "unknown_field",
        "specs.yaml:24:3: error: spec.onlin: unknown field 'onlin'; accepted here: 'availability', 'entities', 'features', 'materialization', 'objectives', 'online', 'readers', 'source', 'ttl' (did you mean 'online'?)",
    ),
    Case(
        "unknown_kind",
        "specs.yaml:17:7: error: kind: unknown kind 'FeatureVeiw'; use one of 'Caller', 'Entity', 'FeatureService', 'FeatureView', 'Model', 'Source' (did you mean 'FeatureView'?)",
    ),
    Case(
        "unknown_request_value",
        "specs.yaml:39:7: error: spec.features[2]: request value 'amount' is not declared in spec.requestValues; add it there with its name and dtype",
    ),
    Case(
        "unknown_source",
        "specs.yaml:22:11: error: spec.source: Source 'beureau' does not exist; defined: 'bureau' (did you mean 'bureau'?)",
    ),
    Case(
        "unknown_view",
        "specs.yaml:38:7: error: spec.features[1]: 'profiles:utilization': FeatureView 'profiles' does not exist; defined: 'profile' (did you mean 'profile'?)",
    ),
    Case(
        "unknown_yaml_tag",
        "specs.yaml:23:8: error: cannot read '30d': tag '!duration' is not supported; specs use plain YAML values",
    ),
    Case(
        "unquoted_numeric_sha256",
        "specs.yaml:43:17: error: spec.versions[0].artifact.sha256: expected text, got 123456789012345678901234567890123456789012345678901234567... (a number); YAML read it as a number, so quote it",
    ),
    Case(
        "wrong_api_version",
        "specs.yaml:8:13: error: apiVersion: 'mlplat/v2' is not supported; use 'mlplat/v1'",
    ),
    Case(
        "yaml_bad_indent",
        "specs.yaml:14:18: error: YAML syntax error: mapping values are not allowed in this context; check this line's indentation, or quote a value that contains ': '",
    ),
    Case(
        "yaml_syntax_error",
        "broken.yaml:6:5: error: YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence started at line 5)",
    ),
    Case(
        "zero_duration",
        "specs.yaml:23:8: error: spec.ttl: '0h' is zero; write a positive duration (e.g. '6h')",
    ),
]

#: Mistakes that are warnings: the specs still load.
WARNINGS_ONLY = {"ttl_shorter_than_materialization", "max_age_beyond_ttl"}


def _diagnostics(directory: Path) -> tuple[list[str], bool]:
    result = validate_directory(directory)
    return [str(d).replace(f"{directory}/", "") for d in result.diagnostics], result.catalog is not None


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_mistake_is_reported_exactly(case: Case) -> None:
    diagnostics, loaded = _diagnostics(FIXTURES / case.name)
    assert diagnostics == case.expected
    assert loaded == (case.name in WARNINGS_ONLY)


def test_every_fixture_has_a_case() -> None:
    on_disk = {path.name for path in FIXTURES.iterdir() if path.is_dir()}
    assert on_disk == {case.name for case in CASES}
    assert len(on_disk) >= 30
