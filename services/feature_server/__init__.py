"""The feature server: Feast-compatible online feature reads and pushes over HTTP."""

from services.feature_server.app import create_app
from services.feature_server.settings import Settings

__all__ = ["Settings", "create_app"]
