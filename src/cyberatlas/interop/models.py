"""Records of imports (who brought which file, with what result) and match proposals."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from cyberatlas.accounts.models import Organization, User


class ImportRun(models.Model):
    """One import: the file's SHA-256 is the evidence of every statement it made."""

    actor = models.ForeignKey(User, on_delete=models.PROTECT, related_name="imports")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    filename = models.CharField(max_length=500)
    sha256 = models.CharField(max_length=64, db_index=True)
    format = models.CharField(max_length=20)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    created = models.PositiveIntegerField(default=0)
    merged = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    rejections = models.JSONField(default=list, help_text="The first rejections: location, reason")

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.format} import of {self.filename} by {self.actor_id}"


class MatchProposal(models.Model):
    """Two entities that may be the same, for the researcher who imported the evidence.

    Proposals are computed over what that researcher may read and shown to them only; a
    judgement becomes a ``same-as`` statement under the policy, which can be retracted.
    """

    class State(models.TextChoices):
        OPEN = "open"
        JUDGED = "judged"
        DISMISSED = "dismissed"

    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="match_proposals")
    left = models.ForeignKey("knowledge.Entity", on_delete=models.CASCADE, related_name="+")
    right = models.ForeignKey("knowledge.Entity", on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=500)
    basis_marking = models.PositiveSmallIntegerField(
        help_text="The strictest marking of the statements the proposal rests on"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    judgement = models.ForeignKey(
        "knowledge.Statement", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "left", "right"], name="unique_proposal")
        ]

    def __str__(self) -> str:
        return f"{self.left_id} ~ {self.right_id} ({self.reason})"


class TaxiiStatus(models.Model):
    """The status resource of a TAXII add-objects request, kept for its requester."""

    id = models.UUIDField(primary_key=True)
    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    requested_at = models.DateTimeField()
    resource = models.JSONField()

    def __str__(self) -> str:
        return f"TAXII status {self.pk}"
