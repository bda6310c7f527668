"""The seed's view: read ten users, then create one, in one transaction."""

import secrets

from django.contrib.auth.models import User
from django.db import transaction
from django.http import HttpResponse
from django.urls import path


@transaction.atomic
def create_user(request):
    # A deferred BEGIN under Django's defaults: this read takes a SHARED lock
    # (or a WAL snapshot) that the INSERT below must then upgrade.
    for _ in User.objects.all()[:10]:
        pass
    name = secrets.token_hex(8)
    password = secrets.token_urlsafe(12)
    User.objects.create_user(name, f"{name}@example.com", password)
    return HttpResponse(f"User created, num users: {User.objects.count()}")


urlpatterns = [path("create_user/", create_user)]
