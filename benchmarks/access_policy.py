"""Benchmark of the access policy: entity pages and search, with and without the policy.

Builds a realistic knowledge base (by default 1,000,000 statements about 300,000 entities from 30
organizations and 1,000 users, a third of them in no investigation, a third in 3 and a third in
20; markings 40% CLEAR, 30% GREEN, 20% AMBER, 5% AMBER+STRICT, 5% RED) on SQLite and on
PostgreSQL, then times the service calls behind an entity page (its first 50 statements, for
entities with 1,000) and behind a search box, each with the policy
(``reads.entity_page``, ``entities.search``) and without it (``reads.system_entity_page``,
``entities.system_search``), and prints p50/p95 against the targets: entity page p95 under
20 ms, search p95 under 50 ms, the policy costing at most 2x the unfiltered call.

    python benchmarks/access_policy.py                      # both databases, full size
    python benchmarks/access_policy.py --quick              # 20,000 statements, in seconds
    python benchmarks/access_policy.py --database sqlite --statements 200000 --entities 60000
    python benchmarks/access_policy.py --reuse              # keep the data for the next run

The script runs one child process per database (Django is configured once per process).
SQLite gets a fresh file under /tmp; PostgreSQL a database ``cyberatlas_bench`` on the server
``scripts/test-postgres-url`` names, created and dropped here. ``--reuse`` keeps its data apart
(``/tmp/cyberatlas-bench-kept.sqlite3``, ``cyberatlas_bench_kept``), migrates it and measures
again: a way to compare code and index changes without generating each time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TMP = Path(tempfile.gettempdir())


def sqlite_path(reuse: bool) -> Path:
    return TMP / ("cyberatlas-bench-kept.sqlite3" if reuse else "cyberatlas-bench.sqlite3")


def pg_database(reuse: bool) -> str:
    return "cyberatlas_bench_kept" if reuse else "cyberatlas_bench"


# With --reuse, next to the kept databases: the sizes they were generated with and the
# entities, readers and queries to measure.
KEPT = {
    "sqlite": TMP / "cyberatlas-bench-kept-sqlite.json",
    "postgres": TMP / "cyberatlas-bench-kept-postgres.json",
}
HOT_STATEMENTS = 1_000  # statements naming each entity whose page is measured
PAGE = 50
SEARCH_LIMIT = 20
TARGETS = {"entity page": 20.0, "search": 50.0}
MAX_RATIO = 2.0

MARKINGS = [(0, 40), (1, 30), (2, 20), (3, 5), (4, 5)]  # CLEAR, GREEN, AMBER, A+S, RED


# --------------------------------------------------------------------------------------------
# The parent: one child process per database, then the combined table.


@dataclass
class Options:
    database: str = "both"
    statements: int = 1_000_000
    entities: int = 300_000
    organizations: int = 30
    users: int = 1_000
    investigations: int = 300
    samples: int = 200
    warmup: int = 20
    seed: int = 1
    reuse: bool = False

    def sizes(self) -> dict[str, int]:
        names = ("statements", "entities", "organizations", "users", "investigations", "seed")
        return {name: getattr(self, name) for name in names}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--statements", type=int, default=None, help="default 1,000,000")
    parser.add_argument("--entities", type=int, default=None, help="default 300,000")
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--samples", type=int, default=None, help="timed calls each, default 200")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--quick", action="store_true", help="20,000 statements about 6,000 entities, 50 samples"
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="reuse the data of an earlier --reuse run of the same size (migrated) and keep it",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        options, database, result_path = json.loads(args.child)
        return child(Options(**options), database, Path(result_path))

    quick = args.quick
    options = Options(
        database=args.database,
        statements=args.statements or (20_000 if quick else 1_000_000),
        entities=args.entities or (6_000 if quick else 300_000),
        users=args.users,
        samples=args.samples or (50 if quick else 200),
        seed=args.seed,
        reuse=args.reuse,
    )
    databases = ["sqlite", "postgres"] if options.database == "both" else [options.database]
    results: list[dict[str, Any]] = []
    for database in databases:
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
            result_path = Path(handle.name)
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="cyberatlas.settings",
            CYBERATLAS_DATABASE_URL=prepare_database(database, options),
            CYBERATLAS_SECRET_KEY="benchmark",
            CYBERATLAS_VAR_DIR=str(Path(tempfile.gettempdir()) / "cyberatlas-bench-var"),
            PYTHONUNBUFFERED="1",
        )
        payload = json.dumps([asdict(options), database, str(result_path)])
        print(f"== {database}", flush=True)
        done = subprocess.run(
            [sys.executable, __file__, "--child", payload], env=env, cwd=ROOT, check=False
        )
        if not options.reuse:
            drop_database(database)
        if done.returncode:
            print(f"{database}: the benchmark failed (exit {done.returncode})", file=sys.stderr)
            return done.returncode
        results += json.loads(result_path.read_text())
        result_path.unlink()
    if len(databases) > 1:
        print()
        print_table(results, options)
    return 0


def postgres_server_url() -> str:
    found = subprocess.run(
        [str(ROOT / "scripts" / "test-postgres-url")],
        capture_output=True,
        text=True,
        check=True,
    )
    return found.stdout.strip()


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


def prepare_database(database: str, options: Options) -> str:
    """A fresh database; with ``--reuse``, the kept one if it holds data of the same sizes."""
    kept = KEPT[database]
    reuse = (
        options.reuse
        and kept.exists()
        and json.loads(kept.read_text()).get("sizes") == options.sizes()
    )
    if options.reuse and not reuse:
        kept.unlink(missing_ok=True)
    if database == "sqlite":
        path = sqlite_path(options.reuse)
        if not reuse:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    import psycopg

    server = postgres_server_url()
    name = pg_database(options.reuse)
    with psycopg.connect(server, autocommit=True) as conn:
        if not reuse:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name}")
        elif not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f"CREATE DATABASE {name}")
    return _with_database(server, name)


def drop_database(database: str) -> None:
    """Drop what a run without ``--reuse`` created."""
    if database == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{sqlite_path(False)}{suffix}").unlink(missing_ok=True)
        return
    import psycopg

    with psycopg.connect(postgres_server_url(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {pg_database(False)} WITH (FORCE)")


def print_table(results: list[dict[str, Any]], options: Options) -> None:
    print(
        f"{options.statements:,} statements, {options.entities:,} entities, "
        f"{options.organizations} organizations, {options.users:,} users; "
        f"{options.samples} timed calls each"
    )
    header = f"{'database':<9} {'call':<28} {'policy':<6} {'p50 ms':>8} {'p95 ms':>8} "
    header += f"{'ratio p50/p95':>14}  target"
    print(header)
    print("-" * (len(header) + 40))
    by_key = {(r["database"], r["call"], r["policy"]): r for r in results}
    for r in results:
        ratio = ""
        verdicts = []
        limit = TARGETS[r["kind"]]
        verdicts.append(f"p95 < {limit:g} ms: {'yes' if r['p95'] < limit else 'NO'}")
        if r["policy"]:
            base = by_key[(r["database"], r["call"], False)]
            r50, r95 = r["p50"] / base["p50"], r["p95"] / base["p95"]
            ratio = f"{r50:.2f}/{r95:.2f}"
            ok = r50 <= MAX_RATIO and r95 <= MAX_RATIO
            verdicts.append(f"ratio <= {MAX_RATIO:g}: {'yes' if ok else 'NO'}")
        print(
            f"{r['database']:<9} {r['call']:<28} {'on' if r['policy'] else 'off':<6} "
            f"{r['p50']:>8.2f} {r['p95']:>8.2f} {ratio:>14}  {'; '.join(verdicts)}"
        )


# --------------------------------------------------------------------------------------------
# The child: configure Django, build the data, time the calls.


def child(options: Options, database: str, result_path: Path) -> int:
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"{database}: migrated in {time.perf_counter() - started:.1f}s", flush=True)
    from cyberatlas.knowledge.models import Statement

    kept = KEPT[database]
    if options.reuse and kept.exists() and Statement.objects.exists():
        print(f"{database}: reusing the data of an earlier run", flush=True)
        world = World(**json.loads(kept.read_text())["world"])
        analyze(connection)
    else:
        world = generate(options, database)
        if options.reuse:
            kept.write_text(json.dumps({"sizes": options.sizes(), "world": asdict(world)}))
    connection.close()  # measure on a new connection, with the settings' defaults
    results = measure(options, database, world)
    result_path.write_text(json.dumps(results))
    print_table(results, options)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{database}: peak memory {peak:,.0f} MB", flush=True)
    return 0


@dataclass
class World:
    """What the measurements need to know about the generated data."""

    hot_entities: list[str] = field(default_factory=list)
    readers: list[int] = field(default_factory=list)  # user ids, across the three tiers
    prefixes: list[str] = field(default_factory=list)  # starts of names and keys
    phrases: list[str] = field(default_factory=list)  # words of descriptions


# ---- vocabulary ------------------------------------------------------------------------------


def _split(text: str) -> list[str]:
    return text.split()


ADJECTIVES = _split(
    "crimson silent wizard shadow iron golden velvet frozen hidden scarlet black white grey "
    "northern eastern lucky wicked clever rapid phantom cobalt emerald sapphire venom midnight "
    "burning quiet savage hollow lunar solar toxic brave dark bright lazy mad ancient royal "
    "digital cyber ghost storm thunder blizzard copper silver ruby onyx amber jade coral azure "
    "neon plasma"
)
NOUNS = _split(
    "spider panda bear lynx kitten tiger wolf fox hydra viper cobra falcon hawk raven owl shark "
    "orca mantis scorpion jackal hyena dragon phoenix griffin kraken lion leopard jaguar puma "
    "badger weasel ferret otter beaver bison moose elk stag boar ram goat yak llama camel rhino "
    "hippo gorilla baboon lemur gecko iguana"
)
KINDS = ("gang", "group", "crew", "team", "syndicate", "collective", "cartel", "network")
WORDS = _split(
    "phishing kit ransomware affiliate loader botnet mule laundering exchange mixer bulletproof "
    "hosting panel credentials bank customers targeting germany france spain italy poland "
    "telegram smishing invoice fraud investment scam romance crypto wallet drainer payload "
    "stealer infostealer beacon server domain registered registrar reseller operator operators "
    "forum marketplace carding cards dumps cashout cash withdrawals atm jackpotting skimmer "
    "otp bypass sim swap call center vishing support refund pension elderly victims losses "
    "campaign wave spam emails sms links landing pages cloned login portal brand impersonation "
    "mobile android trojan overlay accessibility banking app apk sideloaded dropper c2 proxy "
    "residential vpn anonymous fast flux dns tunnel certificate letsencrypt cloudflare "
    "takedown seized disrupted arrested indicted sanctioned ofac treasury chainalysis usdt tron "
    "bitcoin ethereum monero payouts weekly daily rented leased sold advertised vetted members "
    "russian speaking english chinese nigerian brazilian vietnamese recruits students job ads "
    "remote work parcel reshipping money transfers accounts opened fake ids synthetic identities"
)
COUNTRIES = _split("DE FR ES IT PL NL BE AT CH GB IE US CA BR NG GH ZA IN VN CN RU UA RO BG TR AE")
TLDS = ["com", "net", "org", "info", "xyz", "top", "online", "site", "shop", "de", "fr", "ru"]
BRANDS = _split(
    "nordbank paypal sparkasse amazon dhl postnl ing revolut n26 coinbase binance kraken "
    "microsoft office365 netflix apple icloud santander unicredit bnp societe barclays hsbc"
)
DOMAIN_PARTS = _split(
    "secure login verify account update support help service online my web portal id"
)
BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
ROLES = ("developer", "affiliate", "mule herder", "launderer", "initial access broker", "admin")
DOMAIN_OBJECT_TYPES = (
    ("threat-actor", 30),
    ("intrusion-set", 10),
    ("campaign", 10),
    ("infrastructure", 20),
    ("malware", 20),
    ("tool", 10),
    ("identity", 10),
    ("attack-pattern", 5),
    ("vulnerability", 5),
)
OBSERVABLE_TYPES = (
    ("domain-name", 300),
    ("ipv4-addr", 200),
    ("url", 100),
    ("email-addr", 50),
    ("cryptocurrency-wallet", 100),
    ("phone-number", 20),
    ("user-account", 30),
    ("hostname", 20),
    ("bank-account", 20),
    ("file", 40),
)
# Relationships by subject type: (predicate, object types).
RELATIONSHIPS: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "actor": [
        ("uses", ("malware", "tool", "infrastructure")),
        ("targets", ("identity",)),
        ("communicates-via", ("email-addr", "phone-number", "user-account")),
        ("receives-payment-via", ("cryptocurrency-wallet", "bank-account")),
        ("operated-by", ("threat-actor",)),
        ("attributed-to", ("threat-actor", "intrusion-set")),
        ("hosted-on", ("ipv4-addr", "domain-name")),
    ],
    "network": [
        ("resolves-to", ("ipv4-addr",)),
        ("hosted-on", ("ipv4-addr",)),
        ("registered-via", ("identity",)),
        ("related-to", ("domain-name", "url")),
    ],
    "payment": [
        ("cashes-out-via", ("cryptocurrency-wallet", "bank-account", "identity")),
        ("launders-through", ("cryptocurrency-wallet",)),
        ("related-to", ("cryptocurrency-wallet",)),
    ],
    "other": [
        ("related-to", ("domain-name", "ipv4-addr", "threat-actor")),
        ("communicates-with", ("domain-name", "ipv4-addr")),
    ],
}
FAMILY = {
    "domain-name": "network",
    "hostname": "network",
    "url": "network",
    "ipv4-addr": "network",
    "cryptocurrency-wallet": "payment",
    "bank-account": "payment",
}
SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
SPAN = 2 * 365 * 86400


def weighted(pairs: Sequence[tuple[Any, int]]) -> tuple[list[Any], list[int]]:
    values = [v for v, _ in pairs]
    cumulative, total = [], 0
    for _, w in pairs:
        total += w
        cumulative.append(total)
    return values, cumulative


class Generator:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.rng = random.Random(options.seed)
        self.keys: set[str] = set()

    def pick(self, values: Sequence[Any], cumulative: Sequence[int]) -> Any:
        return self.rng.choices(values, cum_weights=cumulative)[0]

    def skewed(self, pool: Sequence[Any]) -> Any:
        """A few popular items and a long tail."""
        return pool[int(len(pool) * self.rng.random() ** 1.5)]

    def words(self, n: int) -> str:
        rng = self.rng
        return " ".join(WORDS[int(len(WORDS) * rng.random() ** 2)] for _ in range(n))

    def name(self) -> str:
        rng = self.rng
        base = f"{rng.choice(ADJECTIVES).title()} {rng.choice(NOUNS).title()}"
        roll = rng.random()
        if roll < 0.3:
            return f"{base} {rng.choice(KINDS).title()}"
        if roll < 0.6:
            return f"{base} {rng.randint(1, 999)}"
        return base

    def handle(self) -> str:
        rng = self.rng
        return f"{rng.choice(ADJECTIVES)}{rng.choice(['_', '', '-'])}{rng.choice(NOUNS)}" + str(
            rng.randint(1, 9999)
        )

    def domain(self) -> str:
        rng = self.rng
        brand = rng.choice(BRANDS)
        part = rng.choice(DOMAIN_PARTS)
        shapes = (
            f"{brand}-{part}",
            f"{part}-{brand}",
            f"{brand}{part}{rng.randint(1, 999)}",
            f"{rng.choice(ADJECTIVES)}{rng.choice(NOUNS)}",
            f"{part}{rng.randint(10, 99999)}",
        )
        return f"{rng.choice(shapes)}.{rng.choice(TLDS)}"

    def key(self, type_: str) -> str:
        rng = self.rng
        while True:
            if type_ == "domain-name":
                key = self.domain()
            elif type_ == "hostname":
                key = f"{rng.choice(['mail', 'cdn', 'api', 'c2', 'panel', 'vpn'])}"
                key += f"{rng.randint(1, 99)}.{self.domain()}"
            elif type_ == "ipv4-addr":
                first = rng.choice([5, 31, 45, 77, 91, 103, 141, 146, 176, 185, 193, 194, 212])
                key = f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            elif type_ == "url":
                key = f"https://{self.domain()}/{rng.choice(DOMAIN_PARTS)}/"
                key += f"{rng.choice(['index.php', 'login.html', 'verify', 'api/v1/'])}"
            elif type_ == "email-addr":
                key = f"{self.handle().lower()}@{self.domain()}"
            elif type_ == "cryptocurrency-wallet":
                roll = rng.random()
                if roll < 0.45:
                    key = "bc1q" + "".join(rng.choices(BECH32, k=38))
                elif roll < 0.8:
                    key = "0x" + "".join(rng.choices("0123456789abcdefABCDEF", k=40))
                else:
                    key = "T" + "".join(rng.choices(BASE58, k=33))
            elif type_ == "phone-number":
                key = f"+{rng.choice(['49', '33', '44', '234', '7'])}{rng.randint(10**8, 10**10)}"
            elif type_ == "user-account":
                key = f"{rng.choice(['telegram', 'discord', 'jabber'])}:{self.handle().lower()}"
            elif type_ == "bank-account":
                country = rng.choice(["DE", "FR", "ES", "LT", "GB"])
                key = f"{country}{rng.randint(10, 99)}{rng.randint(10**17, 10**18 - 1)}"
            else:  # file
                key = f"{rng.getrandbits(256):064x}"
            if key not in self.keys:
                self.keys.add(key)
                return key

    def property(self, type_: str) -> tuple[str, str]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.45:
            return "description", self.sentence()
        if type_ in DOMAIN_TYPES_SET:
            if roll < 0.6:
                return "alias", self.name() if rng.random() < 0.6 else self.handle()
            if roll < 0.75:
                return "country", rng.choice(COUNTRIES)
            if roll < 0.85:
                return "role", rng.choice(ROLES)
            if roll < 0.92:
                return "victims", str(rng.randint(1, 50_000))
            return "losses", f"{rng.randint(1_000, 50_000_000)} {rng.choice(['EUR', 'USD'])}"
        if type_ == "cryptocurrency-wallet" and roll < 0.75:
            return "chain", rng.choice(["bitcoin", "ethereum", "tron", "bnb-smart-chain"])
        if roll < 0.85:
            return "status", rng.choice(["active", "inactive", "disrupted", "seized"])
        return "alias", self.handle()

    def sentence(self) -> str:
        rng = self.rng
        text = self.words(rng.randint(6, 24))
        if rng.random() < 0.3:
            text += f" impersonating {rng.choice(BRANDS)}"
        if rng.random() < 0.2:
            text += f" reported by {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
        return text[0].upper() + text[1:] + "."


DOMAIN_TYPES_SET = {t for t, _ in DOMAIN_OBJECT_TYPES}


def generate(options: Options, database: str) -> World:
    """Organizations, users, investigations, entities, statements and grants, in bulk."""
    from django.db import connection

    from cyberatlas.accounts.models import Organization, OrgKind, Status, User, UserRole
    from cyberatlas.investigations.models import Investigation, Membership
    from cyberatlas.knowledge.entities import fold

    if options.statements < options.entities + 2 * HOT_STATEMENTS:
        raise SystemExit("--statements must be at least --entities + 2,000")
    gen = Generator(options)
    rng = gen.rng
    started = time.perf_counter()

    # People: 30 organizations (members, collaborators, partners) of uneven size.
    kinds = [OrgKind.MEMBER] * 22 + [OrgKind.COLLABORATOR] * 4 + [OrgKind.PARTNER] * 4
    sectors = ["banking", "payments", "crypto", "cybersecurity-vendor", "ngo", "research"]
    orgs = Organization.objects.bulk_create(
        [
            Organization(
                name=f"{rng.choice(ADJECTIVES).title()} {sectors[i % len(sectors)].title()} {i}",
                kind=kinds[i % len(kinds)],
                sector=(
                    "law-enforcement" if kinds[i % len(kinds)] == OrgKind.PARTNER
                    else sectors[i % len(sectors)]
                ),
                country=rng.choice(COUNTRIES),
                status=Status.VETTED,
                disclose_name=rng.random() < 0.8,
            )
            for i in range(options.organizations)
        ]
    )  # fmt: skip
    org_weights = [rng.paretovariate(1.2) for _ in orgs]
    users = User.objects.bulk_create(
        [
            User(
                username=f"user{n:04d}",
                password="!",
                organization=rng.choices(orgs, weights=org_weights)[0],
                status=Status.VETTED,
                email=f"user{n:04d}@example.org",
            )
            for n in range(options.users)
        ]
    )
    UserRole.objects.bulk_create(
        [
            UserRole(
                user=u,
                role="partner" if u.organization.kind == OrgKind.PARTNER else "researcher",
            )
            for u in users
        ]
    )
    contributors = [u for u in users if u.organization.kind != OrgKind.PARTNER]
    by_org: dict[int, list[int]] = {}
    for u in contributors:
        by_org.setdefault(u.organization_id, []).append(u.pk)
    contributing_orgs = [o for o in orgs if o.pk in by_org]
    contributing_weights = [org_weights[orgs.index(o)] for o in contributing_orgs]
    org_of = {u.pk: u.organization_id for u in users}

    # Entities: ids, types and keys, kept in memory as three lists.
    domain_share = 0.12
    n_domain = int(options.entities * domain_share)
    types: list[str] = []
    values, cumulative = weighted(DOMAIN_OBJECT_TYPES)
    types += [gen.pick(values, cumulative) for _ in range(n_domain)]
    values, cumulative = weighted(OBSERVABLE_TYPES)
    types += [gen.pick(values, cumulative) for _ in range(options.entities - n_domain)]
    rng.shuffle(types)
    ids: list[str] = []
    keys: list[str] = []
    for type_ in types:
        if type_ in DOMAIN_TYPES_SET:
            ids.append(f"{type_}--{uuid.UUID(int=rng.getrandbits(128), version=4)}")
            keys.append("")
        else:
            key = gen.key(type_)
            ids.append(f"{type_}--{uuid.uuid5(SCO_NAMESPACE, json.dumps({'value': key}))}")
            keys.append(key)
    gen.keys.clear()
    # Hot entities (1,000 statements each): threat actors, domains, addresses and wallets.
    n_hot = max(2, min(20, options.statements // 50_000))
    hot_types = ["threat-actor", "domain-name", "ipv4-addr", "cryptocurrency-wallet"]
    hot: list[int] = []
    for i in range(n_hot):
        wanted = hot_types[i % len(hot_types)]
        hot.append(next(j for j, t in enumerate(types) if t == wanted and j not in hot))
    hot_set = set(hot)
    pools: dict[str, list[int]] = {}
    for j, type_ in enumerate(types):
        if j not in hot_set:
            pools.setdefault(type_, []).append(j)
    for pool in pools.values():
        rng.shuffle(pool)  # the popular ones are random entities
    subjects_pool = [j for j in range(len(ids)) if j not in hot_set]
    rng.shuffle(subjects_pool)

    load(connection, "knowledge_entity", ["id", "type", "key"], zip(ids, types, keys, strict=True))
    investigations = Investigation.objects.bulk_create(
        [
            Investigation(
                name=f"Operation {rng.choice(ADJECTIVES).title()} {rng.choice(NOUNS).title()} {n}",
                target_id=ids[rng.choice(pools["threat-actor"])],
                lead=rng.choices(contributing_orgs, weights=contributing_weights)[0],
            )
            for n in range(options.investigations)
        ]
    )
    contributor_ids = {u.pk for u in contributors}
    member_contributors: dict[int, list[int]] = {inv.pk: [] for inv in investigations}
    tiers = (0, 3, 20)  # a third of the users in none, a third in 3, a third in 20
    memberships = []
    for n, u in enumerate(users):
        for inv in rng.sample(investigations, tiers[n % 3]):
            memberships.append(Membership(investigation=inv, user=u))
            if u.pk in contributor_ids:
                member_contributors[inv.pk].append(u.pk)
    Membership.objects.bulk_create(memberships)
    inv_ids = [inv.pk for inv in investigations]
    user_ids = [u.pk for u in users]
    partner_ids = [u.pk for u in users if u.pk not in contributor_ids] or user_ids
    print(
        f"{database}: {len(orgs)} organizations, {len(users)} users, {len(investigations)} "
        f"investigations ({len(memberships)} memberships), {len(ids):,} entities "
        f"in {time.perf_counter() - started:.1f}s",
        flush=True,
    )

    # Statements, streamed in chunks: every entity named at least once (domain objects by a
    # name), the hot ones by exactly 1,000, the rest spread with a long tail.
    marking_values, marking_cumulative = weighted(MARKINGS)
    vetting = ["unreviewed"] * 6 + ["community-vetted"] * 3 + ["disputed"]
    sources = ["", "", "https://abuse.example.org/report/", "https://urlscan.io/result/"]
    grants: list[tuple[str, int, int | None, str]] = []
    prefixes: list[str] = []

    def statement(subject: int, obj: int | None = None) -> tuple[Any, ...]:
        """A property or relationship of ``subject``; ``obj``: a relationship to it."""
        type_ = types[subject]
        family = "actor" if type_ in DOMAIN_TYPES_SET else FAMILY.get(type_, "other")
        if obj is not None:
            fitting = [p for p, ts in RELATIONSHIPS[family] if types[obj] in ts]
            return row(subject, rng.choice(fitting or ["related-to"]), None, obj)
        if rng.random() < 0.4:
            predicate, object_types = rng.choice(RELATIONSHIPS[family])
            return row(subject, predicate, None, gen.skewed(pools[rng.choice(object_types)]))
        predicate, value = gen.property(type_)
        return row(subject, predicate, value, None)

    def row(subject: int, predicate: str, value: str | None, obj: int | None) -> tuple[Any, ...]:
        marking = gen.pick(marking_values, marking_cumulative)
        investigation = None
        if marking == 2 or rng.random() < 0.08:
            investigation = rng.choice(inv_ids)
        if marking == 2 and member_contributors[investigation] and rng.random() < 0.9:
            author = rng.choice(member_contributors[investigation])
            org = org_of[author]
        else:
            org = rng.choices(contributing_orgs, weights=contributing_weights)[0].pk
            author = rng.choice(by_org[org])
        statement_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        if marking == 4:
            for recipient in rng.sample(user_ids, rng.choice([1, 1, 2])):
                if recipient != author:
                    grants.append((statement_id, recipient, author, "recipient"))
        elif marking == 2 and rng.random() < 0.02:
            grants.append((statement_id, rng.choice(partner_ids), author, "release"))
        created = T0 + dt.timedelta(seconds=rng.random() * SPAN)
        return (
            statement_id,
            ids[subject],
            predicate,
            value,
            fold(value) if value is not None else "",
            ids[obj] if obj is not None else None,
            marking,
            investigation,
            org,
            author,
            rng.choice(sources),
            rng.choice([None, 50, 70, 90]),
            rng.choice(vetting),
            rng.random() < 0.01,
            created,
            created,
            "",
            "",
            "",
            1,
        )

    def statements() -> Iterator[tuple[Any, ...]]:
        count = 0
        for j in range(len(ids)):  # every entity is named at least once
            if j in hot_set:
                continue
            if types[j] in DOMAIN_TYPES_SET:
                name = gen.name()
                if len(prefixes) < 400 and rng.random() < 0.05:
                    prefixes.append(name[: rng.randint(3, 6)])
                yield row(j, "name", name, None)
            else:
                if len(prefixes) < 800 and rng.random() < 0.01:
                    prefixes.append(keys[j][: rng.randint(4, 8)])
                yield statement(j)
            count += 1
        for h in hot:  # exactly 1,000 statements name each hot entity
            left = HOT_STATEMENTS
            if types[h] in DOMAIN_TYPES_SET:
                yield row(h, "name", gen.name(), None)
                yield row(h, "alias", gen.name(), None)
                left -= 2
            for _ in range(left):
                if rng.random() < 0.4:  # another entity's relationship to it
                    yield statement(gen.skewed(subjects_pool), h)
                else:
                    yield statement(h)
            count += HOT_STATEMENTS
        for _ in range(options.statements - count):  # the long tail
            yield statement(gen.skewed(subjects_pool))

    columns = [
        "id", "subject_id", "predicate", "value", "folded", "object_id", "marking",
        "investigation_id", "organization_id", "author_id", "source", "confidence", "vetting",
        "retracted", "created_at", "updated_at", "evidence", "source_grade",
        "information_grade", "version",
    ]  # fmt: skip

    step = time.perf_counter()
    with bulk_loading(connection, ["knowledge_statement", "knowledge_grant"]):
        total = load(connection, "knowledge_statement", columns, statements(), progress=True)
        grant_rows = ((g[0], g[1], g[2], g[3], T0) for g in grants)
        load(
            connection,
            "knowledge_grant",
            ["statement_id", "user_id", "granted_by_id", "reason", "granted_at"],
            grant_rows,
        )
    print(
        f"{database}: {total:,} statements and {len(grants):,} grants "
        f"in {time.perf_counter() - step:.1f}s",
        flush=True,
    )
    analyze(connection)
    print(f"{database}: generated in {time.perf_counter() - started:.1f}s", flush=True)

    readers = []
    for tier in range(3):
        tiered = [u for n, u in enumerate(users) if n % 3 == tier]
        readers += [u.pk for u in rng.sample(tiered, min(10, len(tiered)))]
    rng.shuffle(prefixes)
    words = [w for w in WORDS if len(w) > 3]
    phrases = [" ".join(rng.sample(words, rng.choice([1, 2, 2, 3]))) for _ in range(200)]
    return World([ids[h] for h in hot], readers, prefixes, phrases)


class bulk_loading:
    """Drop a table's secondary indexes and foreign keys while loading, restore them after."""

    def __init__(self, connection: Any, tables: list[str]) -> None:
        self.connection = connection
        self.tables = tables
        self.restore: list[str] = []

    def __enter__(self) -> bulk_loading:
        conn = self.connection
        with conn.cursor() as cursor:
            if conn.vendor == "sqlite":
                marks = ", ".join("?" for _ in self.tables)
                found = conn.connection.execute(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
                    f" AND tbl_name IN ({marks})",
                    self.tables,
                ).fetchall()
                for name, sql in found:
                    cursor.execute(f'DROP INDEX "{name}"')
                    self.restore.append(sql)
                conn.connection.execute("PRAGMA foreign_keys = OFF")
            else:
                cursor.execute(
                    "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
                    "FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s)",
                    [self.tables],
                )
                for table, name, definition in cursor.fetchall():
                    cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
                    self.restore.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
                cursor.execute(
                    "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) "
                    "FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid "
                    "WHERE c.oid IS NULL AND i.indrelid::regclass::text = ANY(%s)",
                    [self.tables],
                )
                for name, definition in cursor.fetchall():
                    cursor.execute(f"DROP INDEX {name}")
                    self.restore.insert(0, definition)
        return self

    def __exit__(self, *exc: object) -> None:
        conn = self.connection
        started = time.perf_counter()
        with conn.cursor() as cursor:
            if conn.vendor == "postgresql":
                cursor.execute("SET maintenance_work_mem = '1GB'")
            for sql in self.restore:
                cursor.execute(sql)
        if conn.vendor == "sqlite":
            conn.connection.execute("PRAGMA foreign_keys = ON")
        print(f"  indexes and constraints restored in {time.perf_counter() - started:.1f}s")


def load(
    connection: Any,
    table: str,
    columns: list[str],
    rows: Iterator[tuple[Any, ...]],
    *,
    progress: bool = False,
    chunk: int = 50_000,
) -> int:
    """Bulk insert: executemany on SQLite, COPY on PostgreSQL; in one transaction per chunk."""
    from django.db import transaction

    connection.ensure_connection()
    raw = connection.connection
    names = ", ".join(f'"{c}"' for c in columns)
    total = 0
    started = time.perf_counter()
    sqlite = connection.vendor == "sqlite"
    if sqlite:
        raw.execute("PRAGMA cache_size = -262144")  # 256 MB while loading
        adapt_dt = connection.ops.adapt_datetimefield_value
        sql = f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" for _ in columns)})'
    while True:
        batch = []
        for r in rows:
            batch.append(r)
            if len(batch) >= chunk:
                break
        if not batch:
            break
        with transaction.atomic():
            if sqlite:
                raw.executemany(sql, [tuple(_sqlite(v, adapt_dt) for v in r) for r in batch])
            else:
                with (
                    raw.cursor() as cursor,
                    cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy,
                ):
                    for r in batch:
                        copy.write_row(r)
        total += len(batch)
        if progress:
            rate = total / (time.perf_counter() - started)
            print(f"  {table}: {total:,} rows ({rate:,.0f}/s)", flush=True)
    return total


def _sqlite(value: Any, adapt_dt: Callable[[Any], Any]) -> Any:
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, dt.datetime):
        return adapt_dt(value)
    return value


def analyze(connection: Any) -> None:
    started = time.perf_counter()
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        connection.connection.execute("ANALYZE")
    else:
        # VACUUM cannot run in a transaction: autocommit is Django's default outside atomic.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    print(f"  analyzed in {time.perf_counter() - started:.1f}s", flush=True)


# ---- measurements ----------------------------------------------------------------------------


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def measure(options: Options, database: str, world: World) -> list[dict[str, Any]]:
    from cyberatlas.accounts.models import User
    from cyberatlas.knowledge import entities, reads

    readers = list(User.objects.select_related("organization").filter(pk__in=world.readers))
    hot = world.hot_entities

    def page_on(i: int) -> object:
        return reads.entity_page(readers[i % len(readers)], hot[i % len(hot)], limit=PAGE)

    def page_off(i: int) -> object:
        return reads.system_entity_page(hot[i % len(hot)], limit=PAGE)

    def searching(queries: list[str], policy: bool) -> Callable[[int], object]:
        def call(i: int) -> object:
            query = queries[i % len(queries)]
            if not policy:
                return entities.system_search(query, limit=SEARCH_LIMIT)
            return entities.search(readers[(i * 7) % len(readers)], query, limit=SEARCH_LIMIT)

        return call

    page = f"entity page ({PAGE} of {HOT_STATEMENTS:,})"
    calls = [
        ("entity page", page, page_off, page_on),
        (
            "search",
            "search: prefix",
            searching(world.prefixes, False),
            searching(world.prefixes, True),
        ),
        (
            "search",
            "search: words",
            searching(world.phrases, False),
            searching(world.phrases, True),
        ),
    ]
    load = ", ".join(f"{n:.2f}" for n in os.getloadavg())
    print(f"{database}: measuring on {os.cpu_count()} cores, load average {load}", flush=True)
    results = []
    for kind, label, *pair in calls:
        for i in range(options.warmup):
            for call in pair:
                call(i)
        # Without and with the policy in turns, so that both meet the same conditions.
        timings: list[list[float]] = [[], []]
        for i in range(options.samples):
            for side, call in enumerate(pair):
                started = time.perf_counter()
                call(i)
                timings[side].append((time.perf_counter() - started) * 1000)
        for side, measured in enumerate(timings):
            results.append(
                {
                    "database": database,
                    "kind": kind,
                    "call": label,
                    "policy": bool(side),
                    "p50": statistics.median(measured),
                    "p95": percentile(measured, 0.95),
                    "max": max(measured),
                }
            )
    return results


if __name__ == "__main__":
    sys.exit(main())
