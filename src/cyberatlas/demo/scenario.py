"""The statements of the demo, operation by operation.

Markings follow what each data point is: published facts at TLP:CLEAR, indicators shared with
the community at TLP:GREEN, assessments at TLP:AMBER inside the investigation they belong to,
one bank's findings about its own customers' accounts at TLP:AMBER+STRICT, and the identity
behind a persona at TLP:RED for three named people.
"""

from __future__ import annotations

import dataclasses
import random

from cyberatlas.knowledge import services

from .cast import BRITTLE_WING, LOTUS_ROOT, RED_READERS, STONE_QUARRY
from .fabricate import Fabricator
from .scribe import ANCHOR, Fact, Scribe

F = Fact
BW, LR, SQ = BRITTLE_WING, LOTUS_ROOT, STONE_QUARRY
STRICT = "amber+strict"

# Where the hosters' address space is: documentation ranges (RFC 5737) and AS numbers (RFC 5398).
NETWORKS = {
    "@stoneport": (("203.0.113.0/24", "AS64501"), ("192.0.2.0/24", "AS64511")),
    "@meadowlark": (("198.51.100.0/24", "AS64502"),),
}
DNS_WATCHERS = ("jamal", "jamal", "ines", "henrik", "katrin")
REGISTRY_WATCHERS = ("jamal", "ines", "katrin", "lukas")

# Words for invented domain names: (first, second, top-level domains).
Words = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]
C2_WORDS: Words = (
    ("cdn", "update", "sync", "telemetry", "static", "files"),
    ("edge", "node", "relay", "cache", "mirror"),
    ("net", "xyz", "top", "info", "cc"),
)
PARCEL_WORDS: Words = (
    ("parcel", "redelivery", "track", "post", "courier", "dispatch"),
    ("redeliver", "fee", "hold", "update", "notice", "schedule"),
    ("com", "top", "info", "online", "xyz", "shop"),
)
TOLL_WORDS: Words = (
    ("toll", "ezroad", "motorway", "roadfee", "vignette"),
    ("notice", "unpaid", "settle", "balance", "penalty"),
    ("com", "top", "info", "xyz"),
)
QUILLMARK_WORDS: Words = (
    ("quillmark",),
    ("secure", "verify", "checkout", "refund"),
    ("com", "support"),
)
LOTUS_WORDS: Words = (
    ("jade", "lotus", "orient", "golden", "summit", "crest", "harbor"),
    ("fx", "trade", "capital", "markets", "coinpro", "invest"),
    ("com", "net", "vip", "io", "pro"),
)

HOSTING: tuple[Fact, ...] = (
    F("ines", "@stoneport", "bulletproof", "true"),
    F("ines", "@stoneport", "description",
      "Offshore hosting advertising 'abuse reports ignored' on Cinderhall; paid in bitcoin.",
      "clear"),
    F("greta", "@stoneport", "alias", "StonePort BPH"),
    F("greta", "@stoneport", "communicates-via", "@cinderhall"),
    F("ines", "@stoneport", "communicates-via", "user-account:telegram:stoneport_support"),
    F("ines", "@stoneport", "communicates-via", "email-addr:sales@stoneport.host"),
    F("jamal", "autonomous-system:AS64501", "operated-by", "@stoneport"),
    F("greta", "autonomous-system:AS64501", "operated-by", "@stoneport"),
    F("jamal", "autonomous-system:AS64511", "operated-by", "@stoneport"),
    F("jamal", "ipv4-addr:203.0.113.0/24", "belongs-to", "autonomous-system:AS64501"),
    F("jamal", "ipv4-addr:192.0.2.0/24", "belongs-to", "autonomous-system:AS64511"),
    F("ines", "autonomous-system:AS64502", "operated-by", "@meadowlark"),
    F("jamal", "ipv4-addr:198.51.100.0/24", "belongs-to", "autonomous-system:AS64502"),
    F("ines", "@meadowlark", "description",
      "Budget VPS provider; answers abuse reports within days, often after re-registration."),
    F("ines", "@meadowlark", "country", "CY"),
    F("jamal", "@nameforge", "country", "BZ"),
    F("jamal", "@nameforge", "description",
      "Registrar accepting cryptocurrency and no identity checks; slow on abuse."),
    F("ciara", "@bluefinch", "country", "CA"),
    F("katrin", "@stone_harbour", "country", "SC"),
    F("katrin", "@stone_harbour", "same-as", "@stoneport", judgement="unsure"),
    F("jamal", "@stone_harbour", "same-as", "@stoneport", judgement="same"),
    F("greta", "@cinderhall", "description",
      "Invitation-only cybercrime forum with an escrow service and a hosting section."),
    F("elena", "@fogbank", "description", "Custodial bitcoin mixer taking a 3% fee.", "clear"),
    F("elena", "@kestrelex", "description",
      "Offshore exchange without customer due diligence below 10,000 USD a day."),
    F("elena", "@kestrelex", "country", "SC"),
    F("elena", "@greyharbor", "communicates-via", "user-account:telegram:greyharbor_otc"),
    # Inside Operation Stone Quarry.
    F("ines", "@stoneport", "operated-by", "@stnprt", "amber", SQ),
    F("ines", "@stnprt", "communicates-via", "user-account:jabber:stnprt@xmpp.example",
      "amber", SQ),
    F("lukas", "@stoneport", "description",
      "Serves Glasswing command servers, Paperkite phishing pages and Jade Lotus trading "
      "platforms; about 1,900 live domains in May 2025.", "amber", SQ),
    F("jamal", "autonomous-system:AS64511", "description",
      "Announced since January 2025, after one upstream dropped AS64501.", "amber", SQ),
)  # fmt: skip

GLASSWING: tuple[Fact, ...] = (
    F("greta", "@glasswing", "alias", "GLASSWING TEAM", "clear"),
    F("greta", "@glasswing", "uses", "@glasswing_locker", "clear"),
    F("henrik", "@glasswing", "uses", "@patchwork"),
    F("henrik", "@patchwork", "provided-by", "@kr0nos"),
    F("greta", "@glasswing", "communicates-via", "@cinderhall"),
    F("greta", "@kr0nos", "communicates-via", "@cinderhall"),
    F("greta", "@kr0nos", "communicates-via", "user-account:telegram:kr0nos_sells"),
    F("greta", "@nightjar", "member-of", "@glasswing"),
    F("ines", "@quietstorm", "member-of", "@glasswing"),
    F("greta", "@nightjar", "same-as", "@kr0nos", judgement="not-same"),
    F("jamal", "@ash_moth", "same-as", "@glasswing", judgement="same"),
    F("jamal", "@ash_moth", "uses", "@glasswing_locker"),
    F("henrik", "@glasswing_locker", "alias", "GWLocker"),
    # Inside Operation Brittle Wing.
    F("greta", "@glasswing", "losses", "38,500,000 USD", "amber", BW),
    F("katrin", "@nightjar", "communicates-via", "user-account:telegram:nightjar_ops", "amber", BW),
    F("ines", "@quietstorm", "communicates-via", "email-addr:qstorm@inboxhaven.net", "amber", BW),
    F("greta", "@kr0nos", "same-as", "@marchetko", "amber", BW, judgement="same"),
    # The person behind kr0nos, for the author and three named recipients only.
    F("greta", "@marchetko", "description",
      "Identified through a registration e-mail reused on Cinderhall and a payment trail; "
      "evidence package on request.", "red", to=RED_READERS),
    F("elena", "@marchetko", "cashes-out-via", "@kestrelex", "red", to=("greta",)),
)  # fmt: skip

PAPERKITE: tuple[Fact, ...] = (
    F("ciara", "@paperkite", "alias", "Parcel Phantom"),
    F("ciara", "@toll_wave", "attributed-to", "@paperkite"),
    F("katrin", "@paperkite", "uses", "@lureforge"),
    F("katrin", "@lureforge", "provided-by", "@forgemaster"),
    F("katrin", "@forgemaster", "communicates-via", "user-account:telegram:lureforge_shop"),
    F("katrin", "@paperkite", "communicates-via", "user-account:telegram:pk_panel_alerts_bot"),
    F("ciara", "@paperkite", "victims", "2,310"),
    F("declan", "@paperkite", "losses", "1,870,000 EUR"),
    F("maja", "@vasco", "member-of", "@paperkite"),
    F("maja", "@vasco", "recruits-mules-via", "user-account:telegram:easy_remote_jobs_eu"),
    F("amelie", "@paperkite", "losses", "412,300 EUR", STRICT),
)  # fmt: skip

JADE_LOTUS: tuple[Fact, ...] = (
    F("katrin", "@jade_lotus", "alias", "Lotus Capital Group"),
    F("katrin", "@jade_lotus", "country", "KH", "clear"),
    # Inside Operation Lotus Root.
    F("elena", "@jade_lotus", "cashes-out-via", "@kestrelex", "amber", LR),
    F("elena", "@jade_lotus", "launders-through", "@greyharbor", "amber", LR),
    F("amelie", "@coinbridge", "member-of", "@jade_lotus", "amber", LR),
    F("amelie", "@coinbridge", "recruits-mules-via",
      "user-account:telegram:coinbridge_jobs", "amber", LR),
    F("nadia", "@jade_lotus", "victims", "57", "amber", LR),
    F("nadia", "@jade_lotus", "losses", "6,420,000 EUR", "amber", LR),
)  # fmt: skip

LANDING_PATHS = ("redelivery/confirm.php", "pay/fee", "track/index.html", "toll/settle")
MULE_NOTES = (
    "Customer recruited through a remote-job advert; account frozen after inbound fraud.",
    "Account opened with a genuine identity, then handed over; device seen abroad.",
    "Student account; forwards inbound transfers within minutes to crypto on-ramps.",
)


class Scenario:
    """Writes the operations in a fixed order, drawing every choice from the scribe's rng."""

    def __init__(self, scribe: Scribe, fab: Fabricator) -> None:
        self.s = scribe
        self.fab = fab
        self.rng: random.Random = scribe.rng
        self.hosts: dict[str, list[str]] = {}

    def pick(self, *people: str) -> str:
        return self.rng.choice(people)

    def ip(self, provider: str) -> str:
        """An address of ``provider``'s networks, reused now and then as hosters do; a new one
        is placed in its autonomous system by a network vendor."""
        used = self.hosts.setdefault(provider, [])
        if used and self.rng.random() < 0.35:
            return self.rng.choice(used)
        network, asn = self.rng.choice(NETWORKS[provider])
        address = f"ipv4-addr:{self.fab.ipv4(network)}"
        used.append(address)
        self.s.say(self.pick("jamal", "ines"), address, "belongs-to", f"autonomous-system:{asn}")
        return address

    def site(
        self,
        user: str,
        domain: str,
        who: str,
        provider: str,
        registrar: str,
        status: str | None = None,
        tag: str | None = None,
    ) -> str:
        """A domain ``user`` uses: where it resolves, who registered it, whether it is up."""
        ref = f"domain-name:{domain}"
        self.s.say(who, user, "uses", ref, tag=tag)
        self.s.say(self.pick(*DNS_WATCHERS), ref, "resolves-to", self.ip(provider))
        self.s.say(self.pick(*REGISTRY_WATCHERS), ref, "registered-via", registrar)
        if status is not None:
            self.s.say(who, ref, "status", status)
        return ref

    # --- the operations ----------------------------------------------------------------------

    def hosting(self) -> None:
        self.s.write(HOSTING)
        wallet = f"cryptocurrency-wallet:{self.fab.btc()}"
        self.s.say("ines", wallet, "chain", "bitcoin", "amber", case=SQ)
        self.s.say("ines", "@stoneport", "receives-payment-via", wallet, "amber", case=SQ)
        self.s.say("jamal", "@stoneport", "country", "SC", "amber", case=SQ, tag="hoster-country")

    def glasswing(self) -> None:
        self.s.write(GLASSWING)
        self.s.say("greta", "@glasswing", "victims", "143", "clear", tag="glasswing-victims")
        self.s.say(
            "greta",
            "@kr0nos",
            "communicates-via",
            "user-account:jabber:kr0nos@xmpp.example",
            tag="kr0nos-jabber",
        )
        leak, portal = (f"domain-name:{self.fab.onion()}" for _ in range(2))
        self.s.say("greta", leak, "operated-by", "@glasswing", "clear")
        self.s.say("greta", leak, "description", "Glasswing data-leak site.", "clear")
        self.s.say("henrik", leak, "status", "active", "clear")
        self.s.say("greta", portal, "operated-by", "@glasswing")
        self.s.say("greta", portal, "description", "Glasswing ransom negotiation portal.")
        # The leak site's origin address, exposed by a misconfigured status page.
        origin = self.ip("@stoneport")
        self.s.say("ines", leak, "hosted-on", origin, "amber", case=BW, topic="leak-site-origin")
        for _ in range(8):
            self.site(
                "@glasswing",
                self.fab.domain(*C2_WORDS),
                self.pick("greta", "henrik", "ines", "jamal"),
                "@stoneport",
                "@nameforge",
            )
        for i in range(6):
            wallet = f"cryptocurrency-wallet:{self.fab.btc()}"
            self.s.say("elena", wallet, "chain", "bitcoin")
            tag = "ransom-wallet" if i == 0 else None
            self.s.say("elena", "@glasswing", "receives-payment-via", wallet, tag=tag)
            if i == 0:  # also seen by the vendor in a negotiation transcript
                self.s.say("greta", "@glasswing", "receives-payment-via", wallet)
            self.s.say("elena", wallet, "launders-through", "@fogbank", "amber", case=BW)
            if i < 2:
                self.s.say("elena", wallet, "cashes-out-via", "@kestrelex", "amber", case=BW)
        personal = f"cryptocurrency-wallet:{self.fab.evm()}"
        self.s.say("greta", "@marchetko", "receives-payment-via", personal, "red", to=RED_READERS)

    def paperkite(self) -> None:
        self.s.write(PAPERKITE)
        shop = f"cryptocurrency-wallet:{self.fab.tron()}"
        self.s.say("elena", shop, "chain", "tron")
        self.s.say("elena", "@forgemaster", "receives-payment-via", shop)
        for i in range(36):
            words, user = PARCEL_WORDS, "@paperkite"
            if i % 3 == 1:
                words, user = TOLL_WORDS, "@toll_wave"
            elif i % 9 == 2:
                words = QUILLMARK_WORDS
            who = self.pick("ciara", "declan", "katrin", "maja", "jamal")
            status = self.rng.choice(("active", "disrupted", None, None))
            tag = "false-positive" if i == 5 else None
            ref = self.site(
                user,
                self.fab.domain(*words),
                who,
                self.pick("@stoneport", "@stoneport", "@meadowlark"),
                self.pick("@nameforge", "@bluefinch"),
                status,
                tag,
            )
            if words is QUILLMARK_WORDS:
                self.s.say("ciara", ref, "description", "Imitates the Quillmark checkout page.")
            if i % 6 == 0:  # a landing page from an SMS, as reported by a recipient
                page = f"url:https://{ref.partition(':')[2]}/{self.rng.choice(LANDING_PATHS)}"
                self.s.say(self.pick("ciara", "maja"), page, "hosted-on", ref)
        jobs = self.fab.domain(("remote", "flexi"), ("payments", "agent"), ("com",))
        self.s.say("maja", "@vasco", "recruits-mules-via", f"domain-name:{jobs}")
        for _ in range(6):
            phone = f"phone-number:{self.fab.phone('US')}"
            self.s.say(self.pick("ciara", "maja"), "@paperkite", "communicates-via", phone)
        for _ in range(2):
            phone = f"phone-number:{self.fab.phone('GB')}"
            self.s.say("maja", "@paperkite", "communicates-via", phone)
            self.s.say("maja", phone, "description", "Callback number posing as a bank fraud team.")
        for i, (country, bank_code) in enumerate((("LT", "39990"), ("ES", "99990001")) * 3):
            account = f"bank-account:{self.fab.iban(country, bank_code)}"
            self.s.say("maja", "@paperkite", "receives-payment-via", account)
            if i % 2 == 0:
                self.s.say("maja", account, "operated-by", "@vasco")
        self.bank_mules("@paperkite", 5, "@vasco")

    def bank_mules(self, group: str, count: int, herder: str | None) -> None:
        """Aldermoor Bank's own customers' accounts used as mules: for the bank only."""
        for _ in range(count):
            account = f"bank-account:{self.fab.iban('NL', 'ALDM')}"
            self.s.say("amelie", group, "receives-payment-via", account, STRICT)
            self.s.say("bastiaan", account, "status", "inactive", STRICT)
            self.s.say("amelie", account, "description", self.rng.choice(MULE_NOTES), STRICT)
            if herder is not None:
                self.s.say("amelie", account, "operated-by", herder, STRICT)

    def jade_lotus(self) -> None:
        self.s.write(JADE_LOTUS)
        for i in range(14):
            platform = self.site(
                "@jade_lotus",
                self.fab.domain(*LOTUS_WORDS),
                self.pick("katrin", "elena", "lukas"),
                self.pick("@stoneport", "@meadowlark"),
                self.pick("@bluefinch", "@nameforge"),
                self.rng.choice(("active", "active", "inactive", None)),
            )
            if i < 3:  # the "customer support" address shown on the platform
                mailbox = f"email-addr:support@{platform.partition(':')[2]}"
                self.s.say("katrin", "@jade_lotus", "communicates-via", mailbox)
        for handle in ("mei_wealth_coach", "lotus_vip_support", "daniel_fx_mentor", "jade_desk"):
            account = f"user-account:telegram:{handle}"
            self.s.say("katrin", "@jade_lotus", "communicates-via", account)
        for country in ("FR", "FR", "FR", "US", "US"):
            phone = f"phone-number:{self.fab.phone(country)}"
            self.s.say("nadia", "@jade_lotus", "communicates-via", phone, "amber", case=LR)
        for i in range(8):
            wallet = f"cryptocurrency-wallet:{self.fab.tron()}"
            self.s.say("elena", wallet, "chain", "tron")
            if i < 5:
                self.s.say("elena", "@jade_lotus", "receives-payment-via", wallet)
            if i >= 3:  # reported by victims; wallets 3 and 4 are known to the exchange too
                self.s.say("nadia", "@jade_lotus", "receives-payment-via", wallet, "amber", case=LR)
            if i % 2 == 0:
                self.s.say("elena", wallet, "cashes-out-via", "@kestrelex", "amber", case=LR)
            if i % 3 == 0:
                self.s.say("elena", wallet, "launders-through", "@greyharbor", "amber", case=LR)
        for i in range(3):
            wallet = f"cryptocurrency-wallet:{self.fab.evm()}"
            self.s.say("elena", wallet, "chain", "ethereum")
            if i == 0:
                self.s.say("elena", wallet, "chain", "bnb-smart-chain")
            self.s.say("elena", "@jade_lotus", "receives-payment-via", wallet)
        for country, bank_code in (("LT", "39990"), ("ES", "99990001"), ("DE", "10099999")) * 2:
            account = f"bank-account:{self.fab.iban(country, bank_code)}"
            who = self.pick("bastiaan", "maja")
            self.s.say(who, "@jade_lotus", "receives-payment-via", account, "amber", case=LR)
            self.s.say("amelie", account, "operated-by", "@coinbridge", "amber", case=LR)
        self.bank_mules("@jade_lotus", 2, None)

    # --- history -----------------------------------------------------------------------------

    def histories(self) -> None:
        """A revision, two re-markings and a retraction, so statements have histories."""
        people, tagged = self.s.people, self.s.tagged
        services.revise(
            people["greta"],
            tagged["glasswing-victims"].pk,
            value="151",
            note="leak site count on 1 June 2025",
        )
        wallet = tagged["ransom-wallet"]
        current = services.Provenance(
            source=wallet.source,
            evidence=wallet.evidence,
            confidence=wallet.confidence,
            source_grade=wallet.source_grade,
            information_grade=wallet.information_grade,
            first_seen=wallet.first_seen,
            last_seen=wallet.last_seen,
        )
        services.revise(
            people["elena"],
            wallet.pk,
            provenance=dataclasses.replace(current, confidence=95, last_seen=ANCHOR),
            note="confirmed by clustering with two further ransom payments",
        )
        services.remark(
            people["henrik"],
            tagged["kr0nos-jabber"].pk,
            "amber",
            investigation=BRITTLE_WING,
            note="the account is being watched; keep it within the investigation",
        )
        services.remark(
            people["jamal"],
            tagged["hoster-country"].pk,
            "green",
            note="published in Kettleby Labs' hosting report",
        )
        mistaken = tagged["false-positive"]
        assert mistaken.author is not None
        services.retract(
            mistaken.author, mistaken.pk, note="false positive: a courier's genuine tracking page"
        )
