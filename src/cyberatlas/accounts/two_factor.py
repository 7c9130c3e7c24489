"""The second factor: TOTP devices (RFC 6238) through django-otp.

Coordinators and partners must use one; everyone else is offered one.
"""

from __future__ import annotations

import segno
from django_otp import devices_for_user
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import Role, User

REQUIRED_FOR = (Role.COORDINATOR, Role.PARTNER)


def required(user: User) -> bool:
    return user.roles.filter(role__in=REQUIRED_FOR).exists()


def confirmed_device(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def start_enrolment(user: User) -> TOTPDevice:
    """A fresh, unconfirmed device; it counts once the person proves they hold its secret."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)


def pending_device(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=False).first()


def confirm(device: TOTPDevice, token: str) -> bool:
    if not device.verify_token(token.strip().replace(" ", "")):
        return False
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return True


def verify(user: User, token: str) -> TOTPDevice | None:
    """The confirmed device that accepts ``token``, if any."""
    cleaned = token.strip().replace(" ", "")
    for device in devices_for_user(user, confirmed=True):
        if device.verify_token(cleaned):
            return device
    return None


def enrol_confirmed(user: User) -> TOTPDevice:
    """Give ``user`` a confirmed device at once (demo accounts and the operator's tooling)."""
    return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)


def current_code(device: TOTPDevice) -> str:
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    return f"{code:0{device.digits}d}"


def qr_svg(device: TOTPDevice) -> str:
    """The otpauth:// URL as an inline SVG QR code for authenticator apps."""
    return str(segno.make(device.config_url, error="m").svg_inline(scale=4))
