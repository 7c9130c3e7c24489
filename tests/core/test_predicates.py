import pytest

from cyberatlas.core import predicates
from cyberatlas.core.predicates import Capability, InvalidValue


@pytest.mark.parametrize(
    ("name", "raw", "normalized"),
    [
        ("country", " ru ", "RU"),
        ("victims", "1,200", "1200"),
        ("losses", "2,500,000.50 eur", "2500000.5 EUR"),
        ("losses", "12 BTC", "12 BTC"),
        ("bulletproof", "Yes", "true"),
        ("provider-kind", "Bulletproof-Hosting", "bulletproof-hosting"),
        ("chain", "TRON", "tron"),
        ("name", "  Evil   Corp ", "Evil Corp"),
    ],
)
def test_values_are_normalized(name, raw, normalized):
    assert predicates.get(name).normalize_value(raw) == normalized


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("country", "Russia"),
        ("victims", "-3"),
        ("victims", "many"),
        ("losses", "1000"),
        ("losses", "1000 XYZ"),
        ("bulletproof", "maybe"),
        ("provider-kind", "bakery"),
        ("name", "   "),
    ],
)
def test_bad_values_are_refused(name, raw):
    with pytest.raises(InvalidValue):
        predicates.get(name).normalize_value(raw)


def test_relationships_map_to_capabilities():
    assert predicates.get("hosted-on").capability_for("ipv4-addr") is Capability.HOSTING
    assert predicates.get("uses").capability_for("cryptocurrency-wallet") is Capability.PAYMENT
    assert predicates.get("uses").capability_for("malware") is Capability.TOOLS
    assert predicates.get("recruits-mules-via").capability_for("user-account") is Capability.MULES
    assert predicates.get("related-to").capability_for("ipv4-addr") is None


def test_registry_is_extensible_and_refuses_duplicates():
    with pytest.raises(ValueError, match="already registered"):
        predicates.register(predicates.Predicate("name", "again"))
    with pytest.raises(KeyError, match="cyberatlas predicates"):
        predicates.get("nonsense")


def test_the_architecture_predicates_are_all_registered():
    names = {p.name for p in predicates.all_predicates()}
    assert {
        "name",
        "alias",
        "description",
        "country",
        "role",
        "provider-kind",
        "bulletproof",
        "victims",
        "losses",
        "chain",
        "uses",
        "hosted-on",
        "resolves-to",
        "belongs-to",
        "registered-via",
        "communicates-via",
        "receives-payment-via",
        "cashes-out-via",
        "launders-through",
        "recruits-mules-via",
        "provided-by",
        "operated-by",
        "member-of",
        "located-at",
        "attributed-to",
        "same-as",
    } <= names
    for p in predicates.all_predicates():
        assert p.description


def test_patterns_may_be_long_but_other_text_is_capped():
    long_pattern = " OR ".join(f"[file:hashes.'SHA-1' = '{n:040x}']" for n in range(400))
    assert predicates.get("pattern").normalize_value(long_pattern) == long_pattern
    with pytest.raises(InvalidValue, match="10,000"):
        predicates.get("description").normalize_value("x" * 10_001)
