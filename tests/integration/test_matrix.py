"""Upstream's endpoint matrix (docs/matrix.md) through the real stack: every
endpoint on both profiles and on PostgreSQL, the form's refusals, floats as
Python's float() reads them, the table as Django's own migrate creates it,
and under load: Django's defaults fail read_write_transaction/ with
"database is locked", tuned and PostgreSQL fail nothing, and every stack
holds exactly the rows it acknowledged."""

import math
import os
import sqlite3
import subprocess
import sys
from urllib.parse import urlencode

import pytest
import requests

from bench.harness import locust
from bench.harness.matrix import READS, WRITES
from bench.harness.paths import MATRIX_LOCUSTFILE
from tests.harness.metrics import busy_count, scrape
from bench.harness.stack import BINARY, ROOT

DJANGO_DIR = ROOT / "bench" / "django"

ROW = {"name": "Name 0", "campaign": "Campaign 0", "voice": "Voice 0",
       "recognize": "Recognize 0", "inside": 0, "growth": "Growth 0", "side": 0,
       "yard": "Yard 0", "discussion": "Discussion 0"}
COLUMNS = ("name", "campaign", "voice", "recognize", "inside", "growth", "side", "yard",
           "discussion")
JSON = {"Accept": "application/json"}


def stack_settings(engine, request):
    """WORKERS=2 and the engine's settings: a profile, or a fresh PostgreSQL database."""
    if engine == "postgresql":
        server = request.getfixturevalue("postgres_server")
        return {"WORKERS": 2, "DATABASE_URL": server.url(server.new_database())}
    return {"WORKERS": 2, "SQLITE_PROFILE": engine}


def stored_rows(stack, engine, request):
    """Every row of basic_model_row, id first, in id order (floats as floats)."""
    sql = f"SELECT id, {', '.join(COLUMNS)} FROM basic_model_row ORDER BY id"
    if engine != "postgresql":
        return [tuple(r) for r in stack.query(sql)]
    server = request.getfixturevalue("postgres_server")
    db = stack.env["DATABASE_URL"].rsplit("/", 1)[1]
    return [(int(r[0]), *r[1:5], float(r[5]), r[6], float(r[7]), *r[8:])
            for r in server.psql(sql, db)]


@pytest.mark.parametrize("engine", ["tuned", "django-default", "postgresql"])
def test_every_endpoint_answers_ok_and_writes_its_row(engine, make_stack, request):
    s = make_stack(**stack_settings(engine, request))
    for path in READS:
        r = s.get(path)
        assert (r.status_code, r.text, r.headers["Content-Type"]) == (
            200, "OK", "text/plain; charset=utf-8")
    answers = {}
    for path in WRITES:
        r = s.post(path, data=ROW)
        assert (r.status_code, r.text) == (200, "OK"), path
        r = s.post(path, data=dict(ROW, name=path), headers=JSON)
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
        answers[path] = r.json()
    # Each write's id, and what each read saw: before its write, or after.
    assert [a["row_id"] for a in answers.values()] == [2, 4, 6, 8, 10, 12]
    assert {p: a.get("rows_read") for p, a in answers.items()} == {
        "/write/": None, "/read_write/": 3, "/write_read/": 6,
        "/write_read_transaction/": 8, "/read_write_transaction/": 9,
        "/read_write_transaction_immediate/": 10}
    for path in READS:
        assert s.get(path, headers=JSON).json() == {"rows_read": 10}
    rows = stored_rows(s, engine, request)
    assert [r[0] for r in rows] == list(range(1, 13))
    expected = tuple(float(v) if k in ("inside", "side") else v for k, v in ROW.items())
    assert all(r[1:] == expected for r in rows[0::2])
    assert [r[1] for r in rows[1::2]] == list(WRITES)
    # Each route counted on its own: twice, in text then in JSON.
    samples = scrape(s)
    for path in READS + WRITES:
        assert samples[("sqlite_fcgi_requests_total",
                        (("route", path), ("status", "200")))] == 2


def form(**changes):
    """ROW as a form body, with fields changed (None: left out)."""
    fields = {k: v for k, v in dict(ROW, **changes).items() if v is not None}
    return urlencode(fields)


FORM = {"Content-Type": "application/x-www-form-urlencoded"}
REFUSALS = [
    ("/write/", form(yard=None), FORM, 400, "yard: this field is required"),
    ("/write/", "", FORM, 400, "name: this field is required"),
    ("/write/", form() + "&id=7", FORM, 400, 'unknown field "id": expected name, campaign,'
     " voice, recognize, inside, growth, side, yard, discussion"),
    ("/read_write/", form() + "&name=again", FORM, 400, "name: given more than once"),
    ("/write_read/", form(inside="1,5"), FORM, 400,
     "inside: not a number: expected a decimal such as 1.5, -2 or 3e-4"),
    ("/write_read_transaction/", form(side="nan"), FORM, 400,
     "side: must be finite: nan, inf and numbers past 1.8e308 are refused"),
    ("/read_write_transaction/", form(side="-Infinity"), FORM, 400,
     "side: must be finite: nan, inf and numbers past 1.8e308 are refused"),
    ("/read_write_transaction_immediate/", form(inside="1e400"), FORM, 400,
     "inside: must be finite: nan, inf and numbers past 1.8e308 are refused"),
    ("/write/", form().replace("Voice+0", "Voice%FF"), FORM, 400, "voice: not valid UTF-8"),
    ("/write/", form().replace("Voice+0", "Voice%00"), FORM, 400,
     "voice: must not contain NUL bytes"),
    ("/write/", form().replace("Voice+0", "Voice%G0"), FORM, 400,
     "malformed form body: bad percent-encoding"),
    ("/write/", '{"name": "x"}', {"Content-Type": "application/json"}, 415,
     "Content-Type must be application/x-www-form-urlencoded"),
]


@pytest.mark.parametrize("path,body,headers,status,message", REFUSALS)
def test_bad_fields_are_refused_and_write_nothing(stack, path, body, headers, status, message):
    before = stack.query("SELECT COUNT(*) FROM basic_model_row")
    r = stack.post(path, data=body.encode(), headers=headers)
    assert (r.status_code, r.text) == (status, message + "\n")
    r = stack.post(path, data=body.encode(), headers=dict(headers, **JSON))
    assert (r.status_code, r.json()) == (status, {"error": message})
    assert stack.query("SELECT COUNT(*) FROM basic_model_row") == before


def test_methods_and_query_strings(stack):
    r = stack.get("/write/")
    assert (r.status_code, r.headers["Allow"]) == (405, "POST, OPTIONS")
    r = stack.post("/read/", data=ROW)
    assert (r.status_code, r.headers["Allow"]) == (405, "GET, HEAD, OPTIONS")
    r = requests.options(stack.url("/read_write_transaction/"), timeout=30)
    assert (r.status_code, r.headers["Allow"]) == (204, "POST, OPTIONS")
    r = stack.post("/write/?name=x", data=ROW)
    assert (r.status_code, r.text) == (
        400, "query parameters are not read: send the fields in a form body\n")
    assert stack.get("/read/?page=2").status_code == 400
    head = requests.head(stack.url("/read_transaction/"), timeout=30)
    assert (head.status_code, head.content) == (200, b"")


# Python's float() takes each of these; the service stores the same double.
FLOATS = ["0", "-0", "1.5", " 2.5\t", "+4", "1_000", "1_000.000_5", ".5", "5.", "1e3",
          "1E-3", "1_0e1_0", "0.1", "1.7976931348623157e308", "1e-400",
          "4.9406564584124654e-324", "123456789012345678901234567890"]
# And refuses these, or reads them as nan or inf, which the service refuses.
NOT_FLOATS = ["", "abc", "1,5", "0x10", "1_", "_1", "1__0", "1._5", ".", "e3", "1e",
              "--1", "1 2", "nan", "-inf", "Infinity", "1e400", "-1e309"]


def python_float(text):
    """float(text), or None when Python refuses it or reads nan or inf."""
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def test_floats_are_read_as_pythons_float_reads_them(stack):
    for text in FLOATS + NOT_FLOATS:
        want = python_float(text)
        r = stack.post("/write/", data=form(inside=text, name=f"float {text!r}"),
                       headers=dict(FORM, **JSON))
        if want is None:
            assert r.status_code == 400 and r.json()["error"].startswith("inside: "), text
            continue
        assert r.status_code == 200, (text, r.text)
        stored = stack.query("SELECT inside FROM basic_model_row WHERE id = ?", r.json()["row_id"])
        assert stored == [(want,)], text
    # Python also takes other Unicode digits and spaces; the service ASCII ones only.
    assert python_float("\u0661") == 1.0
    assert stack.post("/write/", data=form(inside="\u0661"), headers=FORM).status_code == 400


def django_migrate(env):
    """Django's own migrate of bench/django's matrixapp (basic_model's Row)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("COMPARE_")}
    full.update(env, DJANGO_SETTINGS_MODULE="matrixapp.settings", PYTHONPATH=str(DJANGO_DIR))
    result = subprocess.run([sys.executable, "-m", "django", "migrate", "--noinput", "-v", "0"],
                            cwd=DJANGO_DIR, env=full, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def sqlite_fcgi_migrate(**env):
    full = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DB_PATH")}
    full.update(env)
    result = subprocess.run([str(BINARY), "migrate"], env=full, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr


def table_sql(path):
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT type, sql FROM sqlite_master WHERE tbl_name ="
                           " 'basic_model_row'").fetchall()
    finally:
        con.close()


def test_the_sqlite_table_is_djangos_own(tmp_path):
    django_migrate({"COMPARE_DB_PATH": str(tmp_path / "django.sqlite3")})
    sqlite_fcgi_migrate(DB_PATH=str(tmp_path / "ours.sqlite3"))
    ours = table_sql(tmp_path / "ours.sqlite3")
    assert ours == table_sql(tmp_path / "django.sqlite3")
    assert len(ours) == 1 and ours[0][0] == "table"


def pg_columns(server, db):
    """Each column of basic_model_row: name, type, nullability, and how the id is made."""
    rows = server.psql(
        "SELECT column_name, data_type, is_nullable, coalesce(column_default, ''),"
        " coalesce(identity_generation, '') FROM information_schema.columns"
        " WHERE table_name = 'basic_model_row' ORDER BY ordinal_position", db)
    # Django 3.2 makes the id a bigserial (a sequence as its default), 4.1 and later
    # (upstream's 5.0, and sqlite-fcgi, as for auth_user) an identity: both generate it.
    return [(name, kind, null, "generated" if (default.startswith("nextval(") or
                                               identity == "BY DEFAULT") else default)
            for name, kind, null, default, identity in rows]


def pg_constraints(server, db):
    return server.psql("SELECT conname, contype FROM pg_constraint WHERE conrelid ="
                       " 'basic_model_row'::regclass ORDER BY 1", db)


def test_the_postgresql_table_is_djangos_own_and_a_django_database_is_migrated(postgres_server):
    django_db, ours = postgres_server.new_database(), postgres_server.new_database()
    django_migrate({"COMPARE_DATABASE_URL": postgres_server.url(django_db)})
    sqlite_fcgi_migrate(DATABASE_URL=postgres_server.url(ours))
    assert pg_columns(postgres_server, ours) == pg_columns(postgres_server, django_db)
    assert pg_columns(postgres_server, ours)[0] == ("id", "bigint", "NO", "generated")
    assert pg_constraints(postgres_server, ours) == pg_constraints(postgres_server, django_db)
    # A version 1 database (before the matrix) gains the table; one Django
    # migrated keeps Django's.
    postgres_server.psql("DROP TABLE basic_model_row;"
                         " DELETE FROM sqlitefcgi_schema_version WHERE version = 2", ours)
    sqlite_fcgi_migrate(DATABASE_URL=postgres_server.url(ours))
    assert pg_columns(postgres_server, ours)[0] == ("id", "bigint", "NO", "generated")
    sqlite_fcgi_migrate(DATABASE_URL=postgres_server.url(django_db))
    assert postgres_server.value("SELECT column_default FROM information_schema.columns WHERE"
                                 " table_name = 'basic_model_row' AND column_name = 'id'",
                                 django_db).startswith("nextval(")


def run_mix(stack, out, users=20, duration="6s"):
    """Upstream's mix (bench/load/matrix_locustfile.py) through nginx; the CSV prefix."""
    prefix = out / "mix"
    result = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(MATRIX_LOCUSTFILE), "--headless",
         "-u", str(users), "-r", str(users), "-t", duration, "--stop-timeout", "60",
         "--host", stack.url("/"), "--csv", str(prefix), "--only-summary"],
        cwd=MATRIX_LOCUSTFILE.parent, capture_output=True, text=True, timeout=180)
    assert os.path.exists(f"{prefix}_final_stats.csv"), result.stderr[-3000:]
    return prefix


def acknowledged_writes(prefix):
    """The writes locust saw answered 200 "OK", over the six write endpoints."""
    total = 0
    for path in WRITES:
        t = locust.totals(prefix, path)
        total += t.requests - t.failures
    return total


@pytest.mark.parametrize("engine", ["django-default", "tuned", "postgresql"])
def test_upstreams_mix_fails_only_under_djangos_defaults(engine, make_stack, request,
                                                         tmp_path):
    s = make_stack(**dict(stack_settings(engine, request), WORKERS=3))
    prefix = run_mix(s, tmp_path)
    total = locust.totals(prefix)
    failures = locust.failures(prefix)
    assert total.requests > 500
    # Every row is an acknowledged write, and every acknowledged write a row.
    assert len(stored_rows(s, engine, request)) == acknowledged_writes(prefix)
    if engine != "django-default":
        assert total.failures == 0, failures
        return
    # Upstream's failure, and only it: the deferred transaction that read first.
    assert set(failures) == {"503 database is locked"}, failures
    assert locust.totals(prefix, "/read_write_transaction/").failures == total.failures > 0
    assert busy_count(scrape(s), "SQLITE_BUSY") == total.failures
    assert "/read_write_transaction/: insert: database is locked (SQLITE_BUSY" in s.app_log()
