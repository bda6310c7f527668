# The FastCGI worker pool: sqlite-fcgi under spawn-fcgi + multiwatch.
# Built from the top of the repository (docker-compose.yml does this):
#   docker build -f deploy/containers/Dockerfile.app -t sqlite-fcgi-app .

# --- build stage: compiler and headers, thrown away afterwards ----------
FROM debian:bookworm-slim AS build
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	gcc make libc6-dev libfcgi-dev libsqlite3-dev libcrypt-dev libssl-dev libjansson-dev libpq-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY app/ app/
RUN make build/sqlite-fcgi

# --- runtime stage: run-time libraries and the process tools only --------
FROM debian:bookworm-slim
# libfcgi-bin: cgi-fcgi, with which the healthcheck asks the pool itself.
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	libfcgi0ldbl libsqlite3-0 libcrypt1 libssl3 libjansson4 libpq5 spawn-fcgi multiwatch sqlite3 libfcgi-bin \
 && rm -rf /var/lib/apt/lists/*
# Fixed ids: the nginx image has the same group, and the socket and data
# volumes keep these owners across image rebuilds.
RUN groupadd --gid 10001 sqlite-fcgi \
 && useradd --uid 10001 --gid 10001 --home-dir /var/lib/sqlite-fcgi \
	--no-create-home --shell /usr/sbin/nologin sqlite-fcgi \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/sqlite-fcgi \
 && install -d -o 10001 -g 10001 -m 0750 /run/sqlite-fcgi
COPY --from=build /src/build/sqlite-fcgi /usr/local/bin/sqlite-fcgi
COPY deploy/pool/workers.sh /usr/local/lib/sqlite-fcgi/workers.sh
COPY deploy/containers/app-entrypoint.sh deploy/containers/app-healthcheck.sh /usr/local/lib/sqlite-fcgi/

ENV DB_PATH=/var/lib/sqlite-fcgi/db.sqlite3 \
    SOCKET=/run/sqlite-fcgi/fcgi.sock \
    SQLITE_FCGI=/usr/local/bin/sqlite-fcgi
USER 10001:10001
WORKDIR /var/lib/sqlite-fcgi
VOLUME ["/var/lib/sqlite-fcgi", "/run/sqlite-fcgi"]
# multiwatch passes TERM on to the workers as USR1: finish the request, exit.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=2s --timeout=5s --start-period=20s --retries=3 \
	CMD ["/usr/local/lib/sqlite-fcgi/app-healthcheck.sh"]
ENTRYPOINT ["/usr/local/lib/sqlite-fcgi/app-entrypoint.sh"]
