"""Errors the services raise; the CLI, pages and API turn them into messages and statuses."""

from __future__ import annotations


class CyberatlasError(Exception):
    """A request the platform refuses, with a message fit to show to the person who made it."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def __str__(self) -> str:
        message = super().__str__()
        return f"{self.field}: {message}" if self.field else message


class InvalidInput(CyberatlasError):
    """Input that cannot be accepted as given."""


class NotFound(CyberatlasError):
    """Missing, or hidden from this user: both answer alike."""


class Forbidden(CyberatlasError):
    """The user may not perform this act."""


class Ambiguous(CyberatlasError):
    """A name that matches several entities."""
