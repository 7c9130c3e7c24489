"""Ingest, export and TAXII throughput on a generated STIX 2.1 corpus.

    python benchmarks/ingest.py [--objects N] [--database sqlite|postgres|both] [--quick]

Generates STIX 2.1 bundles totalling N objects (default 1,000,000: observables, SDOs and
relationships), one per contributing organization (three), a third of each bundle's objects
shared by all three, then on each database prints: objects/s imported (all three imports),
peak memory of the importing process, the CPU time of its writer, of its reader and (PostgreSQL
on this machine) of the database server, objects/s exported (STIX, the whole readable corpus), and
objects/s served through TAXII pagination with limit=1000.

Each database runs in its own process (Django is configured once per process). The first line
after generating says how fast this machine parses a bundle with orjson and builds an object with
stix2, the two figures the targets were set against (about 266,000 objects/s and 100 µs), so
that figures taken on different machines can be compared.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
CLEAR = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
ORGS = ("Bank A", "Vendor B", "Exchange C")


def _objects(rng: random.Random, start: int, count: int, prefix: str) -> list[dict[str, object]]:
    """``count`` objects: 60% observables, 15% SDOs, 25% relationships among them."""
    objects: list[dict[str, object]] = []
    endpoints: list[str] = []
    sdos: list[str] = []
    for n in range(start, start + count):
        roll = n % 20
        marking = [CLEAR] if n % 5 == 0 else [GREEN]
        if roll < 12:
            kind = roll % 4
            if kind == 0:
                obj = {"type": "domain-name", "value": f"{prefix}{n}.example-{n % 97}.com"}
            elif kind == 1:
                obj = {"type": "ipv4-addr", "value": f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"}
            elif kind == 2:
                obj = {"type": "url", "value": f"https://{prefix}{n}.example.net/login?id={n}"}
            else:
                obj = {"type": "cryptocurrency-wallet", "value": "0x" + f"{n:040x}"}
            obj_id = f"{obj['type']}--{uuid.UUID(int=rng.getrandbits(128), version=4)}"
            endpoints.append(obj_id)
        elif roll < 15:
            sdo_type = ("threat-actor", "malware", "infrastructure")[roll - 12]
            obj_id = f"{sdo_type}--{uuid.UUID(int=rng.getrandbits(128), version=4)}"
            obj = {
                "type": sdo_type,
                "name": f"{prefix} {sdo_type} {n}",
                "description": f"Generated {sdo_type} number {n}.",
                "created": "2026-01-01T00:00:00.000Z",
                "modified": "2026-01-01T00:00:00.000Z",
            }
            if sdo_type == "malware":
                obj["is_family"] = True
            sdos.append(obj_id)
        else:
            if not sdos or not endpoints:
                continue
            source = rng.choice(sdos)
            obj_id = f"relationship--{uuid.UUID(int=rng.getrandbits(128), version=4)}"
            obj = {
                "type": "relationship",
                "relationship_type": "uses",
                "source_ref": source,
                "target_ref": rng.choice(endpoints),
                "created": "2026-01-01T00:00:00.000Z",
                "modified": "2026-01-01T00:00:00.000Z",
            }
        obj.update({"id": obj_id, "spec_version": "2.1", "object_marking_refs": marking})
        objects.append(obj)
    return objects


def generate(total: int, folder: Path) -> list[Path]:
    """Three bundles, one per organization; a third of each is the same shared third."""
    per_org = total // 3
    shared = _objects(random.Random(1), 0, per_org // 3, "shared")
    paths = []
    for n, org in enumerate(ORGS):
        own = _objects(random.Random(100 + n), 10_000_000 * (n + 1), per_org - len(shared), f"o{n}")
        path = folder / f"bundle-{n}-{len(shared) + len(own)}.json"
        with path.open("w") as stream:
            json.dump(
                {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": shared + own}, stream
            )
        paths.append(path)
        print(f"  generated {path.name}: {len(shared) + len(own):,} objects for {org}", flush=True)
    return paths


def run_database(database: str, paths: list[Path]) -> None:
    """Runs in a child process configured for one database."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    from cyberatlas.accounts.models import Organization, Status, User, UserRole
    from cyberatlas.accounts.services import create_token
    from cyberatlas.interop import exports, ingest, plugins
    from cyberatlas.interop.stix_export import write_stix
    from cyberatlas.interop.taxii_objects import COMMUNITY

    call_command("migrate", verbosity=0)
    users = []
    for name in ORGS:
        org = Organization.objects.create(
            name=name, kind="member", sector="banking", country="DE", status=Status.VETTED
        )
        user = User.objects.create(username=f"r{org.pk}", organization=org, status=Status.VETTED)
        UserRole.objects.create(user=user, role="researcher")
        users.append(user)
    objects = 0
    memory = _MemoryPeak()
    server_before = _server_cpu()
    started = time.perf_counter()
    for user, path in zip(users, paths, strict=True):
        t0 = time.perf_counter()
        summary = ingest.import_path(
            user,
            path,
            plugins.importer("stix"),
            options=ingest.ImportOptions(),
            separate_reader=True,  # as `cyberatlas import` does
        )
        count = summary.items
        objects += int(path.stem.rsplit("-", 1)[1])  # the count is in the name: no re-reading
        print(
            f"  {database}: {path.name}: {summary.created:,} created, {summary.merged:,} merged, "
            f"{summary.unchanged:,} unchanged, {summary.rejected:,} rejected "
            f"({count:,} items) in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
    elapsed = time.perf_counter() - started
    memory.stop()
    server_after = _server_cpu()
    own, readers = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    server = (
        f", {server_after - server_before:.1f} s in the database server"
        if server_before is not None and server_after is not None
        else ""
    )
    print(
        f"{database}: imported {objects:,} objects in {elapsed:.1f} s = "
        f"{objects / elapsed:,.0f} objects/s; peak memory {memory.peak / 1024:,.0f} MB "
        f"(proportional set size of the writing and reading processes: resident sets, "
        f"{own.ru_maxrss / 1024:,.0f} MB and {readers.ru_maxrss / 1024:,.0f} MB, count the "
        f"pages they share since the fork twice); "
        f"CPU {own.ru_utime + own.ru_stime:.1f} s writing, "
        f"{readers.ru_utime + readers.ru_stime:.1f} s reading{server}; "
        f"load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )

    reader = users[0]
    t0 = time.perf_counter()
    with open(os.devnull, "w") as sink:
        records = list(exports.export_records(reader))
        write_stix(records, sink, "bench")
    exported = len(records)
    elapsed = time.perf_counter() - t0
    print(
        f"{database}: exported {exported:,} statements as STIX in {elapsed:.1f} s = "
        f"{exported / elapsed:,.0f} statements/s",
        flush=True,
    )

    token = create_token(None, reader.username)
    client = Client(
        HTTP_HOST="127.0.0.1",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_ACCEPT="application/taxii+json;version=2.1",
    )
    url = f"/taxii2/api/collections/{COMMUNITY}/objects/"
    served, cursor = 0, None
    t0 = time.perf_counter()
    while True:
        params = {"limit": 1000, **({"next": cursor} if cursor else {})}
        page = json.loads(client.get(url, params).content)
        served += len(page.get("objects", []))
        cursor = page.get("next")
        if not page.get("more"):
            break
    elapsed = time.perf_counter() - t0
    print(
        f"{database}: TAXII served {served:,} objects in {elapsed:.1f} s = "
        f"{served / elapsed:,.0f} objects/s (limit=1000)",
        flush=True,
    )


def _server_cpu() -> float | None:
    """CPU seconds used so far by the PostgreSQL processes serving this database, when the
    server runs on this machine (its processes are visible in /proc); None otherwise. On two
    cores the server's share decides as much as the importer's own."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    name = connection.settings_dict["NAME"].encode()
    ticks, found = 0, False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            if not command.startswith(b"postgres: ") or name not in command.split():
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
        found = True
    return ticks / os.sysconf("SC_CLK_TCK") if found else None


class _MemoryPeak:
    """The largest total PSS (KiB) of this process and its children, sampled once a second:
    resident sets count the pages a forked reader shares with the writer twice. The kernel
    takes about 20 ms to sum a 1.5 GB process's PSS, time taken from the processes measured;
    their memory grows steadily, so a second between samples misses little."""

    def __init__(self) -> None:
        import threading

        self.peak = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.done.wait(1.0):
            self.peak = max(self.peak, sum(_pss(pid) for pid in _family(os.getpid())))

    def stop(self) -> None:
        self.done.set()
        self.thread.join()


def _family(pid: int) -> list[int]:
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found += _family(int(child))
    return found


def _pss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="30,000 objects")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--bundles", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_database(args.child, [Path(p) for p in args.bundles])
        return
    total = 30_000 if args.quick else args.objects
    with tempfile.TemporaryDirectory(prefix="cyberatlas-bench-") as tmp:
        folder = Path(tmp)
        print(f"generating {total:,} objects", flush=True)
        paths = generate(total, folder)
        _machine(paths[0])
        databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
        for database in databases:
            env = {
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "cyberatlas.settings",
                "CYBERATLAS_VAR_DIR": str(folder),
            }
            if database == "sqlite":
                env["CYBERATLAS_DATABASE_URL"] = f"sqlite:///{folder / 'bench.sqlite3'}"
            else:
                base = subprocess.run(
                    [str(ROOT / "scripts" / "test-postgres-url")],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout.strip()
                env["CYBERATLAS_DATABASE_URL"] = _fresh_postgres(base)
            subprocess.run(
                [sys.executable, __file__, "--child", database, "--bundles", *map(str, paths)],
                env=env,
                check=True,
            )


def _machine(bundle: Path) -> None:
    """How fast this machine runs the two things the targets were set against (parsing a bundle
    with orjson, building a STIX object with stix2), so that figures from different machines
    can be compared: the best of a few rounds each."""
    import orjson
    import stix2

    data = bundle.read_bytes()
    parse = min(_timed(lambda: orjson.loads(data)) for _ in range(3))
    count = len(orjson.loads(data)["objects"])
    observables = [
        {"type": "domain-name", "spec_version": "2.1", "value": f"d{n}.example.com"}
        for n in range(2000)
    ]
    build = min(
        _timed(lambda: [stix2.parse(o, allow_custom=True) for o in observables]) for _ in range(5)
    )
    print(
        f"machine: orjson parses {count / parse:,.0f} objects/s; stix2 builds a domain-name in "
        f"{build / len(observables) * 1e6:.0f} µs ({os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.2f})",
        flush=True,
    )


def _timed(work: object) -> float:
    assert callable(work)
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _fresh_postgres(url: str) -> str:
    import psycopg

    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute("DROP DATABASE IF EXISTS cyberatlas_ingest_bench")
        connection.execute("CREATE DATABASE cyberatlas_ingest_bench")
    return url.rsplit("/", 1)[0] + "/cyberatlas_ingest_bench"


if __name__ == "__main__":
    main()
