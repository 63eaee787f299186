"""Kubernetes objects of the bundled services, rendered from the catalog as plain data."""
