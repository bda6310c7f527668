"""GET /metrics of a running stack, parsed with prometheus_client: the
samples by (name, sorted labels)."""

from prometheus_client.parser import text_string_to_metric_families


def scrape(stack):
    r = stack.get("/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def busy_count(samples, code):
    return samples.get(("sqlite_fcgi_sqlite_busy_total", (("code", code),)), 0)
