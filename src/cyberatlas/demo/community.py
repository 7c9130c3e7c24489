"""The demo community: organizations and people, admitted by the system through the services.

Every name here is invented, except the two law-enforcement partners, which stand for the kind
of partner the platform serves. Passwords are passphrases meant to be typed during a demo; they
are printed by ``cyberatlas demo`` and listed in :data:`PEOPLE`.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cyberatlas.accounts import services as accounts
from cyberatlas.accounts import two_factor
from cyberatlas.accounts.models import User


@dataclass(frozen=True)
class Org:
    name: str
    kind: str
    sector: str
    country: str
    disclose_name: bool = True
    note: str = ""


@dataclass(frozen=True)
class Person:
    username: str
    org: str
    roles: tuple[str, ...]
    password: str
    expertise: str


SECRETARIAT = "Cyberatlas Secretariat"
BANK = "Aldermoor Bank"
PAYMENTS = "Quillmark Payments"
EXCHANGE = "Tidewell Exchange Security Team"
VENDOR = "Ravenmark Security"
VENDOR_2 = "Kettleby Labs"
RESEARCH = "Brackwater University Fraud Research Group"
ANONYMOUS_BANK = "Corvid Retail Bank"
NGO = "Lantern Scam Victim Support"
INTERPOL = "INTERPOL Cybercrime Directorate"
EUROPOL = "Europol EC3"

ORGANIZATIONS: tuple[Org, ...] = (
    Org(SECRETARIAT, "member", "policy", "BE", note="coordinates the community"),
    Org(BANK, "member", "banking", "NL", note="retail bank, fraud and mule-account team"),
    Org(PAYMENTS, "member", "payments", "IE", note="card acquirer and payment institution"),
    Org(EXCHANGE, "member", "crypto", "MT", note="security team of a crypto exchange"),
    Org(VENDOR, "member", "cybersecurity-vendor", "FI", note="threat intelligence vendor"),
    Org(VENDOR_2, "member", "cybersecurity-vendor", "US", note="network telemetry vendor"),
    Org(RESEARCH, "member", "research", "DE", note="academic group studying fraud economies"),
    Org(ANONYMOUS_BANK, "member", "banking", "SE", disclose_name=False, note="stays anonymous"),
    Org(NGO, "collaborator", "ngo", "GB", note="helps victims of investment and romance scams"),
    Org(INTERPOL, "partner", "law-enforcement", "SG"),
    Org(EUROPOL, "partner", "law-enforcement", "NL"),
)

PEOPLE: tuple[Person, ...] = (
    Person("olivia", SECRETARIAT, ("coordinator",), "harbour-lantern-quiet-orchid",
           "community coordination, vetting"),
    Person("amelie", BANK, ("researcher",), "tulip-ledger-morning-frost",
           "mule-account detection"),
    Person("bastiaan", BANK, ("researcher", "reviewer"), "canal-bicycle-copper-heron",
           "fraud investigations"),
    Person("ciara", PAYMENTS, ("researcher",), "cliff-meadow-silver-kettle",
           "phishing takedowns"),
    Person("declan", PAYMENTS, ("reviewer",), "granite-harp-window-thistle",
           "card fraud analytics"),
    Person("elena", EXCHANGE, ("researcher",), "coral-compass-amber-violin",
           "blockchain tracing"),
    Person("fabio", EXCHANGE, ("reviewer",), "olive-lighthouse-paper-comet",
           "compliance investigations"),
    Person("greta", VENDOR, ("researcher",), "birch-sauna-midnight-falcon",
           "ransomware ecosystems"),
    Person("henrik", VENDOR, ("reviewer",), "frozen-lake-pine-trumpet",
           "malware analysis"),
    Person("ines", VENDOR_2, ("researcher",), "desert-prism-copper-lantern",
           "hosting infrastructure"),
    Person("jamal", VENDOR_2, ("researcher", "reviewer"), "velvet-canyon-rocket-maple",
           "passive DNS and netflow"),
    Person("katrin", RESEARCH, ("researcher",), "river-archive-linden-spark",
           "scam economies"),
    Person("lukas", RESEARCH, ("reviewer",), "orbit-walnut-signal-harbor",
           "measurement studies"),
    Person("maja", ANONYMOUS_BANK, ("researcher",), "aurora-spruce-ferry-candle",
           "payment fraud"),
    Person("nadia", NGO, ("researcher",), "garden-kite-honey-lantern",
           "victim case work"),
    Person("pierre", INTERPOL, ("partner",), "mistral-quay-ember-atlas",
           "cybercrime liaison"),
    Person("quinten", EUROPOL, ("partner",), "dune-harbor-tulip-beacon",
           "EC3 analysis"),
)  # fmt: skip


def email(person: Person) -> str:
    """A mailbox under a reserved domain; an anonymous member's does not name it."""
    (org,) = (o for o in ORGANIZATIONS if o.name == person.org)
    domain = org.name.lower().split()[0] if org.disclose_name else "member"
    return f"{person.username}@{domain}.example"


@dataclass(frozen=True)
class Admitted:
    user: User
    person: Person
    totp_secret: str | None


def admit() -> dict[str, Admitted]:
    """Record and vet every organization and person as the system (no acting coordinator);
    coordinators and partners get a confirmed authenticator."""
    for org in ORGANIZATIONS:
        accounts.add_organization(
            None,
            org.name,
            kind=org.kind,
            sector=org.sector,
            country=org.country,
            disclose_name=org.disclose_name,
        )
        accounts.vet_organization(None, org.name, note=f"demo: {org.note or org.kind}")
    admitted: dict[str, Admitted] = {}
    for person in PEOPLE:
        accounts.add_user(
            None,
            person.username,
            org=person.org,
            roles=person.roles,
            password=person.password,
            email=email(person),
            expertise=person.expertise,
        )
        accounts.vet_user(None, person.username, note="demo account")
        user = accounts.user(person.username)
        secret = None
        if two_factor.required(user):
            device = two_factor.enrol_confirmed(user)
            secret = base64.b32encode(device.bin_key).decode()
        admitted[person.username] = Admitted(user, person, secret)
    return admitted
