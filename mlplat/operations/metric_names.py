"""The metrics the services emit that SLOs and dashboards read: one definition for both sides.

The services register these names (``services/*/metrics.py``); the rules in
:mod:`mlplat.operations.rules` read only these names and labels, which a test checks
against the ``/metrics`` of running servers. Counters are named here without the
``_total`` suffix the client library appends on exposition; :func:`exposed` adds it.
"""

from __future__ import annotations

#: Requests to the model server, by route, model, version, outcome and HTTP status.
MODEL_REQUESTS = "mlplat_model_requests"
#: Histogram of model-server request latency, by route and model.
MODEL_REQUEST_SECONDS = "mlplat_model_request_seconds"
#: Requests to the feature server, by endpoint and HTTP status.
FEATURE_SERVER_RESPONSES = "mlplat_feature_server_responses"
#: Histogram of feature-server request latency, by endpoint.
FEATURE_SERVER_REQUEST_SECONDS = "mlplat_feature_server_request_seconds"
#: Feature values the feature server served, by view and freshness status.
FEATURE_SERVER_VALUES = "mlplat_feature_server_values"
#: Gauge: event time (Unix seconds) of the newest value the online store holds for a view; 0 for none yet.
VIEW_NEWEST_EVENT = "mlplat_feature_view_newest_event_timestamp_seconds"
#: Materialization runs of a view that recorded their end in the online store, by result.
MATERIALIZATION_RUNS = "mlplat_materialization_runs"
#: Requests answered 503 at once by admission control, by ``reason`` (one of :data:`SHED_REASONS`).
FEATURE_SERVER_SHED = "mlplat_feature_server_shed_requests"
MODEL_SHED = "mlplat_model_shed_requests"

#: Route label of the decision endpoint (``POST /v1/decisions/{model}``).
DECISION_ROUTE = "decision"
#: ``model`` label of requests that named no served model (bounded: never the raw path value).
UNKNOWN_MODEL = "_unknown"
#: ``version`` label when no version answered (errors before scoring).
NO_VERSION = "_none"
#: ``reason`` of a shed request: the event loop ran later than the queue-delay target
#: (``MLPLAT_MAX_QUEUE_MS``), or the in-flight cap (``MLPLAT_MAX_IN_FLIGHT``) was reached.
SHED_QUEUE = "queue"
SHED_IN_FLIGHT = "in_flight"
SHED_REASONS = (SHED_QUEUE, SHED_IN_FLIGHT)
RUN_SUCCEEDED = "succeeded"
RUN_FAILED = "failed"


def exposed(counter: str) -> str:
    """The exposed sample name of a counter: the client library appends ``_total``."""
    return f"{counter}_total"


def le_label(seconds: float) -> str:
    """The ``le`` label value of a histogram bucket as the Python client writes it (``0.05``, ``1.0``)."""
    return repr(float(seconds))


# The figures ``mlplat monitor --metrics-file`` writes (mlplat/monitoring/report_data.py), all
# gauges labelled ``model``; the model-monitoring alerts read these, which a test checks
# against the real output of the command.

#: PSI of an input, by ``input`` and ``against`` (``reference``, ``previous``).
INPUT_PSI = "mlplat_model_input_psi"
#: PSI of a version's score, by ``version`` and ``against``.
SCORE_PSI = "mlplat_model_score_psi"
#: Approval rate of a version in the window, by ``version`` and ``role``.
APPROVAL_RATE = "mlplat_model_approval_rate"
#: Absolute change of that approval rate against the previous window, by ``version`` and ``role``.
APPROVAL_RATE_SHIFT = "mlplat_model_approval_rate_shift"
#: Share of decisions an input was missing for, by ``input``.
INPUT_MISSING_SHARE = "mlplat_model_input_missing_share"
#: The same share in the training population (the reference profile), by ``input``.
INPUT_REFERENCE_MISSING_SHARE = "mlplat_model_input_reference_missing_share"
#: Share of decisions an input was older than its view's ttl for, by ``input``.
INPUT_STALE_SHARE = "mlplat_model_input_stale_share"
#: AUC of the latest decision month with outcomes.
REALIZED_AUC = "mlplat_model_realized_auc"
#: End of the report's window (Unix seconds).
MONITORING_AS_OF = "mlplat_model_monitoring_as_of_seconds"
