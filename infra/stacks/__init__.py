"""Pulumi projects beside the platform's (root ``Pulumi.yaml``): one directory per project."""
