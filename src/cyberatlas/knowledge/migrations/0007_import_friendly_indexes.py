"""Cheaper writes for large imports, with the same reads.

- Statement ids are time-ordered (``core/ids.py``): inserts append to the primary key and to
  every index that holds a statement id (versions, grants, the arrival index).
- The single-column indexes Django makes for a foreign key are dropped where a composite index
  already leads with that column (``stmt_subject``, ``stmt_object``, ``stmt_org``,
  ``unique_version``, ``unique_grant``), with PostgreSQL's ``varchar_pattern_ops`` twins.

The model state changes through ``AlterField``; the database only loses indexes (SQLite would
otherwise rebuild the statement table, dropping the search triggers of migration 0003).
"""

import django.db.models.deletion
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

import cyberatlas.core.ids

# (table, column) whose lone foreign-key index goes.
COVERED = [
    ("knowledge_statement", "subject_id"),
    ("knowledge_statement", "object_id"),
    ("knowledge_statement", "organization_id"),
    ("knowledge_statementversion", "statement_id"),
    ("knowledge_grant", "statement_id"),
]


def _lone_indexes(schema_editor: BaseDatabaseSchemaEditor, table: str, column: str) -> list[str]:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return [
        name
        for name, found in constraints.items()
        if found["index"]
        and not found["unique"]
        and not found["primary_key"]
        and found["columns"] == [column]
    ]


def drop(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    quote = schema_editor.quote_name
    for table, column in COVERED:
        for name in _lone_indexes(schema_editor, table, column):
            schema_editor.execute(f"DROP INDEX {quote(name)}")


def restore(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    quote = schema_editor.quote_name
    for table, column in COVERED:
        if not _lone_indexes(schema_editor, table, column):
            name = quote(f"{table}_{column}_restored")
            schema_editor.execute(f"CREATE INDEX {name} ON {quote(table)} ({quote(column)})")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("knowledge", "0006_statement_arrival_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="grant",
                    name="statement",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="grants",
                        to="knowledge.statement",
                    ),
                ),
                migrations.AlterField(
                    model_name="statement",
                    name="id",
                    field=models.UUIDField(
                        default=cyberatlas.core.ids.ordered_uuid,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                migrations.AlterField(
                    model_name="statement",
                    name="object",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="incoming",
                        to="knowledge.entity",
                    ),
                ),
                migrations.AlterField(
                    model_name="statement",
                    name="organization",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="statements",
                        to="accounts.organization",
                    ),
                ),
                migrations.AlterField(
                    model_name="statement",
                    name="subject",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="statements",
                        to="knowledge.entity",
                    ),
                ),
                migrations.AlterField(
                    model_name="statementversion",
                    name="statement",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="versions",
                        to="knowledge.statement",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop, restore)],
        ),
    ]
