"""What the settings of the reference Django apps (compareapp, matrixapp)
share: a measurement on loopback, with DEBUG off as in production (DEBUG
keeps every query in memory, and its error pages cost more than the
error), and each view's exception logged by django.request on stderr, one
traceback each, which gunicorn's error log keeps: make compare names the
causes of Django's 500s from there."""

# A throwaway key: the apps serve loopback only, for a measurement.
SECRET_KEY = "compare-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["stderr"], "level": "ERROR",
                                   "propagate": False}},
}
