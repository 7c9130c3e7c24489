"""Entities (nodes), statements (data points) with their versions, grants and the audit log.

An entity row holds its type and identity only; everything a person sees of it comes from the
statements they may read (see ``policy.py``).
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone

from cyberatlas.accounts.models import Organization, User
from cyberatlas.core.ids import ordered_uuid
from cyberatlas.core.tlp import Marking
from cyberatlas.investigations.models import Investigation

MARKING_CHOICES = [(m.value, m.label) for m in Marking]


class Entity(models.Model):
    """A node: an observable (identity = normalized key) or a domain object (identity = id)."""

    id = models.CharField(primary_key=True, max_length=100, help_text="STIX 2.1 identifier")
    type = models.CharField(max_length=50, db_index=True)
    key = models.CharField(
        max_length=2048, blank=True, help_text="Normalized identity of an observable"
    )

    class Meta:
        verbose_name_plural = "entities"
        # No index on ``key`` alone: observables are found by their id (made from the key);
        # search reads keys by ``lower(key)`` prefix (migration 0003).

    def __str__(self) -> str:
        return self.id


class VettingStatus(models.TextChoices):
    UNREVIEWED = "unreviewed"
    COMMUNITY_VETTED = "community-vetted"
    DISPUTED = "disputed"


class StatementFields(models.Model):
    """What a version of a statement says, and under which marking."""

    # NULL, not "", is "no literal": a relationship has none, while "" is never a value.
    value = models.TextField(null=True, blank=True)  # noqa: DJ001
    object = models.ForeignKey(
        Entity, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    marking = models.PositiveSmallIntegerField(choices=MARKING_CHOICES)
    investigation = models.ForeignKey(
        Investigation, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    source = models.TextField(blank=True, help_text="URL or reference of the source")
    evidence = models.TextField(blank=True, help_text="Reference or digest of captured evidence")
    first_seen = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    confidence = models.PositiveSmallIntegerField(null=True, blank=True)
    source_grade = models.CharField(max_length=1, blank=True, help_text="Admiralty A-F")
    information_grade = models.CharField(max_length=1, blank=True, help_text="Admiralty 1-6")
    retracted = models.BooleanField(default=False)

    class Meta:
        abstract = True


_VERSIONED = [f.attname for f in StatementFields._meta.local_fields]  # what a version says


class Statement(StatementFields):
    """One data point; its current version is denormalized here for reading."""

    # Time-ordered: a large import appends to the indexes instead of writing all over them.
    id = models.UUIDField(primary_key=True, default=ordered_uuid, editable=False)
    # The foreign keys below lead the composite indexes in Meta, which serve them.
    subject = models.ForeignKey(
        Entity, on_delete=models.PROTECT, related_name="statements", db_index=False
    )
    predicate = models.CharField(max_length=64)
    object = models.ForeignKey(
        Entity,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="incoming",
        db_index=False,
    )
    investigation = models.ForeignKey(  # stmt_investigation serves it
        Investigation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="statements",
        db_index=False,
    )
    folded = models.CharField(
        max_length=200, blank=True, help_text="Case-folded start of the value, for look-ups"
    )
    # Who said it. Accounts and organizations are deactivated, never deleted, and Django still
    # refuses to delete one that has statements (PROTECT); the database itself does not check
    # these two columns. Its checks cost two look-ups a row, which PostgreSQL runs when a
    # transaction commits: a tenth of a large import. No query selects by author.
    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="statements",
        db_index=False,
        db_constraint=False,
    )
    author = models.ForeignKey(
        User,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="statements",
        db_index=False,
        db_constraint=False,
    )
    vetting = models.CharField(
        max_length=20, choices=VettingStatus.choices, default=VettingStatus.UNREVIEWED
    )
    version = models.PositiveIntegerField(default=1)
    source_modified = models.DateTimeField(
        null=True, blank=True, help_text="The source's own version of what it said (STIX modified)"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # An entity's statements: labels read its first name (subject and predicate, oldest
            # first); an import reads what its organization said about its subjects, the
            # organization read from the index, not from the rows of others.
            models.Index(
                fields=["subject", "predicate", "created_at", "organization"], name="stmt_subject"
            ),
            models.Index(fields=["object", "marking"], name="stmt_object"),
            models.Index(fields=["predicate", "folded"], name="stmt_lookup"),
            models.Index(fields=["organization", "marking"], name="stmt_org"),
            # Keyset pages in the order statements arrived (TAXII, statement lists, exports).
            models.Index(fields=["created_at", "id"], name="stmt_arrival"),
            # An investigation's statements; most statements are in none, and stay out of it.
            models.Index(
                fields=["investigation"],
                condition=models.Q(investigation__isnull=False),
                name="stmt_investigation",
            ),
            # Search's prefix and word indexes differ between PostgreSQL and SQLite: see
            # migration 0003.
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(value__isnull=False) | models.Q(object__isnull=False),
                name="statement_has_value_or_object",
            ),
            models.CheckConstraint(
                condition=~models.Q(marking=Marking.AMBER) | models.Q(investigation__isnull=False),
                name="amber_needs_investigation",
            ),
            models.CheckConstraint(
                condition=models.Q(confidence__isnull=True) | models.Q(confidence__lte=100),
                name="confidence_0_100",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject_id} {self.predicate} {self.object_id or self.value}"

    @property
    def marking_enum(self) -> Marking:
        return Marking(self.marking)


class StatementVersion(StatementFields):
    """The versions of a changed statement, the current one included, as they were written.

    A statement never changed has none: its version 1 is the statement row itself (half the
    rows of a large import). Its first change writes version 1 before the new version.
    """

    class Change(models.TextChoices):
        CREATED = "created"
        REVISED = "revised"
        REMARKED = "re-marked"
        RETRACTED = "retracted"

    statement = models.ForeignKey(  # unique_version serves it
        Statement, on_delete=models.CASCADE, related_name="versions", db_index=False
    )
    number = models.PositiveIntegerField()
    change = models.CharField(max_length=20, choices=Change.choices)
    edited_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    edited_at = models.DateTimeField(default=timezone.now)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["statement", "number"]
        constraints = [
            models.UniqueConstraint(fields=["statement", "number"], name="unique_version")
        ]

    def __str__(self) -> str:
        return f"{self.statement_id} v{self.number}"

    @classmethod
    def of(
        cls, statement: Statement, change: str, editor_id: int | None, at: Any, note: str = ""
    ) -> StatementVersion:
        """The version saying what ``statement`` says now, under its current number (unsaved)."""
        return cls(
            statement=statement,
            number=statement.version,
            change=change,
            edited_by_id=editor_id,
            edited_at=at,
            note=note,
            **{name: getattr(statement, name) for name in _VERSIONED},
        )


class Grant(models.Model):
    """A named user's right to read one AMBER or RED statement."""

    class Reason(models.TextChoices):
        RECIPIENT = "recipient"
        RELEASE = "release"

    statement = models.ForeignKey(  # unique_grant serves it
        Statement, on_delete=models.CASCADE, related_name="grants", db_index=False
    )
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="grants")
    reason = models.CharField(max_length=20, choices=Reason.choices, default=Reason.RECIPIENT)
    granted_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    granted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["statement", "user", "reason"], name="unique_grant")
        ]
        indexes = [models.Index(fields=["user", "statement"], name="grant_user")]

    def __str__(self) -> str:
        return f"{self.user_id} may read {self.statement_id}"


class AppendOnlyError(Exception):
    """The audit log keeps every row."""


class AppendOnlyQuerySet(models.QuerySet["AuditEvent"]):
    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("the audit log is append-only")

    def update(self, **kwargs: object) -> int:
        raise AppendOnlyError("the audit log is append-only")


class AuditEvent(models.Model):
    """One row per request that read AMBER+STRICT or RED data, per export and per release.

    Append-only: the model refuses changes, and database triggers (see migration 0002) refuse
    updates (and, on PostgreSQL, deletes) that bypass it.
    """

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    actor_name = models.CharField(max_length=150)
    action = models.CharField(max_length=50)
    markings = models.CharField(max_length=50, help_text="Strict markings read, e.g. 'red'")
    count = models.PositiveIntegerField(default=0)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("the audit log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("the audit log is append-only")
