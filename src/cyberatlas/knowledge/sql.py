"""A base for SQL conditions the ORM cannot say as fast: raw SQL over compiled columns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import BooleanField, Expression, F


class ColumnCondition(Expression):
    """A boolean condition over some columns; subclasses write ``as_sql`` from the columns'
    compiled names (``self.compiled(compiler)``), so joins and aliases stay the ORM's."""

    output_field = BooleanField()

    def __init__(self, *columns: str) -> None:
        super().__init__()
        self.columns: list[Any] = [F(column) for column in columns]

    def get_source_expressions(self) -> list[Any]:
        return self.columns

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        self.columns = list(exprs)

    def compiled(self, compiler: Any) -> list[str]:
        return [compiler.compile(column)[0] for column in self.columns]
