"""Print the permission catalog as Markdown, or refresh its generated section in docs/access.md."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from apps.access.docs import render_catalog, with_generated_section


class Command(BaseCommand):
    help = "Render the permission catalog and built-in roles (docs/access.md's generated section)."

    def add_arguments(self, parser):
        parser.add_argument("--write", action="store_true", help="Rewrite the section in docs/access.md.")

    def handle(self, *args, write: bool, **options):
        if not write:
            self.stdout.write(render_catalog())
            return
        path = Path(settings.BASE_DIR) / "docs" / "access.md"
        path.write_text(with_generated_section(path.read_text()))
        self.stdout.write(f"wrote {path}")
