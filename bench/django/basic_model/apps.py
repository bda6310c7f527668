from django.apps import AppConfig


class BasicModelConfig(AppConfig):
    """The app of upstream's matrix (django-sqlite-dblock): its label makes
    the table basic_model_row, and its 64-bit auto field is the one upstream
    configures."""

    name = "basic_model"
    default_auto_field = "django.db.models.BigAutoField"
