"""Who is who in the demo's criminal ecosystem, and the investigations the community opens.

Four operations share providers, as real ones do:

- **Glasswing**, a ransomware-as-a-service crew with affiliates, a leak site on an onion
  service, a loader bought from the developer ``kr0nos``, ransoms laundered through a mixer;
- **Paperkite**, a smishing operation (parcel and toll notices) built on the LureForge phishing
  kit, with Telegram accounts, fictitious sender numbers and a money-mule herder;
- **Jade Lotus**, an investment-scam ("pig-butchering") network with fake trading platforms,
  bank mules and USDT wallets cashing out through a non-compliant exchange;
- **Stoneport Hosting**, a bulletproof hoster whose autonomous systems serve all three.

All names are invented. The handles (``@glasswing``) are the demo's own shorthand.
"""

from __future__ import annotations

from dataclasses import dataclass

from .community import EXCHANGE, VENDOR, VENDOR_2
from .scribe import Thing

BRITTLE_WING = "Operation Brittle Wing"
LOTUS_ROOT = "Operation Lotus Root"
STONE_QUARRY = "Operation Stone Quarry"


@dataclass(frozen=True)
class Case:
    name: str
    target: str  # a handle
    lead: str
    members: tuple[str, ...]
    joins_later: tuple[tuple[str, str], ...] = ()  # (added by, new member)


INVESTIGATIONS: tuple[Case, ...] = (
    Case(BRITTLE_WING, "@glasswing", VENDOR,
         ("greta", "henrik", "ines", "jamal", "elena", "katrin")),
    Case(LOTUS_ROOT, "@jade_lotus", EXCHANGE,
         ("elena", "fabio", "amelie", "bastiaan", "ciara", "maja", "katrin"),
         joins_later=(("elena", "nadia"),)),
    Case(STONE_QUARRY, "@stoneport", VENDOR_2,
         ("ines", "jamal", "greta", "katrin", "lukas")),
)  # fmt: skip

# Known from open sources and community sharing: named at CLEAR or GREEN.
OPEN_CAST: tuple[Thing, ...] = (
    # providers
    Thing("@stoneport", "identity", "Stoneport Hosting", "ines",
          "provider-kind", "bulletproof-hosting"),
    Thing("@stone_harbour", "identity", "Stone Harbour Networks", "katrin",
          "provider-kind", "hosting"),
    Thing("@meadowlark", "identity", "Meadowlark VPS", "ines", "provider-kind", "hosting"),
    Thing("@nameforge", "identity", "Nameforge Registrar", "jamal", "provider-kind", "registrar"),
    Thing("@bluefinch", "identity", "Bluefinch Domains", "ciara", "provider-kind", "registrar"),
    Thing("@cinderhall", "identity", "Cinderhall", "greta", "provider-kind", "forum"),
    Thing("@fogbank", "identity", "Fogbank Mixer", "elena", "provider-kind", "mixer"),
    Thing("@kestrelex", "identity", "Kestrelex", "elena", "provider-kind", "exchange"),
    Thing("@greyharbor", "identity", "Greyharbor OTC", "elena", "provider-kind", "otc-desk"),
    # Glasswing
    Thing("@glasswing", "threat-actor", "Glasswing", "greta", "description",
          "Ransomware-as-a-service crew running a data-leak site since 2023; recruits "
          "affiliates on Cinderhall and takes a 20% share of ransoms.", "clear"),
    Thing("@ash_moth", "intrusion-set", "ASH MOTH", "jamal", "description",
          "Kettleby Labs' name for an intrusion set deploying Glasswing Locker."),
    Thing("@glasswing_locker", "malware", "Glasswing Locker", "henrik", "description",
          "Windows and ESXi encryptor; ChaCha20 per file, RSA-4096 wrapped keys.", "clear"),
    Thing("@patchwork", "malware", "Patchwork Loader", "henrik", "description",
          "Loader sold as a service; delivers Glasswing Locker and commodity stealers.",
          "clear"),
    Thing("@kr0nos", "threat-actor", "kr0nos", "greta", "role",
          "loader developer and seller"),
    Thing("@nightjar", "threat-actor", "nightjar", "greta", "role", "ransomware affiliate"),
    Thing("@quietstorm", "threat-actor", "quietstorm", "ines", "role",
          "ransomware affiliate and initial access broker"),
    # Paperkite
    Thing("@paperkite", "threat-actor", "Paperkite", "ciara", "description",
          "Smishing operation sending fake parcel-redelivery and unpaid-toll notices that "
          "harvest card details and one-time codes.", "clear"),
    Thing("@toll_wave", "campaign", "Unpaid Toll Notice wave", "ciara", "description",
          "SMS wave impersonating motorway toll operators, spring 2025."),
    Thing("@lureforge", "tool", "LureForge", "katrin", "description",
          "Phishing kit with a live operator panel, sold by subscription on Telegram."),
    Thing("@forgemaster", "threat-actor", "forgemaster", "katrin", "role",
          "phishing-kit developer"),
    Thing("@vasco", "threat-actor", "vasco_cash", "maja", "role", "money-mule herder"),
    # Jade Lotus
    Thing("@jade_lotus", "threat-actor", "Jade Lotus", "katrin", "description",
          "Investment-scam network: contacts victims through messaging apps, builds trust, then "
          "steers them to fake trading platforms that show invented profits.", "clear"),
    Thing("@coinbridge", "threat-actor", "coinbridge", "amelie", "role", "money-mule herder"),
)  # fmt: skip

# Known only inside an investigation, or to named people: named at AMBER or RED.
RED_READERS = ("henrik", "elena", "amelie")
CASE_CAST: tuple[Thing, ...] = (
    Thing("@stnprt", "threat-actor", "stnprt", "ines", "role",
          "administrator of Stoneport Hosting", "amber", STONE_QUARRY),
    # The person behind kr0nos, known only to the author and three named recipients.
    Thing("@marchetko", "threat-actor", "Lev Marchetko", "greta", "role",
          "developer of Patchwork Loader, sells it as kr0nos", "red", to=RED_READERS),
)  # fmt: skip
