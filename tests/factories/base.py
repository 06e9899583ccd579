import factory


class TenantModelFactory(factory.django.DjangoModelFactory):
    """Factories create through the model's named `all_…` manager: `objects` refuses unscoped use."""

    class Meta:
        abstract = True

    @classmethod
    def _get_manager(cls, model_class):
        return model_class._default_manager
