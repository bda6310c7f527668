"""Every kind of request the service answers, valid and refused, as
(method, path, requests' keyword arguments): what the memory and thread
checkers (test_valgrind, test_tsan) send a worker.  Of these, 9 answer 200
(6 creations, /users/, /healthz, /metrics), and the others 400, 404, 405,
409 and 415."""

REQUESTS = [
    ("get", "/create_user/", {}),
    ("get", "/create_user/", {"headers": {"Accept": "application/json"}}),
    ("post", "/create_user/", {"data": {"username": "vg.form", "password": "pw",
                                        "email": "vg@example.com"}}),
    ("post", "/create_user/", {"json": {"username": "vg.json", "password": "pw"}}),
    ("post", "/create_user/", {"data": {"username": "vg.form", "password": "pw"}}),  # 409
    ("post", "/create_user/", {"data": {"username": "a b", "password": "pw"}}),
    ("post", "/create_user/", {"data": "username=%zz", "headers": {
        "Content-Type": "application/x-www-form-urlencoded"}}),
    ("post", "/create_user/", {"data": '{"username": "x"', "headers": {
        "Content-Type": "application/json"}}),
    ("post", "/create_user/", {"data": '{"username": "x\\u0000"}', "headers": {
        "Content-Type": "application/json"}}),
    ("post", "/create_user/", {"data": '[1, {"a": [null]}]', "headers": {
        "Content-Type": "application/json"}}),
    ("post", "/create_user/", {"json": {"username": 1, "password": "x"}}),
    ("post", "/create_user/", {"data": "<x/>", "headers": {"Content-Type": "text/xml"}}),
    ("post", "/create_user/", {"data": {"username": "u", "password": "p" * 600}}),
    ("delete", "/create_user/", {}),
    ("get", "/nope", {}),
    ("get", "/healthz", {}),
    ("get", "/metrics", {}),
    ("post", "/create_user/", {}),  # 400: a POST must name its fields
    ("get", "/users/", {"headers": {"Accept": "application/json"}}),
    ("get", "/create_user/", {}),
    ("post", "/create_user/", {"data": {"username": "vg.last", "password": "pw"}}),
]
