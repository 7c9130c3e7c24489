import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Argon2 stays the production hasher (tests/accounts check it); elsewhere hash fast."""
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]


def pytest_report_header(config: pytest.Config) -> str:
    from django.conf import settings as django_settings

    return f"database: {django_settings.DATABASES['default']['ENGINE']}"


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup):
    """The test databases, whose reading threads' connections close before they are dropped."""
    yield
    from cyberatlas.interop import alongside

    alongside.close_all()
