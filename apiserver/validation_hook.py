"""The shape of an object validator (schema checks live in apiserver/validation.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kube.status import FieldError

# (declared object, field path prefix such as "spec.object") -> every error found
ObjectValidator = Callable[[dict[str, Any], str], list[FieldError]]
