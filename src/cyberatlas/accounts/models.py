"""Organizations, people, their roles, vetting decisions and API tokens."""

from __future__ import annotations

import hashlib
import secrets

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone


class OrgKind(models.TextChoices):
    MEMBER = "member"
    PARTNER = "partner"
    COLLABORATOR = "collaborator"


class Sector(models.TextChoices):
    BANKING = "banking"
    PAYMENTS = "payments"
    CRYPTO = "crypto"
    CYBERSECURITY_VENDOR = "cybersecurity-vendor"
    NGO = "ngo"
    RESEARCH = "research"
    LAW_ENFORCEMENT = "law-enforcement"
    POLICY = "policy"


class Status(models.TextChoices):
    APPLIED = "applied"
    VETTED = "vetted"
    SUSPENDED = "suspended"


class Role(models.TextChoices):
    RESEARCHER = "researcher"
    REVIEWER = "reviewer"
    COORDINATOR = "coordinator"
    PARTNER = "partner"


class Organization(models.Model):
    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=20, choices=OrgKind.choices)
    sector = models.CharField(max_length=30, choices=Sector.choices)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.APPLIED)
    disclose_name = models.BooleanField(
        default=True,
        help_text="Whether other organizations see this name, or only the sector.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def shown_to(self, viewer_org_id: int | None) -> str:
        """The name, or only the sector for an organization that stays anonymous to others."""
        if self.disclose_name or viewer_org_id == self.pk:
            return self.name
        return f"a {self.get_sector_display()} organization"


class User(AbstractUser):
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, null=True, related_name="users"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.APPLIED)
    expertise = models.TextField(blank=True)
    sponsor = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="sponsored_users",
    )

    def role_names(self) -> set[str]:
        return set(self.roles.values_list("role", flat=True))

    def has_role(self, role: Role) -> bool:
        return self.roles.filter(role=role).exists()

    @property
    def may_read(self) -> bool:
        """Pending or suspended accounts and organizations read nothing."""
        org = self.organization
        return bool(
            self.is_active
            and self.status == Status.VETTED
            and org is not None
            and org.status == Status.VETTED
        )


class UserRole(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="roles")
    role = models.CharField(max_length=20, choices=Role.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "role"], name="unique_user_role")]

    def __str__(self) -> str:
        return f"{self.user.username}: {self.role}"


class Decision(models.Model):
    """A coordinator's recorded decision about an organization's or a person's admission."""

    class Outcome(models.TextChoices):
        VETTED = "vetted"
        SUSPENDED = "suspended"

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, null=True, related_name="decisions"
    )
    user = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="decisions")
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    decided_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, related_name="decisions_made"
    )
    decided_at = models.DateTimeField(default=timezone.now)
    expertise = models.TextField(blank=True)
    sponsor = models.ForeignKey(
        Organization, on_delete=models.PROTECT, null=True, related_name="sponsored_decisions"
    )
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-decided_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(organization__isnull=False) ^ models.Q(user__isnull=False),
                name="decision_about_org_xor_user",
            )
        ]

    def __str__(self) -> str:
        return f"{self.outcome} {self.organization or self.user} by {self.decided_by or 'system'}"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token; only its SHA-256 is stored (tokens carry 256 bits of randomness)."""

    PREFIX = "cya_"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"token {self.pk} of {self.user.username}"

    @classmethod
    def issue(cls, user: User, name: str = "") -> tuple[ApiToken, str]:
        secret = cls.PREFIX + secrets.token_urlsafe(32)
        return cls.objects.create(user=user, name=name, digest=_digest(secret)), secret

    @classmethod
    def lookup(cls, secret: str) -> ApiToken | None:
        return (
            cls.objects.select_related("user", "user__organization")
            .filter(digest=_digest(secret), revoked_at__isnull=True)
            .first()
        )
