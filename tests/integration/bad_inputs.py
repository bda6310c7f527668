"""The bad-input corpus: requests that must be refused, each with the status
and message it must get, and a few hostile strings that are valid and must be
stored literally.  Used by test_bad_inputs.py against the real stack.

Each case: id, method, path, headers (besides Host and Connection), body
(bytes), status, and message: the exact body (without its final newline)
for the service's own answers, or for nginx's answers (marked by="nginx")
the title of its error page.  stored: for accepted cases, the row that
must appear, exactly as sent.
"""

import json

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}

USERNAME_CHARS = "username: only letters, digits and @ . + - _ are allowed"
USERNAME_REQUIRED = "username: this field is required"
PASSWORD_REQUIRED = "password: this field is required"
EMAIL_NO_AT = "email: not a valid address (needs one @ between a name and a domain)"
EMAIL_BYTES = "email: not a valid address (spaces, control characters or invalid UTF-8)"
MEDIA = "Content-Type must be application/x-www-form-urlencoded or application/json"
NOT_ALLOWED = "method not allowed"
JSON_NUL = "JSON strings must not contain NUL (\\u0000)"
NO_FIELDS = ("the body names no field: send username and password"
             " (GET /create_user/ creates a random user)")
QUERY = "query parameters are not read: send username and password in a POST body"


def case(id, body=b"", status=400, message="", method="POST", path="/create_user/",
         headers=None, by="service", stored=None):
    if isinstance(body, str):
        body = body.encode()
    return {"id": id, "method": method, "path": path, "headers": headers or {},
            "body": body, "status": status, "message": message, "by": by, "stored": stored}


def form(id, body, message, status=400, **kw):
    return case(id, body, status, message, headers=dict(FORM), **kw)


def js(id, body, message, status=400, **kw):
    if not isinstance(body, (str, bytes)):
        body = json.dumps(body)
    return case(id, body, status, message, headers=dict(JSON), **kw)


CASES = [
    # usernames
    form("username-too-long", "username=" + "a" * 151 + "&password=x",
         "username: at most 150 characters"),
    form("username-far-too-long", "username=" + "a" * 5000 + "&password=x",
         "username: at most 150 characters"),
    form("username-empty", "username=&password=x", USERNAME_REQUIRED),
    form("username-missing", "password=x", USERNAME_REQUIRED),
    form("username-without-equals", "username&password=x", USERNAME_REQUIRED),
    form("username-space", "username=a+b&password=x", USERNAME_CHARS),
    form("username-slash", "username=a%2Fb&password=x", USERNAME_CHARS),
    form("username-double-quote", "username=a%22b&password=x", USERNAME_CHARS),
    form("username-single-quote", "username=o%27neil&password=x", USERNAME_CHARS),
    form("username-nul", "username=a%00b&password=x", USERNAME_CHARS),
    form("username-invalid-utf8", "username=a%C3%28&password=x", USERNAME_CHARS),
    form("username-non-ascii", "username=%C3%A9l%C3%A8ve&password=x", USERNAME_CHARS),
    form("username-newline", "username=a%0Ab&password=x", USERNAME_CHARS),
    form("username-sql-injection", "username=x%27%3B+DROP+TABLE+auth_user%3B--&password=x",
         USERNAME_CHARS),
    form("username-html", "username=%3Cscript%3E&password=x", USERNAME_CHARS),
    # emails
    form("email-without-at", "username=u1&email=nope&password=x", EMAIL_NO_AT),
    form("email-two-ats", "username=u1&email=a%40b%40c&password=x", EMAIL_NO_AT),
    form("email-at-first", "username=u1&email=%40example.com&password=x", EMAIL_NO_AT),
    form("email-at-last", "username=u1&email=a%40&password=x", EMAIL_NO_AT),
    form("email-too-long", "username=u1&email=" + "a" * 243 + "%40example.com&password=x",
         "email: at most 254 bytes"),
    form("email-space", "username=u1&email=a+b%40example.com&password=x", EMAIL_BYTES),
    form("email-control", "username=u1&email=a%01b%40example.com&password=x", EMAIL_BYTES),
    form("email-invalid-utf8", "username=u1&email=%C0%AF%40example.com&password=x", EMAIL_BYTES),
    form("email-utf16-surrogate", "username=u1&email=%ED%A0%80%40example.com&password=x",
         EMAIL_BYTES),
    # passwords
    form("password-empty", "username=u1&password=", PASSWORD_REQUIRED),
    form("password-missing", "username=u1", PASSWORD_REQUIRED),
    form("password-nul", "username=u1&password=ab%00cd", "password: must not contain NUL bytes"),
    form("password-over-libxcrypt-limit", "username=u1&password=" + "p" * 512,
         "password: at most 511 bytes"),
    form("password-4096", "username=u1&password=" + "p" * 4096, "password: at most 511 bytes"),
    # Django decodes a form as UTF-8 (U+FFFD for the rest): it could never log these in.
    form("password-invalid-utf8", "username=u1&password=%FF%FEpw", "password: must be UTF-8"),
    form("password-overlong-utf8", "username=u1&password=%C0%AFpw", "password: must be UTF-8"),
    form("password-utf16-surrogate", "username=u1&password=%ED%A0%80", "password: must be UTF-8"),
    js("json-password-lone-surrogate", '{"username": "u1", "password": "\\ud800"}',
       "malformed JSON"),
    form("password-1mb", "username=u1&password=" + "p" * (1 << 20), "413 Request Entity Too Large",
         status=413, by="nginx"),
    # form syntax
    form("percent-not-hex", "username=%zz&password=x", "malformed form body: bad percent-encoding"),
    form("percent-truncated", "username=ab%4", "malformed form body: bad percent-encoding"),
    form("percent-alone", "username=ab%&password=x", "malformed form body: bad percent-encoding"),
    form("percent-in-name", "user%zzname=a&password=x", "malformed form body: bad percent-encoding"),
    form("repeated-username", "username=a&username=b&password=x", "username: given more than once"),
    form("repeated-password", "username=a&password=x&password=y", "password: given more than once"),
    form("unknown-field", "username=a&password=x&is_superuser=1",
         'unknown field "is_superuser": expected username, email, password'),
    form("unknown-field-encoded-quote", "username=a&password=x&%22%0A=1",
         'unknown field "??": expected username, email, password'),
    form("form-body-over-limit", "username=a&password=x&" + "z" * 70000,
         "413 Request Entity Too Large", status=413, by="nginx"),
    # JSON
    js("json-truncated", '{"username": "bob"', "malformed JSON"),
    js("json-truncated-key", '{"username":', "malformed JSON"),
    js("json-single-brace", "{", "malformed JSON"),
    js("json-trailing-garbage", '{"username": "bob", "password": "x"} x', "malformed JSON"),
    js("json-single-quotes", "{'username': 'bob'}", "malformed JSON"),
    js("json-not-json", "username=bob&password=x", "malformed JSON"),
    js("json-array", '["bob"]', "JSON body must be an object, not array"),
    js("json-string", '"bob"', "JSON body must be an object, not text"),
    js("json-number", "42", "JSON body must be an object, not integer"),
    js("json-null", "null", "JSON body must be an object, not null"),
    js("json-password-integer", {"username": "bob2", "password": 12345},
       "password: must be a JSON string, not integer"),
    js("json-password-real", {"username": "bob2", "password": 1.5},
       "password: must be a JSON string, not real"),
    js("json-username-null", {"username": None, "password": "x"},
       "username: must be a JSON string, not null"),
    js("json-username-true", {"username": True, "password": "x"},
       "username: must be a JSON string, not true"),
    js("json-username-object", {"username": {"a": 1}, "password": "x"},
       "username: must be a JSON string, not object"),
    js("json-username-array", {"username": ["a"], "password": "x"},
       "username: must be a JSON string, not array"),
    js("json-repeated-key", '{"username": "a", "username": "b", "password": "x"}',
       "username: given more than once"),
    js("json-unknown-key", {"username": "a", "password": "x", "is_staff": True},
       'unknown field "is_staff": expected username, email, password'),
    # A NUL would cut a C string short (crypt() takes one): refused whole.
    js("json-username-nul", '{"username": "a\\u0000b", "password": "x"}', JSON_NUL),
    js("json-key-nul", '{"username": "a", "password\\u0000x": "x"}', JSON_NUL),
    js("json-raw-nul-byte", b'{"username": "a", "password": "x\x00y"}', JSON_NUL),
    js("json-escaped-backslash-u0000-is-text", '{"username": "a\\\\u0000", "password": "x"}',
       USERNAME_CHARS),
    js("json-username-too-long", {"username": "a" * 151, "password": "x"},
       "username: at most 150 characters"),
    # JSON text is UTF-8 (RFC 8259): the parser refuses the body before any field is read.
    js("json-email-invalid-utf8", b'{"username": "u2", "email": "\xc3\x28@x.org", "password": "x"}',
       "malformed JSON: invalid UTF-8"),
    js("json-password-nul", '{"username": "u2", "password": "x\\u0000y"}', JSON_NUL),
    js("json-body-over-limit", {"username": "a", "password": "x", "pad": "z" * 70000},
       "413 Request Entity Too Large", status=413, by="nginx"),
    # bodies that name no field: refused, never a random user
    case("post-empty-no-type", "", 400, NO_FIELDS),
    form("post-empty-form", "", NO_FIELDS),
    form("post-form-ampersand", "&", NO_FIELDS),
    form("post-form-ampersands", "&&", NO_FIELDS),
    js("post-json-empty-object", {}, NO_FIELDS),
    case("post-empty-json", "", 400, NO_FIELDS, headers=dict(JSON)),
    # query parameters are never read
    case("get-query-fields", "", 400, QUERY, method="GET",
         path="/create_user/?username=x&password=y"),
    case("get-query-anything", "", 400, QUERY, method="GET", path="/create_user/?x"),
    form("post-query-and-body", "username=q1&password=x", QUERY,
         path="/create_user/?username=x"),
    # Content-Type
    case("content-type-text", "username=a&password=x", 415, MEDIA,
         headers={"Content-Type": "text/plain"}),
    case("content-type-xml", "<user/>", 415, MEDIA, headers={"Content-Type": "application/xml"}),
    case("content-type-multipart", "--b\r\n\r\n--b--", 415, MEDIA,
         headers={"Content-Type": "multipart/form-data; boundary=b"}),
    case("content-type-missing", "username=a&password=x", 415, MEDIA),
    case("content-type-jsonp", '{"username": "a"}', 415, MEDIA,
         headers={"Content-Type": "application/jsonp"}),
    # methods and paths
    case("method-put", "", 405, NOT_ALLOWED, method="PUT"),
    case("method-delete", "", 405, NOT_ALLOWED, method="DELETE"),
    case("method-patch", "username=a&password=x", 405, NOT_ALLOWED, method="PATCH", headers=FORM),
    case("method-unknown", "", 405, NOT_ALLOWED, method="BREW"),
    case("method-trace", "", 405, "405 Not Allowed", method="TRACE", by="nginx"),
    case("method-not-a-token", "", 400, "400 Bad Request", method="G(T", by="nginx"),
    case("healthz-post", "", 405, NOT_ALLOWED, path="/healthz"),
    case("path-unknown", "", 404, "not found", method="GET", path="/admin/"),
    case("path-database-file", "", 404, "not found", method="GET", path="/db.sqlite3"),
    case("path-traversal", "", 400, "400 Bad Request", method="GET", path="/../db.sqlite3",
         by="nginx"),
    case("path-encoded-nul", "", 400, "400 Bad Request", method="GET", path="/create_user/%00",
         by="nginx"),
    # sizes of the request line and headers
    case("url-10k", "", 414, "414 Request-URI Too Large", method="GET",
         path="/create_user/?" + "a" * 10000, by="nginx"),
    case("url-1m", "", 414, "414 Request-URI Too Large", method="GET",
         path="/" + "a" * (1 << 20), by="nginx"),
    case("header-10k", "", 400, "400 Request Header Or Cookie Too Large", method="GET",
         path="/healthz", headers={"X-Big": "b" * 10000}, by="nginx"),
    case("cookie-20k", "", 400, "400 Request Header Or Cookie Too Large", method="GET",
         path="/healthz", headers={"Cookie": "c=" + "c" * 20000}, by="nginx"),
    case("content-length-not-a-number", "", 400, "400 Bad Request",
         headers={"Content-Length": "abc", **FORM}, by="nginx"),
    # hostile strings that are valid: stored exactly as sent, never run as SQL
    form("sql-injection-in-email-stored-literally",
         "username=bobby.tables&email=x%27%29%3BDROP%2F**%2FTABLE%2F**%2Fauth_user%3B--%40example.com"
         "&password=%27+OR+%271%27%3D%271",
         "", status=200, stored=("bobby.tables", "x');DROP/**/TABLE/**/auth_user;--@example.com")),
    js("sql-injection-json-stored-literally",
       {"username": "robert@x.org", "email": "\";DELETE/**/FROM/**/auth_user;--@example.com",
        "password": "'); DROP TABLE auth_user; --"},
       "", status=200, stored=("robert@x.org", "\";DELETE/**/FROM/**/auth_user;--@example.com")),
    # the domain lowercased, as Django's normalize_email does; the name kept
    form("email-domain-lowercased", "username=case.domain&email=Bob.X%40Example.COM&password=x",
         "", status=200, stored=("case.domain", "Bob.X@example.com")),
    form("password-511-bytes-accepted", "username=longpw&password=" + "p" * 511, "",
         status=200, stored=("longpw", "")),
]
