import pytest
from hypothesis import given
from hypothesis import strategies as st

from cyberatlas.core.observables import InvalidObservable
from cyberatlas.core.references import BadReference, neutral_label, parse_reference


def test_stix_ids_are_canonical():
    ref = parse_reference("threat-actor--8E2E2D2B-17D4-4CBF-938F-98EE46B3CD3F")
    assert (ref.kind, ref.stix_id) == ("id", "threat-actor--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f")


def test_observables_are_normalized_into_their_deterministic_id():
    a = parse_reference("domain-name:Evil[.]COM")
    b = parse_reference("domain-name:evil.com.")
    assert a.kind == "observable"
    assert a.value == "evil.com"
    assert a.stix_id == b.stix_id


def test_names_fold_whitespace():
    ref = parse_reference("threat-actor:  Evil   Corp ")
    assert (ref.kind, ref.type, ref.value, ref.stix_id) == (
        "name",
        "threat-actor",
        "Evil Corp",
        None,
    )


@pytest.mark.parametrize(
    "text",
    ["evil.com", "planet:Mars", "threat-actor:", "spaceship--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"],
)
def test_unknown_forms_are_refused(text):
    with pytest.raises(BadReference):
        parse_reference(text)


def test_neutral_label_hides_the_name():
    assert (
        neutral_label("threat-actor--3f2a9c1e-0000-4000-8000-000000000000") == "threat-actor 3f2a…"
    )


@given(st.text(max_size=80))
def test_any_text_parses_or_is_refused_clearly(text):
    try:
        parse_reference(text)
    except (BadReference, InvalidObservable) as exc:
        message = str(exc)
    else:
        return
    assert message
