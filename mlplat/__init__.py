"""mlplat: a machine-learning platform defined as code.

The public surface: load specs into a :class:`Catalog` and inspect what went wrong.
"""

from mlplat.catalog import Catalog, SpecValidationError
from mlplat.diagnostics import Diagnostic, Severity
from mlplat.errors import MlplatError, NotFoundError, SpecError, StoreUnavailableError, UsageError
from mlplat.loader import ValidationResult, load_catalog, validate_directory

__all__ = [
    "Catalog",
    "Diagnostic",
    "MlplatError",
    "NotFoundError",
    "Severity",
    "SpecError",
    "SpecValidationError",
    "StoreUnavailableError",
    "UsageError",
    "ValidationResult",
    "load_catalog",
    "validate_directory",
]
