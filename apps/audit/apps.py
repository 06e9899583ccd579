from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Auth signals are third-party events (Django/allauth); this is the one place we listen to signals.
        from apps.audit import signals  # noqa: F401
