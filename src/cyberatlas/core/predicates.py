"""The predicate registry: every kind of data point the knowledge base can hold.

A statement says one thing about a subject entity: a *property* with a literal value
(``name``, ``country``, ``victims``…) or a *relationship* to an object entity (``hosted-on``,
``receives-payment-via``…). Each predicate declares how its value is checked and normalized,
which subject and object types it fits, and, for relationships, which capability of a criminal
operation it stands for (the dependency functions that choke-point analysis reasons about).

Plugins and deployments may add predicates with :func:`register`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import pycountry


class InvalidValue(ValueError):
    """A literal value that does not fit its predicate."""


class Capability(enum.StrEnum):
    """What a criminal operation depends on another node for."""

    HOSTING = "hosting"
    DOMAINS = "domains"
    COMMUNICATIONS = "communications"
    PAYMENT = "payment"
    CASH_OUT = "cash-out"
    MULES = "mules"
    TOOLS = "tools"
    PEOPLE = "people"


def _text(value: str, limit: int = 10_000) -> str:
    text = " ".join(value.split())
    if not text:
        raise InvalidValue("must not be empty")
    if len(text) > limit:
        raise InvalidValue(f"is longer than {limit:,} characters")
    return text


def _pattern(value: str) -> str:
    """Detection patterns can be long (feeds OR together thousands of hashes): up to 1 MB."""
    return _text(value, 1_000_000)


def _country(value: str) -> str:
    code = value.strip().upper()
    if pycountry.countries.get(alpha_2=code) is None:
        raise InvalidValue(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return code


def _count(value: str) -> str:
    try:
        number = int(value.strip().replace(",", "").replace("_", ""))
    except ValueError:
        raise InvalidValue(f"{value!r} is not a whole number") from None
    if number < 0:
        raise InvalidValue("must not be negative")
    return str(number)


def _boolean(value: str) -> str:
    lowered = value.strip().lower()
    if lowered in {"true", "yes", "1"}:
        return "true"
    if lowered in {"false", "no", "0"}:
        return "false"
    raise InvalidValue(f"{value!r} is not true or false")


_MONEY = re.compile(r"^\s*([0-9][0-9,_]*(?:\.[0-9]+)?)\s*([A-Za-z]{3})\s*$")


def _money(value: str) -> str:
    """An amount with its ISO 4217 currency: ``1,200,000 USD`` becomes ``1200000 USD``."""
    match = _MONEY.match(value)
    if not match:
        raise InvalidValue(f"{value!r} is not an amount with a currency, such as '250000 EUR'")
    try:
        amount = Decimal(match.group(1).replace(",", "").replace("_", ""))
    except InvalidOperation:
        raise InvalidValue(f"{value!r} is not a number") from None
    currency = match.group(2).upper()
    if pycountry.currencies.get(alpha_3=currency) is None and currency not in _CRYPTO_UNITS:
        raise InvalidValue(f"{currency!r} is not an ISO 4217 currency code")
    return f"{amount.normalize():f} {currency}"


_CRYPTO_UNITS = {"BTC", "ETH", "LTC", "BCH", "XMR", "TRX", "USDT", "USDC"}


def _choice(*choices: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        lowered = value.strip().lower()
        if lowered not in choices:
            raise InvalidValue(f"{value!r} is not one of {', '.join(choices)}")
        return lowered

    check.__doc__ = "one of " + ", ".join(choices)
    return check


PROVIDER_KINDS = (
    "hosting",
    "bulletproof-hosting",
    "registrar",
    "dns",
    "cdn",
    "email",
    "messaging",
    "telephony",
    "vpn",
    "proxy",
    "payment",
    "bank",
    "exchange",
    "otc-desk",
    "mixer",
    "money-mule-network",
    "tool-provider",
    "marketplace",
    "forum",
)
CHAINS = (
    "bitcoin",
    "bitcoin-cash",
    "litecoin",
    "dogecoin",
    "ethereum",
    "bnb-smart-chain",
    "polygon",
    "arbitrum",
    "optimism",
    "base",
    "avalanche",
    "tron",
    "monero",
    "solana",
    "ton",
)
JUDGEMENTS = ("same", "not-same", "unsure")

OBSERVABLE_FUNCTIONS: dict[str, Capability] = {
    "malware": Capability.TOOLS,
    "tool": Capability.TOOLS,
    "domain-name": Capability.DOMAINS,
    "hostname": Capability.DOMAINS,
    "url": Capability.HOSTING,
    "ipv4-addr": Capability.HOSTING,
    "ipv6-addr": Capability.HOSTING,
    "autonomous-system": Capability.HOSTING,
    "infrastructure": Capability.HOSTING,
    "user-account": Capability.COMMUNICATIONS,
    "email-addr": Capability.COMMUNICATIONS,
    "phone-number": Capability.COMMUNICATIONS,
    "cryptocurrency-wallet": Capability.PAYMENT,
    "bank-account": Capability.PAYMENT,
}


@dataclass(frozen=True)
class Predicate:
    """One kind of data point. ``object_types``/``subject_types`` of ``None`` accept any type."""

    name: str
    description: str
    relationship: bool = False
    check: Callable[[str], str] | None = None
    subject_types: frozenset[str] | None = None
    object_types: frozenset[str] | None = None
    capability: Capability | None = None
    stix: bool = False
    value_required: bool = field(default=False)
    functional: bool = False  # one value per contributor: a newer source version revises it

    def normalize_value(self, value: str) -> str:
        """Check and normalize a literal value; a relationship takes one only if it declares it."""
        if self.check is None:
            raise InvalidValue(f"the {self.name!r} relationship takes no literal value")
        return self.check(value)

    def capability_for(self, object_type: str) -> Capability | None:
        """The function a relationship stands for; ``uses`` takes its object type's."""
        if self.capability is not None:
            return self.capability
        if self.name == "uses":
            return OBSERVABLE_FUNCTIONS.get(object_type)
        return None


_REGISTRY: dict[str, Predicate] = {}


def register(predicate: Predicate) -> Predicate:
    if predicate.name in _REGISTRY:
        raise ValueError(f"predicate {predicate.name!r} is already registered")
    _REGISTRY[predicate.name] = predicate
    return predicate


def get(name: str) -> Predicate:
    try:
        return _REGISTRY[name.strip().lower()]
    except KeyError:
        raise KeyError(
            f"unknown predicate {name!r}; run `cyberatlas predicates` for the list"
        ) from None


def all_predicates() -> Iterator[Predicate]:
    return iter(sorted(_REGISTRY.values(), key=lambda p: (p.relationship, p.name)))


_NETWORK = frozenset({"ipv4-addr", "ipv6-addr"})

for _p in (
    Predicate("name", "The name an entity is known by.", check=_text),
    Predicate("alias", "Another name or handle of the entity.", check=_text),
    Predicate("description", "Free text about the entity.", check=_text, functional=True),
    Predicate(
        "country",
        "Country of operation or registration (ISO 3166-1).",
        check=_country,
        functional=True,
    ),
    Predicate(
        "role",
        "The part an actor plays (developer, affiliate, mule herder, launderer…).",
        check=_text,
    ),
    Predicate(
        "provider-kind",
        "The kind of service a provider offers.",
        check=_choice(*PROVIDER_KINDS),
        functional=True,
    ),
    Predicate(
        "bulletproof",
        "Whether a provider ignores abuse reports.",
        check=_boolean,
        functional=True,
    ),
    Predicate("victims", "Number of known victims.", check=_count, functional=True),
    Predicate("losses", "Money lost by victims, with its currency.", check=_money, functional=True),
    Predicate(
        "chain",
        "The chain a wallet is used on; one address may be used on several.",
        check=_choice(*CHAINS),
        subject_types=frozenset({"cryptocurrency-wallet"}),
    ),
    Predicate(
        "status",
        "Whether infrastructure is live.",
        check=_choice("active", "inactive", "disrupted", "seized"),
        functional=True,
    ),
    Predicate(
        "label",
        "A tag or kind from the source (STIX labels and *_types, MISP tags).",
        check=_text,
    ),
    Predicate(
        "observed-in",
        "The entity appears in a named source (a feed, list, bundle or event).",
        check=_text,
    ),
    Predicate(
        "pattern",
        "A detection pattern (STIX patterning, YARA, Sigma…).",
        check=_pattern,
        functional=True,
    ),
    Predicate("external-id", "An identifier in another system (ATT&CK, CVE, MISP…).", check=_text),
    Predicate("sightings", "How many times the entity was sighted.", check=_count, functional=True),
):
    register(_p)

_CUSTOM_RELATIONSHIPS: tuple[tuple[str, str, Capability | None], ...] = (
    ("hosted-on", "Content or infrastructure is hosted on the object.", Capability.HOSTING),
    ("registered-via", "A domain or account is registered through the object.", Capability.DOMAINS),
    (
        "communicates-via",
        "The subject talks to victims or peers through the object.",
        Capability.COMMUNICATIONS,
    ),
    ("receives-payment-via", "The subject is paid into the object.", Capability.PAYMENT),
    ("cashes-out-via", "Funds leave the criminal economy through the object.", Capability.CASH_OUT),
    ("launders-through", "Funds are laundered through the object.", Capability.CASH_OUT),
    ("recruits-mules-via", "Money mules are recruited through the object.", Capability.MULES),
    ("provided-by", "The subject is a service of the object provider.", None),
    ("operated-by", "The subject is run by the object.", None),
    ("member-of", "The subject is part of the object group.", Capability.PEOPLE),
    ("refers-to", "A report, grouping, note or opinion refers to the object.", None),
    ("sighted-at", "The subject was sighted by or at the object (STIX sighting).", None),
    ("detects", "A detection (indicator, signature) detects the object; used by feeds.", None),
)
for _name, _description, _capability in _CUSTOM_RELATIONSHIPS:
    register(Predicate(_name, _description, relationship=True, capability=_capability))

register(
    Predicate(
        "same-as",
        "A judgement that two entities are the same (same, not-same or unsure).",
        relationship=True,
        check=_choice(*JUDGEMENTS),
        value_required=True,
    )
)

# STIX 2.1 relationship types (section 4 of the specification, per object's "Relationships").
_STIX_RELATIONSHIPS = (
    "uses", "targets", "indicates", "mitigates", "derived-from", "duplicate-of", "related-to",
    "attributed-to", "variant-of", "delivers", "drops", "exploits", "hosts", "owns",
    "authored-by", "beacons-to", "exfiltrates-to", "downloads", "communicates-with",
    "consists-of", "controls", "has", "compromises", "originates-from", "investigates",
    "remediates", "located-at", "based-on", "impersonates", "characterizes", "analysis-of",
    "static-analysis-of", "dynamic-analysis-of", "resolves-to", "belongs-to",
)  # fmt: skip
for _name in _STIX_RELATIONSHIPS:
    register(
        Predicate(
            _name,
            f"STIX 2.1 relationship '{_name}'.",
            relationship=True,
            stix=True,
            subject_types=frozenset({"domain-name", "hostname"})
            if _name == "resolves-to"
            else None,
            object_types=_NETWORK | {"domain-name"} if _name == "resolves-to" else None,
        )
    )
