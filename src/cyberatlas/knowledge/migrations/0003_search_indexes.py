"""Indexes for search (``knowledge/entities.py``): prefixes of keys and names, words of values.

Prefixes are searched as ranges, [prefix, successor), read in order so that a search stops
after ``limit`` hits:

- ``entity_key_prefix``: ``lower(key)``, then ``id``;
- ``stmt_name_prefix``: ``folded``, then ``subject_id``, of ``name`` and ``alias`` statements.

On PostgreSQL both are under the "C" collation, which orders text by code point as Python does
and as a prefix range needs; the database's own collation (``en_US.UTF-8``, ``C.UTF-8``…) may
do neither. SQLite compares text as bytes, which for UTF-8 is code point order too.

Words of property values:

- PostgreSQL: a GIN index over ``to_tsvector('simple', …)`` of the value with punctuation made
  spaces. The search writes the very same expression, or PostgreSQL does not use the index.
- SQLite: an FTS5 table over ``knowledge_statement.value`` (external content, by rowid), kept in
  step by triggers on insert, delete and change of value.

SQLite keeps none of this when Django rebuilds ``knowledge_statement`` or ``knowledge_entity``
to alter it (the model state does not know these indexes and triggers): a later migration that
alters either table on SQLite must run ``create_sqlite`` again (dropping first), which also
rebuilds the word index. Search stays exact without them, only slower or missing word hits.
"""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

SQLITE = [
    "CREATE INDEX entity_key_prefix ON knowledge_entity (lower(key), id)",
    "CREATE INDEX stmt_name_prefix ON knowledge_statement (folded, subject_id) "
    "WHERE predicate IN ('name', 'alias')",
    # Letters and digits make words, as in entities.words(); accents are kept, as PostgreSQL's
    # 'simple' configuration keeps them.
    "CREATE VIRTUAL TABLE knowledge_statement_words USING fts5(value, "
    "content='knowledge_statement', content_rowid='rowid', "
    "tokenize='unicode61 remove_diacritics 0')",
    "CREATE TRIGGER knowledge_statement_words_insert AFTER INSERT ON knowledge_statement "
    "BEGIN INSERT INTO knowledge_statement_words(rowid, value) VALUES (new.rowid, new.value); END",
    "CREATE TRIGGER knowledge_statement_words_delete AFTER DELETE ON knowledge_statement "
    "BEGIN INSERT INTO knowledge_statement_words(knowledge_statement_words, rowid, value) "
    "VALUES ('delete', old.rowid, old.value); END",
    "CREATE TRIGGER knowledge_statement_words_update AFTER UPDATE OF value ON knowledge_statement "
    "WHEN old.value IS NOT new.value "
    "BEGIN INSERT INTO knowledge_statement_words(knowledge_statement_words, rowid, value) "
    "VALUES ('delete', old.rowid, old.value); "
    "INSERT INTO knowledge_statement_words(rowid, value) VALUES (new.rowid, new.value); END",
    "INSERT INTO knowledge_statement_words(knowledge_statement_words) VALUES ('rebuild')",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS knowledge_statement_words_update",
    "DROP TRIGGER IF EXISTS knowledge_statement_words_delete",
    "DROP TRIGGER IF EXISTS knowledge_statement_words_insert",
    "DROP TABLE IF EXISTS knowledge_statement_words",
    "DROP INDEX IF EXISTS stmt_name_prefix",
    "DROP INDEX IF EXISTS entity_key_prefix",
]
POSTGRES = [
    'CREATE INDEX entity_key_prefix ON knowledge_entity ((lower(key) COLLATE "C"), id)',
    'CREATE INDEX stmt_name_prefix ON knowledge_statement ((folded COLLATE "C"), subject_id) '
    "WHERE predicate IN ('name', 'alias')",
    # entities.WORDS_OF_VALUE: keep both the same.
    "CREATE INDEX stmt_words ON knowledge_statement USING gin "
    "(to_tsvector('simple'::regconfig, regexp_replace(value, '[[:punct:]]+', ' ', 'g'))) "
    "WHERE object_id IS NULL",
]
POSTGRES_DROP = [
    "DROP INDEX IF EXISTS stmt_words",
    "DROP INDEX IF EXISTS stmt_name_prefix",
    "DROP INDEX IF EXISTS entity_key_prefix",
]


def _run(schema_editor: BaseDatabaseSchemaEditor, statements: dict[str, list[str]]) -> None:
    for sql in statements.get(schema_editor.connection.vendor, []):
        schema_editor.execute(sql, params=None)


def create_sqlite(schema_editor: BaseDatabaseSchemaEditor) -> None:
    _run(schema_editor, {"sqlite": SQLITE_DROP + SQLITE})


def create(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _run(schema_editor, {"sqlite": SQLITE, "postgresql": POSTGRES})


def drop(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _run(schema_editor, {"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP})


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0002_audit_append_only")]

    operations = [migrations.RunPython(create, drop)]
