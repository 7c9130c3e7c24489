"""The HTTP API: bearer tokens, the same services as pages and CLI, the same policy."""

import pytest
from django.test import Client

from cyberatlas.accounts import services as accounts
from cyberatlas.core.tlp import Marking
from tests.factories import org, person, say

pytestmark = pytest.mark.django_db


class Api:
    def __init__(self, token: str | None) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path: str, **params):
        return self.client.get(f"/api/v1{path}", params, headers=self.headers)

    def post(self, path: str, body: dict):
        return self.client.post(
            f"/api/v1{path}", body, content_type="application/json", headers=self.headers
        )


@pytest.fixture
def world():
    bank, vendor = org("Bank"), org("Vendor", sector="cybersecurity-vendor")
    alice, carol = person("alice", bank), person("carol", vendor)
    cora = person("cora", org("Secretariat", sector="policy"), roles=("coordinator",))
    return {
        "alice": Api(accounts.create_token(None, "alice")),
        "carol": Api(accounts.create_token(None, "carol")),
        "cora": Api(accounts.create_token(None, "cora")),
        "users": (alice, carol, cora),
        "bank": bank,
    }


def test_openapi_is_published():
    spec = Client().get("/api/v1/openapi.json").json()
    assert "/api/v1/entities" in spec["paths"]
    assert "/api/v1/statements" in spec["paths"]


def test_a_token_is_required(world):
    assert Api(None).get("/entities").status_code == 401
    assert Api("cya_forged").get("/entities").status_code == 401


def test_add_then_read_through_the_policy(world):
    created = world["alice"].post(
        "/statements",
        {
            "subject": "threat-actor:Wire Gang",
            "predicate": "receives-payment-via",
            "value": "cryptocurrency-wallet:0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
            "tlp": "amber+strict",
            "source": "https://example.org/r",
            "confidence": 70,
        },
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["object_label"] == "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    assert body["marking"] == "amber+strict"
    actor = body["subject_id"]
    assert world["alice"].get(f"/entities/{actor}").json()["label"] == "Wire Gang"
    hidden = world["carol"].get(f"/entities/{actor}")
    missing = world["carol"].get("/entities/threat-actor--00000000-0000-4000-8000-000000000000")
    assert hidden.status_code == missing.status_code == 404
    assert world["carol"].get("/entities", q="wire").json()["items"] == []
    assert [h["label"] for h in world["alice"].get("/entities", q="wire").json()["items"]] == [
        "Wire Gang"
    ]


def test_cursor_pagination_walks_every_readable_statement(world):
    alice, _carol, _ = world["users"]
    for n in range(7):
        say(
            alice,
            "domain-name:evil.example.com",
            "alias",
            f"a{n}",
            Marking.AMBER_STRICT if n == 3 else Marking.GREEN,
        )
    seen, cursor = [], None
    while True:
        params = {"entity": "domain-name:evil.example.com", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = world["carol"].get("/statements", **params).json()
        seen += [s["value"] for s in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == ["a0", "a1", "a2", "a4", "a5", "a6"]


def test_bad_input_gets_the_field_and_a_400(world):
    response = world["alice"].post(
        "/statements",
        {
            "subject": "domain-name:evil.example.com",
            "predicate": "status",
            "value": "active",
            "tlp": "amber",
        },
    )
    assert response.status_code == 400
    assert response.json()["field"] == "tlp"
    assert world["alice"].post("/statements", {"subject": "x"}).status_code == 422


def test_revise_remark_retract_and_history(world):
    alice, _, _ = world["users"]
    added = say(alice, "domain-name:evil.example.com", "status", "active")
    api = world["alice"]
    assert api.post(f"/statements/{added.pk}/revise", {"value": "inactive"}).json()["version"] == 2
    assert (
        api.post(f"/statements/{added.pk}/remark", {"tlp": "red", "recipients": ["carol"]}).json()[
            "marking"
        ]
        == "red"
    )
    assert world["carol"].get(f"/statements/{added.pk}/history").json()[-1]["marking"] == "red"
    assert world["carol"].post(f"/statements/{added.pk}/retract", {}).status_code == 403
    assert api.post(f"/statements/{added.pk}/retract", {"note": "gone"}).status_code == 204
    assert [v["change"] for v in api.get(f"/statements/{added.pk}/history").json()] == [
        "created",
        "revised",
        "re-marked",
        "retracted",
    ]


def test_coordinator_operations(world):
    cora = world["cora"]
    created = cora.post(
        "/organizations",
        {"name": "Acme Pay", "kind": "member", "sector": "payments", "country": "FR"},
    )
    assert created.status_code == 201
    assert (
        cora.post(
            "/users",
            {
                "username": "pia",
                "organization": "Acme Pay",
                "roles": ["researcher"],
                "password": "a long enough passphrase",
            },
        ).status_code
        == 201
    )
    waiting = cora.get("/applications").json()
    assert [o["name"] for o in waiting["organizations"]] == ["Acme Pay"]
    assert [u["username"] for u in waiting["users"]] == ["pia"]
    assert cora.post("/organizations/Acme Pay/vet", {"note": "ok"}).json()["outcome"] == "vetted"
    assert cora.post("/users/pia/vet", {}).json()["decided_by"] == "cora"
    assert world["alice"].post("/users/pia/suspend", {}).status_code == 403
    assert world["alice"].get("/audit").status_code == 403
    assert cora.get("/audit").status_code == 200


def test_investigations_over_http(world):
    alice, _, _ = world["users"]
    say(alice, "threat-actor:Wire Gang", "country", "RU")
    opened = world["cora"].post(
        "/investigations",
        {
            "name": "Op Wire",
            "target": "threat-actor:Wire Gang",
            "lead": "Bank",
            "members": ["alice"],
        },
    )
    assert opened.status_code == 201
    assert opened.json()["target_label"] == "Wire Gang"
    assert [i["name"] for i in world["alice"].get("/investigations").json()] == ["Op Wire"]
    assert world["carol"].get("/investigations/Op Wire").status_code == 404
