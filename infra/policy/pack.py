"""The baseline rules as ``pulumi_policy`` policies (served by ``__main__.py``)."""

from __future__ import annotations

from pulumi_policy import Policy, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from infra.policy.baseline import RULES, Context, Rule

PACK_NAME = "mlplat-baseline"


def _validation(rule: Rule):  # type: ignore[no-untyped-def]
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type not in rule.resource_types:
            return
        for message in rule.check(args.props, Context(protect=bool(args.opts.protect))):
            report_violation(f"{args.name}: {message}", args.urn)

    return validate


def policies() -> list[Policy]:
    """One policy per rule; the pack makes them all mandatory."""
    return [
        ResourceValidationPolicy(name=rule.name, description=rule.description, validate=_validation(rule))
        for rule in RULES
    ]
