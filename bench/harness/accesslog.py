"""nginx's access log, as the demo, compare and the tests read it."""

import re
from collections import Counter

# A creation: GET (the seed's way) or POST, with or without a query string.
CREATE_LINE = re.compile(r'"(?:GET|POST) /create_user/(?:\?\S*)? HTTP/[0-9.]+" (\d{3}) ')
# Any request line: the path (its query string left out) and the status.
# nginx's and gunicorn's access logs both write '"METHOD PATH HTTP/x" STATUS '.
REQUEST_LINE = re.compile(r'"[A-Z]+ (/[^ ?]*)(?:\?\S*)? HTTP/[0-9.]+" (\d{3}) ')


def _count(access_log, line, key):
    """Counter of key(match) over the lines of access_log that line matches."""
    counts = Counter()
    with open(access_log, errors="replace") as f:
        for text in f:
            m = line.search(text)
            if m:
                counts[key(m)] += 1
    return counts


def create_statuses(access_log):
    """Counter of HTTP status -> /create_user/ requests nginx logged."""
    return _count(access_log, CREATE_LINE, lambda m: int(m.group(1)))


def path_statuses(access_log):
    """Counter of (path, HTTP status) -> requests logged."""
    return _count(access_log, REQUEST_LINE, lambda m: (m.group(1), int(m.group(2))))
