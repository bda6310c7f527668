"""GET /metrics of a running stack, parsed: the counters of the pool that
answers it (each pool keeps its own), by (sample name, sorted labels)."""

from prometheus_client.parser import text_string_to_metric_families


def scrape(stack):
    """{(sample name, sorted label pairs): value} of one scrape."""
    r = stack.get("/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def created_200(samples):
    """Users this pool has created (GET or POST /create_user/ answered 200)."""
    return samples.get(("sqlite_fcgi_requests_total",
                        (("route", "/create_user/"), ("status", "200"))), 0)


def requests_total(samples):
    """Every request this pool has counted, whatever its route and status."""
    return sum(v for (name, _), v in samples.items() if name == "sqlite_fcgi_requests_total")


def busy_count(samples, code):
    """Busy answers counted under one code (SQLite's or PostgreSQL's name)."""
    return samples.get(("sqlite_fcgi_sqlite_busy_total", (("code", code),)), 0)


def group_commit_batches(samples):
    """(shared transactions, write requests in them) this pool has run with
    group commit."""
    return (samples.get(("sqlite_fcgi_group_commit_batch_size_count", ()), 0),
            samples.get(("sqlite_fcgi_group_commit_batch_size_sum", ()), 0))
