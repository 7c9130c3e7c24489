"""Version 1 of a statement never changed is the statement row itself: drop its copies."""

from django.db import migrations

FORWARD = """
DELETE FROM knowledge_statementversion
WHERE number = 1
  AND statement_id IN (SELECT id FROM knowledge_statement WHERE version = 1)
"""

# Back: every statement still at version 1 gets its version row again.
BACKWARD = """
INSERT INTO knowledge_statementversion (
    statement_id, number, change, edited_by_id, edited_at, note, value, object_id, marking,
    investigation_id, source, evidence, first_seen, last_seen, confidence, source_grade,
    information_grade, retracted
)
SELECT id, 1, 'created', author_id, created_at, '', value, object_id, marking,
       investigation_id, source, evidence, first_seen, last_seen, confidence, source_grade,
       information_grade, retracted
FROM knowledge_statement s
WHERE version = 1
  AND NOT EXISTS (
      SELECT 1 FROM knowledge_statementversion v WHERE v.statement_id = s.id AND v.number = 1
  )
"""


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0008_postgres_pattern_indexes")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
