"""No query reads entities by their exact key (an observable's id is made from it, and search
reads ``lower(key)`` prefixes): its index only cost every new entity a random insert."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0010_statement_subject_organization")]

    operations = [migrations.RemoveIndex(model_name="entity", name="entity_key")]
