"""nginx's access log, as the demo, compare and the tests read it."""

import re
from collections import Counter

# A creation: GET (the seed's way) or POST, with or without a query string.
CREATE_LINE = re.compile(r'"(?:GET|POST) /create_user/(?:\?\S*)? HTTP/[0-9.]+" (\d{3}) ')


def create_statuses(access_log):
    """Counter of HTTP status -> /create_user/ requests nginx logged."""
    statuses = Counter()
    with open(access_log, errors="replace") as f:
        for line in f:
            m = CREATE_LINE.search(line)
            if m:
                statuses[int(m.group(1))] += 1
    return statuses


# Any request line: the path (its query string left out) and the status.
# nginx's and gunicorn's access logs both write '"METHOD PATH HTTP/x" STATUS '.
REQUEST_LINE = re.compile(r'"[A-Z]+ (/[^ ?]*)(?:\?\S*)? HTTP/[0-9.]+" (\d{3}) ')


def path_statuses(access_log):
    """Counter of (path, HTTP status) -> requests logged."""
    statuses = Counter()
    with open(access_log, errors="replace") as f:
        for line in f:
            m = REQUEST_LINE.search(line)
            if m:
                statuses[(m.group(1), int(m.group(2)))] += 1
    return statuses
