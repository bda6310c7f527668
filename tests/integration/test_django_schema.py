"""sqlite-fcgi's auth_user against the one Debian's Django (python3-django)
creates with its own `migrate`, on both engines: a minimal Django project
migrates a temporary SQLite file and a temporary PostgreSQL database, and
`sqlite-fcgi migrate` another of each. The tables must be the same: columns
in order with their types, lengths, nullability and defaults, keys, unique
constraints and indexes, read from the databases, not written here."""

import os
import sqlite3
import subprocess

from bench.harness.postgres import PASSWORD, ROLE
from bench.harness.stack import BINARY
from bench.harness.settings import without_settings

PYTHON = "/usr/bin/python3"  # Debian's, with python3-django and python3-psycopg2

# The smallest project whose migrate creates auth_user (auth needs contenttypes).
PROJECT = """SECRET_KEY = "schema-test-only"
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
DATABASES = {{"default": {database!r}}}
"""


def django_migrate(tmp_path, database):
    """Django's own migrate into database (a DATABASES entry)."""
    project = tmp_path / "djangoproject"
    project.mkdir()
    (project / "schema_settings.py").write_text(PROJECT.format(database=database))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO")}
    env.update(DJANGO_SETTINGS_MODULE="schema_settings", PYTHONPATH=str(project))
    r = subprocess.run([PYTHON, "-m", "django", "migrate", "--noinput", "-v", "0"], cwd=project,
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def sqlite_fcgi_migrate(**settings):
    env = without_settings(os.environ)
    env.update({k: str(v) for k, v in settings.items()})
    r = subprocess.run([str(BINARY), "migrate"], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr


def sqlite_auth_user(path):
    """auth_user of the SQLite file at path: its CREATE TABLE, its columns
    (name, type, not null, default, primary key) and its indexes (name,
    unique, origin, columns)."""
    con = sqlite3.connect(path)
    try:
        [(sql,)] = con.execute("SELECT sql FROM sqlite_master"
                               " WHERE type = 'table' AND name = 'auth_user'").fetchall()
        columns = [row[1:] for row in con.execute("PRAGMA table_info('auth_user')")]
        indexes = sorted(
            (name, unique, origin,
             tuple(c for _, _, c in con.execute(f"PRAGMA index_info('{name}')")))
            for _, name, unique, origin, _ in con.execute("PRAGMA index_list('auth_user')"))
        return {"table": sql, "columns": columns, "indexes": indexes}
    finally:
        con.close()


def test_sqlite_auth_user_is_the_one_djangos_migrate_creates(tmp_path):
    django_db, ours = tmp_path / "django.sqlite3", tmp_path / "ours.sqlite3"
    django_migrate(tmp_path, {"ENGINE": "django.db.backends.sqlite3", "NAME": str(django_db)})
    sqlite_fcgi_migrate(DB_PATH=ours)
    django_table, our_table = sqlite_auth_user(django_db), sqlite_auth_user(ours)
    assert len(django_table["columns"]) == 11 and django_table["indexes"], django_table
    assert our_table == django_table


# Columns as information_schema describes them: name, type, length,
# nullable, default, identity; in their order in the table.
PG_COLUMNS = ("SELECT column_name, data_type, coalesce(character_maximum_length::text, ''),"
              " is_nullable, coalesce(column_default, ''), is_identity,"
              " coalesce(identity_generation, '')"
              " FROM information_schema.columns WHERE table_name = 'auth_user'"
              " ORDER BY ordinal_position")
PG_CONSTRAINTS = ("SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint"
                  " WHERE conrelid = 'auth_user'::regclass ORDER BY conname")
PG_INDEXES = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'auth_user' ORDER BY 1"


def generated_id(column):
    """The one difference allowed: Debian 12's Django (3.2) makes the id a
    serial (a sequence's nextval as its default), Django 4.1 and later an
    identity column, which sqlite-fcgi creates. Both give every INSERT
    without an id the next one; anything else about the column must match."""
    name, data_type, length, nullable, default, identity, generation = column
    if name == "id" and (default == "nextval('auth_user_id_seq'::regclass)"
                         or (identity, generation) == ("YES", "BY DEFAULT")):
        return [name, data_type, length, nullable, "generated", "", ""]
    return column


def pg_auth_user(server, db):
    return {"columns": [generated_id(c) for c in server.psql(PG_COLUMNS, db)],
            "constraints": server.psql(PG_CONSTRAINTS, db),
            "indexes": server.psql(PG_INDEXES, db)}


def test_postgresql_auth_user_is_the_one_djangos_migrate_creates(postgres_server, tmp_path):
    django_db, ours = postgres_server.new_database(), postgres_server.new_database()
    django_migrate(tmp_path, {"ENGINE": "django.db.backends.postgresql", "NAME": django_db,
                              "USER": ROLE, "PASSWORD": PASSWORD,
                              "HOST": postgres_server.host, "PORT": str(postgres_server.port)})
    sqlite_fcgi_migrate(DATABASE_URL=postgres_server.url(ours))
    django_table, our_table = pg_auth_user(postgres_server, django_db), pg_auth_user(
        postgres_server, ours)
    assert len(django_table["columns"]) == 11 and django_table["indexes"], django_table
    assert our_table == django_table
