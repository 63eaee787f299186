"""Operating the platform: SLOs from the specs, Prometheus rules and alerts, Alertmanager routes, dashboards.

Everything here is a pure function of the catalog. The Pulumi program loads the rules
into Amazon Managed Service for Prometheus; ``mlplat up`` runs the same rules in a local
Prometheus; ``mlplat dashboards`` writes the Grafana dashboards (see ``docs/operations.md``).
"""
