#!/bin/sh
# make install / make uninstall: sqlite-fcgi on this machine under systemd,
# behind the host's nginx (docs/operating.md).
#
#   deploy/systemd/install.sh install|uninstall
#
# Environment (mk/install.mk sets it): DESTDIR (staging root, empty: this
# machine), PREFIX (/usr/local), SYSTEMDDIR (/etc/systemd/system),
# NGINX_LISTEN (127.0.0.1:8000), METRICS_ALLOW (nginx/render.sh's: who may
# read /metrics), BINARY (build/sqlite-fcgi).
#
#   PREFIX/bin/sqlite-fcgi                  the binary
#   PREFIX/lib/sqlite-fcgi/workers.sh       the pool's start, activate, drain
#   SYSTEMDDIR/sqlite-fcgi@.service         the unit, PREFIX filled in
#   /etc/default/sqlite-fcgi                settings, 0600 (an existing one is kept)
#   /etc/nginx/sites-available/sqlite-fcgi  the nginx site (an existing one is kept)
#
# With an empty DESTDIR, as root: creates the system user sqlite-fcgi (group
# www-data) when missing and reloads systemd when it runs. It enables,
# starts and stops nothing; uninstall refuses while a pool runs, and keeps
# the settings and the site when they were edited, the database and the user.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
SYSTEMDDIR=${SYSTEMDDIR:-/etc/systemd/system}
NGINX_LISTEN=${NGINX_LISTEN:-127.0.0.1:8000}
BINARY=${BINARY:-$ROOT/build/sqlite-fcgi}
USER_NAME=sqlite-fcgi
GROUP_NAME=www-data

UNIT=$DESTDIR$SYSTEMDDIR/sqlite-fcgi@.service
# The daily online backup (docs/durability.md): installed, not enabled.
BACKUP_UNITS="sqlite-fcgi-backup.service sqlite-fcgi-backup.timer"
LIBDIR=$DESTDIR$PREFIX/lib/sqlite-fcgi
DEFAULTS=$DESTDIR/etc/default/sqlite-fcgi
SITE=$DESTDIR/etc/nginx/sites-available/sqlite-fcgi

say() { echo "install: $*"; }

on_this_machine() { [ -z "$DESTDIR" ] && [ "$(id -u)" -eq 0 ]; }
systemd_runs() { [ -d /run/systemd/system ]; }

case $PREFIX in /*) ;; *) echo "install: PREFIX must be absolute: $PREFIX" >&2; exit 2 ;; esac
case $PREFIX in *'|'*) echo "install: '|' not allowed in PREFIX" >&2; exit 2 ;; esac

render_unit() { sed "s|@PREFIX@|$PREFIX|g" "$ROOT/deploy/systemd/sqlite-fcgi@.service"; }
render_site() {
	SQLITE_FCGI=$BINARY "$ROOT/nginx/render.sh" --site /var/log/nginx/sqlite-fcgi.access.log "$NGINX_LISTEN" \
		/run/sqlite-fcgi/fcgi.sock
}

# keep_or_install MODE FILE: installs stdin as FILE unless FILE exists; then
# writes FILE.new when it differs.
keep_or_install() {
	mode=$1 file=$2 tmp=$2.tmp.$$
	cat >"$tmp"
	chmod "$mode" "$tmp"
	if [ ! -e "$file" ]; then
		mv "$tmp" "$file"
		say "$file"
	elif cmp -s "$tmp" "$file"; then
		rm -f "$tmp"
		say "$file (unchanged)"
	else
		mv "$tmp" "$file.new"
		say "$file kept as it is; this version is $file.new"
	fi
}

create_user() {
	if getent passwd "$USER_NAME" >/dev/null; then
		say "system user $USER_NAME exists"
		return 0
	fi
	getent group "$GROUP_NAME" >/dev/null ||
		{ echo "install: group $GROUP_NAME is missing (install nginx first)" >&2; exit 1; }
	useradd --system --gid "$GROUP_NAME" --home-dir /var/lib/sqlite-fcgi --no-create-home \
		--shell /usr/sbin/nologin --comment "sqlite-fcgi worker pool" "$USER_NAME"
	say "created system user $USER_NAME (group $GROUP_NAME, no login, home /var/lib/sqlite-fcgi)"
}

do_install() {
	[ -x "$BINARY" ] || { echo "install: $BINARY not built (run make)" >&2; exit 1; }
	install -d -m 0755 "$DESTDIR$PREFIX/bin" "$LIBDIR" "$DESTDIR$SYSTEMDDIR" \
		"$DESTDIR/etc/default" "$DESTDIR/etc/nginx/sites-available"
	install -m 0755 "$BINARY" "$DESTDIR$PREFIX/bin/sqlite-fcgi"
	say "$DESTDIR$PREFIX/bin/sqlite-fcgi"
	install -m 0755 "$ROOT/deploy/pool/workers.sh" "$LIBDIR/workers.sh"
	say "$LIBDIR/workers.sh"
	render_unit >"$UNIT.tmp.$$"
	chmod 0644 "$UNIT.tmp.$$"
	mv "$UNIT.tmp.$$" "$UNIT"
	say "$UNIT"
	for u in $BACKUP_UNITS; do
		sed "s|@PREFIX@|$PREFIX|g" "$ROOT/deploy/systemd/$u" >"$DESTDIR$SYSTEMDDIR/$u.tmp.$$"
		chmod 0644 "$DESTDIR$SYSTEMDDIR/$u.tmp.$$"
		mv "$DESTDIR$SYSTEMDDIR/$u.tmp.$$" "$DESTDIR$SYSTEMDDIR/$u"
		say "$DESTDIR$SYSTEMDDIR/$u"
	done
	# The settings may hold DATABASE_URL's password: root's alone (systemd
	# reads the file as root before it starts the pool as sqlite-fcgi). An
	# older install left it 0644: tightened, its content kept.
	keep_or_install 0600 "$DEFAULTS" <"$ROOT/deploy/systemd/sqlite-fcgi.default"
	if [ -n "$(find "$DEFAULTS" -perm /077)" ]; then
		chmod go-rwx "$DEFAULTS"
		say "$DEFAULTS made readable by its owner only (it may hold a password)"
	fi
	render_site | keep_or_install 0644 "$SITE"
	command -v ss >/dev/null 2>&1 ||
		say "warning: ss (Debian package iproute2) is missing: a stopping pool cannot watch its queue"
	if on_this_machine; then
		create_user
		if systemd_runs; then
			systemctl daemon-reload
			say "systemd reloaded"
		fi
	else
		say "no system user created (DESTDIR set or not root): the unit runs as $USER_NAME:$GROUP_NAME"
	fi
}

# remove_if_ours FILE: removes FILE (and FILE.new) when it is what install
# writes (stdin); keeps an edited one.
remove_if_ours() {
	file=$1
	if [ -e "$file" ]; then
		if cmp -s - "$file"; then
			rm -f "$file"
			say "removed $file"
		else
			say "kept $file (edited)"
		fi
	else
		cat >/dev/null
	fi
	rm -f "$file.new"
}

do_uninstall() {
	if [ -z "$DESTDIR" ] && systemd_runs; then
		active=$(systemctl list-units --plain --no-legend --state=active 'sqlite-fcgi@*' |
			awk '{ printf "%s%s", sep, $1; sep = " " }')
		if [ -n "$active" ]; then
			echo "install: stop the running pools first: systemctl disable --now $active" >&2
			exit 1
		fi
	fi
	for f in "$DESTDIR$PREFIX/bin/sqlite-fcgi" "$LIBDIR/workers.sh" "$UNIT" \
		"$DESTDIR$SYSTEMDDIR/sqlite-fcgi-backup.service" "$DESTDIR$SYSTEMDDIR/sqlite-fcgi-backup.timer"; do
		if [ -e "$f" ]; then
			rm -f "$f"
			say "removed $f"
		fi
	done
	rmdir "$LIBDIR" 2>/dev/null || true
	remove_if_ours "$DEFAULTS" <"$ROOT/deploy/systemd/sqlite-fcgi.default"
	render_site | remove_if_ours "$SITE"
	[ -L "$DESTDIR/etc/nginx/sites-enabled/sqlite-fcgi" ] &&
		say "note: /etc/nginx/sites-enabled/sqlite-fcgi still links to the site"
	if [ -z "$DESTDIR" ] && systemd_runs; then
		systemctl daemon-reload
	fi
	[ -n "$DESTDIR" ] || say "kept: the database (/var/lib/sqlite-fcgi) and the user $USER_NAME (userdel $USER_NAME)"
}

case ${1:-} in
install) do_install ;;
uninstall) do_uninstall ;;
*) echo "usage: $0 install|uninstall" >&2; exit 2 ;;
esac
