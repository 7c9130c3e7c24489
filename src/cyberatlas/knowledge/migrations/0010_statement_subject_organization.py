"""The subject index ends with the organization: an import looks up what its organization
already said about each subject by the index alone, without reading other organizations' rows."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0009_implicit_first_versions")]

    operations = [
        migrations.RemoveIndex(model_name="statement", name="stmt_subject"),
        migrations.AddIndex(
            model_name="statement",
            index=models.Index(
                fields=["subject", "predicate", "created_at", "organization"], name="stmt_subject"
            ),
        ),
    ]
