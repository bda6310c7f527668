"""The answers the workers gave, each at the position of the log where it
could first have reached the client.

The recorder logs the bytes of each FastCGI connection a worker accepted:
the request as read, and the answer just before it is written.  An answer's
position is the index of the record that completes its CGI header block
(the Status line and the blank line after the headers): nginx sends the
status to the client only once it has the whole header block, and the
record is logged before the bytes leave, after everything the worker did
first (its commit and the commit's sync).  So "answered 2xx at position P"
is exact: a crash at any point after P is a crash after the client may
have had the answer, and at any point up to P it is not.

Nothing here knows how many requests share a transaction: a group commit
that answers several requests after one COMMIT gives each its own answer
record, after that COMMIT's sync."""

import struct
from collections import namedtuple
from urllib.parse import parse_qs

from tests.powerloss.writelog import OP_ACCEPT, OP_CONN_READ, OP_CONN_WRITE, LogError

FCGI_HEADER = struct.Struct(">BBHHBx")
FCGI_BEGIN_REQUEST, FCGI_PARAMS, FCGI_STDIN, FCGI_STDOUT = 1, 4, 5, 6

# position: index of the answer's record; fields: the form body, one value a name.
Answer = namedtuple("Answer", "position pid status method uri fields")


class Connection:
    def __init__(self, pid):
        self.pid = pid
        self.request = bytearray()
        self.answer = bytearray()
        self.position = None  # the record that completed the answer's header block

    def answered(self, record):
        if self.position is not None:
            return
        self.answer += record.data
        if b"\r\n\r\n" in stdout(self.answer):
            self.position = record.index


def fcgi_records(stream):
    """(type, content) of each whole FastCGI record in stream."""
    pos = 0
    while pos + FCGI_HEADER.size <= len(stream):
        _version, rtype, _rid, length, padding = FCGI_HEADER.unpack_from(stream, pos)
        end = pos + FCGI_HEADER.size + length
        if end > len(stream):
            return
        yield rtype, bytes(stream[pos + FCGI_HEADER.size:end])
        pos = end + padding


def stdout(stream):
    return b"".join(c for t, c in fcgi_records(stream) if t == FCGI_STDOUT)


def fcgi_length(data, pos):
    """A name-value pair's length: one byte, or four with the top bit set."""
    if data[pos] < 0x80:
        return data[pos], pos + 1
    return struct.unpack_from(">I", data, pos)[0] & 0x7FFFFFFF, pos + 4


def fcgi_params(data):
    params, pos = {}, 0
    while pos < len(data):
        nlen, pos = fcgi_length(data, pos)
        vlen, pos = fcgi_length(data, pos)
        name, value = data[pos:pos + nlen], data[pos + nlen:pos + nlen + vlen]
        params[name.decode("latin-1")] = value.decode("latin-1")
        pos += nlen + vlen
    return params


def status_of(head):
    """The status of a CGI header block (200 when it names none)."""
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"status:"):
            return int(line.split()[1])
    return 200


def parse(conn):
    records = list(fcgi_records(conn.request))
    params = fcgi_params(b"".join(c for t, c in records if t == FCGI_PARAMS))
    body = b"".join(c for t, c in records if t == FCGI_STDIN).decode("utf-8", "replace")
    head = stdout(conn.answer).split(b"\r\n\r\n", 1)[0]
    fields = {k: v[0] for k, v in parse_qs(body).items()}
    return Answer(conn.position, conn.pid, status_of(head), params.get("REQUEST_METHOD"),
                  params.get("REQUEST_URI"), fields)


def answers(records):
    """Every answer whose header block the log holds, in log order."""
    conns, done = {}, []
    for r in records:
        if r.op == OP_ACCEPT:
            conns[(r.pid, r.fd)] = conn = Connection(r.pid)
            done.append(conn)
        elif r.op in (OP_CONN_READ, OP_CONN_WRITE):
            conn = conns.get((r.pid, r.fd))
            if conn is None:
                raise LogError(f"record {r.index}: a connection never accepted")
            if r.op == OP_CONN_READ:
                conn.request += r.data
            else:
                conn.answered(r)
    return sorted((parse(c) for c in done if c.position is not None),
                  key=lambda a: a.position)


def created_users(records):
    """{username: position} of the users whose creation was answered 2xx."""
    return {a.fields["username"]: a.position for a in answers(records)
            if 200 <= a.status < 300 and a.method == "POST"
            and (a.uri or "").startswith("/create_user/") and "username" in a.fields}
