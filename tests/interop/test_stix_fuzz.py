"""Whatever it is fed, the STIX importer yields records or raises FileError, in bounded time."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cyberatlas.core import predicates
from cyberatlas.core.tlp import Marking
from cyberatlas.interop.records import Claim, FileError, ImportContext, Ref, Rejected
from cyberatlas.interop.stix import StixImporter

BOUNDED = settings(deadline=dt.timedelta(seconds=5))

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)

TYPES = [
    "bundle",
    "malware",
    "indicator",
    "report",
    "relationship",
    "sighting",
    "identity",
    "location",
    "note",
    "opinion",
    "observed-data",
    "malware-analysis",
    "grouping",
    "marking-definition",
    "ipv4-addr",
    "domain-name",
    "file",
    "user-account",
    "autonomous-system",
    "x509-certificate",
    "network-traffic",
    "process",
    "cryptocurrency-wallet",
    "x-opencti-hostname",
    "x-custom",
    "language-content",
]
KEYS = [
    "type",
    "id",
    "name",
    "description",
    "labels",
    "aliases",
    "object_marking_refs",
    "granular_markings",
    "created_by_ref",
    "confidence",
    "modified",
    "first_seen",
    "last_seen",
    "external_references",
    "pattern",
    "pattern_type",
    "object_refs",
    "relationship_type",
    "source_ref",
    "target_ref",
    "sighting_of_ref",
    "where_sighted_refs",
    "count",
    "value",
    "hashes",
    "number",
    "account_type",
    "account_login",
    "dst_ref",
    "dst_port",
    "protocols",
    "resolves_to_refs",
    "definition_type",
    "definition",
    "extensions",
    "roles",
    "country",
    "malware_types",
    "number_observed",
    "opinion",
    "sample_ref",
]


@st.composite
def stix_ids(draw: st.DrawFn) -> str:
    type_ = draw(st.sampled_from(TYPES))
    n = draw(st.integers(min_value=0, max_value=5))
    return draw(
        st.sampled_from(
            [f"{type_}--{n:08x}-0000-4000-8000-000000000000", f"{type_}--oops", "", "--"]
        )
    )


plausible = (
    stix_ids()
    | st.lists(stix_ids(), max_size=3)
    | st.sampled_from(TYPES)
    | st.sampled_from(["2024-01-01T00:00:00Z", "2024-13-99T00:00:00Z", "uses", "tlp", "amber"])
    | st.sampled_from(["[domain-name:value = 'evil.com']", "[file:hashes.MD5 = 'x' OR"])
    | json_values
)


@st.composite
def stix_objects(draw: st.DrawFn) -> dict[str, Any]:
    obj = draw(st.dictionaries(st.sampled_from(KEYS), plausible, max_size=8))
    if draw(st.booleans()):
        obj["type"] = draw(st.sampled_from(TYPES))
        obj["id"] = draw(stix_ids())
    return obj


documents = (
    json_values
    | st.lists(stix_objects(), max_size=6)
    | stix_objects()
    | st.builds(
        lambda objects, extra: {"type": "bundle", "id": "bundle--1", "objects": objects} | extra,
        st.lists(stix_objects() | json_values, max_size=8),
        st.dictionaries(st.sampled_from(["spec_version", "id", "x"]), json_values, max_size=2),
    )
)


def check(data: bytes) -> None:
    try:
        records = list(StixImporter().read(io.BytesIO(data), ImportContext(filename="f")))
    except FileError as exc:
        reason = exc.reason
        assert reason
        return
    for record in records:
        assert isinstance(record, Claim | Rejected)
        assert isinstance(record.location, str)
        if isinstance(record, Rejected):
            assert isinstance(record.reason, str)
            assert record.reason
            continue
        predicate = predicates.get(record.predicate)  # only registered predicates
        assert isinstance(record.subject, Ref)
        assert isinstance(record.subject.type, str)
        assert (record.object is not None) == predicate.relationship
        assert predicate.relationship or isinstance(record.value, str)
        assert record.marking is None or isinstance(record.marking, Marking)
        assert record.confidence is None or 0 <= record.confidence <= 100
        assert all(isinstance(term, str) for term in record.terms)


@BOUNDED
@given(documents)
def test_any_json_value(document: Any) -> None:
    check(json.dumps(document).encode())


@BOUNDED
@given(documents, st.data())
def test_damaged_json(document: Any, data: st.DataObject) -> None:
    raw = json.dumps(document, indent=data.draw(st.sampled_from([None, 1]))).encode()
    cut = data.draw(st.integers(min_value=0, max_value=len(raw)))
    noise = data.draw(st.binary(max_size=3))
    check(raw[:cut] + noise + raw[cut + len(noise) :])


@BOUNDED
@given(st.binary(max_size=300))
def test_any_bytes(data: bytes) -> None:
    check(data)
