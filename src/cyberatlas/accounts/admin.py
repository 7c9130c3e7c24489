"""The Django admin shows accounts only: never knowledge data (statements, entities)."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import Decision, Organization, User


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin[Organization]):
    list_display = ("name", "kind", "sector", "country", "status")
    list_filter = ("kind", "sector", "status")


@admin.register(User)
class CyberatlasUserAdmin(UserAdmin[User]):
    list_display = ("username", "organization", "status", "is_active")
    fieldsets = (
        *(UserAdmin.fieldsets or ()),
        ("Community", {"fields": ("organization", "status", "expertise", "sponsor")}),
    )


@admin.register(Decision)
class DecisionAdmin(admin.ModelAdmin[Decision]):
    list_display = ("outcome", "organization", "user", "decided_by", "decided_at")

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False
