"""Model monitoring from the decision log: the training profile, drift, approval rates,
feature health and realized performance (see docs/monitoring.md)."""
