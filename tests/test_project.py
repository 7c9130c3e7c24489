"""Project-wide promises: migrations match the models; the admin never shows knowledge data."""

import io

import pytest
from django.contrib import admin
from django.core.management import call_command


@pytest.mark.django_db
def test_every_model_change_has_its_migration():
    out = io.StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)


def test_the_admin_shows_no_knowledge_data():
    registered = {model._meta.app_label for model in admin.site._registry}
    assert "knowledge" not in registered
    assert "investigations" not in registered


def test_the_suite_runs_on_the_configured_database():
    import os

    from django.db import connection

    url = os.environ.get("CYBERATLAS_DATABASE_URL", "sqlite://")
    assert connection.vendor == ("postgresql" if url.startswith("postgres") else "sqlite")
