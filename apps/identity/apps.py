from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "apps.identity"
    label = "identity"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Registers the OpenAPI descriptions of our authentication classes with drf-spectacular.
        from apps.identity.api import schema  # noqa: F401
