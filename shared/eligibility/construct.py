"""Build already-valid pydantic models without re-validation, faster than ``model_construct``.

The engine creates dozens of result models per evaluation from values it has just computed
from validated facts; validating them again would dominate evaluation time. Every field must
be supplied (no defaults are filled in), which the callers in this package do.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)
_set_attr = object.__setattr__


def construct(cls: type[M], values: dict[str, Any]) -> M:
    instance = cls.__new__(cls)
    _set_attr(instance, "__dict__", values)
    _set_attr(instance, "__pydantic_fields_set__", set(values))
    _set_attr(instance, "__pydantic_extra__", None)
    _set_attr(instance, "__pydantic_private__", None)
    return instance
