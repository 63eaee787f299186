"""Offline platform: point-in-time training sets, materialization into the online store."""
