"""PostgreSQL: drop the ``varchar_pattern_ops`` twins Django makes for indexed text columns
where nothing matches patterns: entity ids and types, and version objects. Searching by the
start of a key or name has its own indexes (migration 0003); every other use of these columns is
an equality or a join. Each insert into the entity table writes two index entries fewer.
"""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

TWINS = [
    ("knowledge_entity", "id"),
    ("knowledge_entity", "type"),
    ("knowledge_statementversion", "object_id"),
]


def _twins(schema_editor: BaseDatabaseSchemaEditor) -> list[str]:
    connection = schema_editor.connection
    found = []
    with connection.cursor() as cursor:
        for table, column in TWINS:
            constraints = connection.introspection.get_constraints(cursor, table)
            found += [
                name
                for name, index in constraints.items()
                if index["index"]
                and not index["unique"]
                and index["columns"] == [column]
                and name.endswith("_like")
            ]
    return found


def drop(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in _twins(schema_editor):
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


def restore(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    present = set(_twins(schema_editor))
    for table, column in TWINS:
        name = f"{table}_{column}_like"
        if name not in present:
            schema_editor.execute(
                f"CREATE INDEX {quote(name)} ON {quote(table)} ({quote(column)} varchar_pattern_ops)"
            )


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0007_import_friendly_indexes")]

    operations = [migrations.RunPython(drop, restore)]
