"""docs/access.md's catalog tables are exactly what apps/access/catalog.py holds."""

from pathlib import Path

from django.conf import settings

from apps.access.docs import with_generated_section


def test_access_docs_render_the_current_catalog():
    document = (Path(settings.BASE_DIR) / "docs" / "access.md").read_text()
    assert with_generated_section(document) == document, "run `manage.py access_docs --write`"


def test_every_permission_is_documented():
    from apps.access import catalog

    document = (Path(settings.BASE_DIR) / "docs" / "access.md").read_text()
    assert all(f"`{key}`" in document for key in catalog.PERMISSIONS)
