"""The base of every domain value: immutable, and strict about unknown fields."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    """A frozen pydantic model that refuses fields it does not know (a typo is a 422, not a silent drop)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
