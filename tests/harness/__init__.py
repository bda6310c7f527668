"""What only the tests need: the PostgreSQL fixture (postgres), a request held
in flight and the kernel's lock lists (inflight, locks), fault injection
(faults), load that records each answer (userload, getload), /metrics parsed
(metrics), a systemd unit read as systemd reads it (unitfile), the compose
engines and the host's network around dockerd (compose, hostnet), nginx -t
(nginxconf), Makefile targets built on demand (built), and waiting for an
event (waiting).  What the tests share with the tools (the stack, ports,
locust, wrk, the Django app, ...) is bench/harness/, imported as
bench.harness.*: the tests depend on the tools, not the reverse."""
