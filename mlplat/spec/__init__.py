"""The spec language: value types and kinds."""
