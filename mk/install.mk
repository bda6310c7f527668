# make install / make uninstall: the service under systemd, behind the host's
# nginx (docs/operating.md; the work is in deploy/systemd/install.sh).
#
#   make install                       PREFIX=/usr/local, into this machine
#   make install DESTDIR=/tmp/stage PREFIX=/usr   staged, for a package
#   make uninstall                     same knobs
#
# Knobs: PREFIX, DESTDIR, SYSTEMDDIR (/etc/systemd/system), NGINX_LISTEN
# (127.0.0.1:8000: the site's listen address), METRICS_ALLOW (who may read
# /metrics; unset: the binary's METRICS_ALLOW).

PREFIX ?= /usr/local
DESTDIR ?=
SYSTEMDDIR ?= /etc/systemd/system
NGINX_LISTEN ?= 127.0.0.1:8000

INSTALL_ENV = DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" SYSTEMDDIR="$(SYSTEMDDIR)" \
	NGINX_LISTEN="$(NGINX_LISTEN)" METRICS_ALLOW="$(METRICS_ALLOW)" BINARY="$(BUILD)/sqlite-fcgi"

.PHONY: install uninstall resize

install: $(BUILD)/sqlite-fcgi
	@$(INSTALL_ENV) deploy/systemd/install.sh install

uninstall:
	@$(INSTALL_ENV) deploy/systemd/install.sh uninstall

# make resize WORKERS=N: the running make start / make run stack (same
# RUN_DIR) changes to N workers without failing a request.
resize:
	@[ -n "$(WORKERS)" ] || { echo "make resize WORKERS=N" >&2; exit 2; }
	deploy/local/stack.sh resize "$(WORKERS)"
