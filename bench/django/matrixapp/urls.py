"""Upstream's eight views (django-sqlite-dblock's djangosqlite/urls.py),
written again: the same reads, writes and transaction shapes.

A read is Row.objects.all()[:10], whole rows; a write creates one Row from
the POSTed form fields, the two float fields through float(). Every view
answers "OK". A missing field or a value float() refuses raises, and Django
answers 500, as upstream's do.
"""

from django.db import connection, transaction
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from basic_model.models import Row

TEXT_FIELDS = ("name", "campaign", "voice", "recognize", "growth", "yard", "discussion")
FLOAT_FIELDS = ("inside", "side")


def read_rows():
    return list(Row.objects.all()[:10])


def create_row(form):
    values = {f: form[f] for f in TEXT_FIELDS}
    values.update({f: float(form[f]) for f in FLOAT_FIELDS})
    Row.objects.create(**values)


def ok():
    return HttpResponse("OK")


# Autocommit: each statement is a transaction of its own.
def read(_request):
    read_rows()
    return ok()


@csrf_exempt
def write(request):
    create_row(request.POST)
    return ok()


@csrf_exempt
def read_write(request):
    read_rows()
    create_row(request.POST)
    return ok()


@csrf_exempt
def write_read(request):
    create_row(request.POST)
    read_rows()
    return ok()


# transaction.atomic: Django's BEGIN (deferred, unless the backend says otherwise).
@transaction.atomic
def read_transaction(_request):
    read_rows()
    return ok()


@csrf_exempt
@transaction.atomic
def write_read_transaction(request):
    create_row(request.POST)
    read_rows()
    return ok()


@csrf_exempt
@transaction.atomic
def read_write_transaction(request):
    # Under Django's defaults this is the failure: the read takes a read
    # lock (a snapshot in WAL) that the write must then upgrade.
    read_rows()
    create_row(request.POST)
    return ok()


@csrf_exempt
def read_write_transaction_immediate(request):
    # Upstream's answer without a custom backend: BEGIN IMMEDIATE by hand.
    with connection.cursor() as cursor:
        cursor.execute("BEGIN IMMEDIATE")
    read_rows()
    create_row(request.POST)
    with connection.cursor() as cursor:
        cursor.execute("COMMIT")
    return ok()


urlpatterns = [path(f"{view.__name__}/", view) for view in (
    read, write, read_write, write_read, read_transaction, write_read_transaction,
    read_write_transaction, read_write_transaction_immediate)]
