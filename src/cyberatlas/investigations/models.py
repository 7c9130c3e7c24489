"""Investigations: one per target, and the need-to-know circle of TLP:AMBER."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from cyberatlas.accounts.models import Organization, User


class Investigation(models.Model):
    class State(models.TextChoices):
        OPEN = "open"
        CLOSED = "closed"

    name = models.CharField(max_length=200, unique=True)
    target = models.ForeignKey(
        "knowledge.Entity", on_delete=models.PROTECT, related_name="investigations"
    )
    lead = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="investigations")
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    opened_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    opened_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    investigation = models.ForeignKey(
        Investigation, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    added_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["investigation", "user"], name="unique_membership")
        ]

    def __str__(self) -> str:
        return f"{self.user.username} in {self.investigation.name}"
