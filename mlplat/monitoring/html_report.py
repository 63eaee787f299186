"""The monitoring report as one static HTML page with inline SVG charts (no scripts, no network).

Charts: PSI per input against the watch and act lines, each input's and score's
distribution (reference, previous and current window side by side per bin), approval
rate per day and version, and bad rate by score band per decision month.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from mlplat.monitoring.drift import Distribution
from mlplat.monitoring.monitor import MonitoringReport
from mlplat.monitoring.stability import Level

COLOURS = {"reference": "#9aa5b1", "previous": "#f0b429", "current": "#2680c2"}
SERIES = ("#2680c2", "#d64545", "#3ebd93", "#f0b429", "#7b61ff", "#8d6e63")
LEVEL_COLOURS = {Level.OK: "#3ebd93", Level.WATCH: "#f0b429", Level.ACT: "#d64545", Level.NONE: "#9aa5b1"}
STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1f2933;max-width:1100px}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border-bottom:1px solid #e4e7eb;padding:.25rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}.ok{color:#199473}.watch{color:#b44d12}.act{color:#ba2525;font-weight:bold}
.grid{display:flex;flex-wrap:wrap;gap:1rem}figure{margin:0}figcaption{font-size:.8rem}
"""


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _svg(width: int, height: int, body: Sequence[str], label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(label)}" font-size="10">' + "".join(body) + "</svg>"
    )


def psi_chart(distributions: Sequence[Distribution], watch: float, act: float) -> str:
    """Horizontal bars: PSI against the reference per input, with the watch and act lines."""
    row, left, width = 16, 230, 360
    top = max([d.psi_reference or 0.0 for d in distributions] + [act * 1.2])
    height = row * len(distributions) + 24
    body = []
    for i, d in enumerate(distributions):
        y = 4 + i * row
        length = (d.psi_reference or 0.0) / top * width
        body.append(f'<text x="{left - 4}" y="{y + 11}" text-anchor="end">{escape(d.name)}</text>')
        body.append(
            f'<rect x="{left}" y="{y + 2}" width="{length:.1f}" height="{row - 4}" fill="{LEVEL_COLOURS[d.level]}"/>'
        )
        body.append(f'<text x="{left + length + 3:.1f}" y="{y + 11}">{_fmt(d.psi_reference)}</text>')
    for value, name in ((watch, "watch"), (act, "act")):
        x = left + value / top * width
        body.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{height - 14}" stroke="#52606d" stroke-dasharray="3"/>'
        )
        body.append(f'<text x="{x:.1f}" y="{height - 3}" text-anchor="middle">{name} {value}</text>')
    return _svg(left + width + 60, height, body, "PSI per input")


def _bin_names(edges: Sequence[float]) -> list[str]:
    if not edges:
        return ["all", "missing"]
    return [f"≤{edges[0]:.3g}", *[f"≤{e:.3g}" for e in edges[1:]], f">{edges[-1]:.3g}", "missing"]


def distribution_chart(d: Distribution) -> str:
    """Grouped bars per bin: reference, previous, current shares."""
    groups = [("reference", d.reference), ("previous", d.previous), ("current", d.current)]
    present = [(name, values) for name, values in groups if values is not None]
    bins = len(d.reference)
    width, height, base = 330, 150, 120
    slot = (width - 20) / bins
    bar = slot / (len(present) + 1)
    top = max(max(values) for _, values in present) or 1.0
    body = [f'<line x1="10" x2="{width - 10}" y1="{base}" y2="{base}" stroke="#cbd2d9"/>']
    for b in range(bins):
        for k, (name, values) in enumerate(present):
            h = values[b] / top * (base - 10)
            x = 10 + b * slot + k * bar
            body.append(
                f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{COLOURS[name]}">'
                f"<title>{escape(name)} {values[b]:.3f}</title></rect>"
            )
    names = _bin_names(d.edges)
    for b in (0, bins - 2, bins - 1):
        body.append(f'<text x="{10 + b * slot:.1f}" y="{base + 12}">{escape(names[b])}</text>')
    legend = " · ".join(name for name, _ in present)
    body.append(f'<text x="10" y="{height - 5}">{escape(legend)}</text>')
    return _svg(width, height, body, f"distribution of {d.name}")


def line_chart(series: dict[str, list[tuple[str, float]]], label: str, y_label: str) -> str:
    """One line per series over shared x labels (days or bands), y from 0 to the largest value."""
    xs = sorted({x for points in series.values() for x, _ in points})
    if not xs:
        return "<p>no data</p>"
    width, height, left, base = 700, 220, 40, 180
    top = max(y for points in series.values() for _, y in points) or 1.0
    step = (width - left - 20) / max(len(xs) - 1, 1)
    position = {x: left + i * step for i, x in enumerate(xs)}
    body = [
        f'<line x1="{left}" x2="{width - 10}" y1="{base}" y2="{base}" stroke="#cbd2d9"/>',
        f'<text x="{left - 4}" y="{base}" text-anchor="end">0</text>',
        f'<text x="{left - 4}" y="14" text-anchor="end">{top:.2f}</text>',
        f'<text x="{left}" y="{height - 4}">{escape(y_label)}</text>',
    ]
    for i, (name, points) in enumerate(sorted(series.items())):
        colour = SERIES[i % len(SERIES)]
        path = " ".join(f"{position[x]:.1f},{base - y / top * (base - 14):.1f}" for x, y in points)
        body.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        body.append(f'<text x="{width - 150}" y="{14 + i * 12}" fill="{colour}">{escape(name)}</text>')
    for x in (xs[0], xs[len(xs) // 2], xs[-1]):
        body.append(f'<text x="{position[x]:.1f}" y="{base + 12}" text-anchor="middle">{escape(x)}</text>')
    return _svg(width, height, body, label)


def _level(level: Level) -> str:
    return f'<span class="{"ok" if level is Level.OK else level.value.replace("/", "")}">{level.value}</span>'


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """An HTML table: ``headers``, then one row per item of ``rows`` (cells already HTML)."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _distribution_rows(distributions: Sequence[Distribution]) -> str:
    return _table(
        ["input", "values", "PSI vs reference", "PSI vs previous", "level"],
        (
            (escape(d.name), f"{d.count:,}", _fmt(d.psi_reference), _fmt(d.psi_previous), _level(d.level))
            for d in distributions
        ),
    )


def _health_rows(report: MonitoringReport) -> str:
    return _table(
        ["input", "missing", "stale", "default used", "missing in training"],
        (
            (
                escape(h.ref),
                _pct(h.missing_share),
                _pct(h.stale_share),
                _pct(h.default_share),
                _pct(h.reference_missing_share),
            )
            for h in report.health
        ),
    )


def _rate_rows(report: MonitoringReport) -> str:
    return _table(
        ["version", "role", "decisions", "approval rate", "previous", "shift", "level"],
        (
            (
                escape(r.version),
                escape(r.role),
                f"{r.decisions:,}",
                _pct(r.approval_rate),
                _pct(r.previous_approval_rate),
                _fmt(r.shift),
                _level(r.level),
            )
            for r in report.rates
        ),
    )


def _volume_rows(report: MonitoringReport) -> str:
    return _table(
        ["window", "requests", "decisions", "refusal rate", "error rate"],
        (
            (v.period, f"{v.requests:,}", f"{v.decisions:,}", _pct(v.refusal_rate), _pct(v.error_rate))
            for v in report.volumes
        ),
    )


def _performance(report: MonitoringReport) -> str:
    performance = report.performance
    if performance is None:
        return "<p>The model has no label source (spec.training): no realized performance.</p>"
    if not performance.months:
        return f"<p>{escape(performance.note or 'no outcomes')}</p>"
    series = {
        m.month: [(f"{i:02d} {b.label}", b.bad_rate) for i, b in enumerate(m.bands) if b.bad_rate is not None]
        for m in performance.months
        if m.bands
    }
    table = _table(
        ["decision month", "matured", "with outcome", "bad rate", "AUC", "KS"],
        (
            (m.month, f"{m.matured:,}", f"{m.with_outcome:,}", _pct(m.bad_rate), _fmt(m.auc), _fmt(m.ks))
            for m in performance.months
        ),
    )
    return table + line_chart(series, "bad rate by score band", "bad rate by score band (reference deciles)")


def render_html(report: MonitoringReport) -> str:
    """The report page."""
    psi = report.monitoring.psi
    daily: dict[str, list[tuple[str, float]]] = {}
    for entry in report.daily:
        daily.setdefault(f"{entry.version} {entry.role}", []).append((entry.day.isoformat(), entry.approval_rate))
    charts = "".join(
        f"<figure>{distribution_chart(d)}<figcaption>{escape(d.name)} · PSI {_fmt(d.psi_reference)} "
        f"{_level(d.level)}</figcaption></figure>"
        for d in (*report.scores, *report.inputs)
    )
    notes = "".join(f"<li>{escape(n)}</li>" for n in report.notes)
    drifted = ", ".join(report.drifted()) or "none"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(report.model)} monitoring</title>
<style>{STYLE}</style></head><body>
<h1>{escape(report.model)}: monitoring report</h1>
<p>Window {report.window_start.isoformat()} to {report.as_of.isoformat()} (previous window from
{report.previous_start.isoformat()}). Reference: {escape(report.reference.version)} training profile
(sha256 <code>{report.reference.sha256[:12]}</code>, {report.reference.rows:,} events).
Overall: {_level(report.level)}. Drifted (watch or act): {escape(drifted)}.</p>
<ul>{notes}</ul>
<h2>Volumes</h2>{_volume_rows(report)}
<h2>Approval rate by version</h2>{_rate_rows(report)}
{line_chart(daily, "approval rate per day", "approval rate per day")}
<h2>Stability (PSI)</h2>{psi_chart(report.inputs, psi.watch, psi.act)}
{_distribution_rows((*report.scores, *report.inputs))}
<h2>Distributions</h2><div class="grid">{charts}</div>
<h2>Feature health</h2>{_health_rows(report)}
<h2>Realized performance</h2>{_performance(report)}
</body></html>
"""
