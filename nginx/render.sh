#!/bin/sh
# Renders the nginx configuration to stdout.
#
#   nginx/render.sh RUN_DIR LOG_DIR LISTEN UPSTREAMS [USER]
#       the whole nginx.conf of an nginx of our own (deploy/local/stack.sh, the
#       nginx container): nginx.conf.template with the site inlined.
#       RUN_DIR: pid file and temporary files; LOG_DIR: access.log and
#       nginx-error.log; LISTEN: nginx's listen argument (127.0.0.1:8000);
#       UPSTREAMS: where the workers listen, one server line each, comma-
#       separated: unix:/path (or a bare /path: the local pool's socket),
#       HOST:PORT or [IPv6]:PORT (app hosts, APP_UPSTREAMS); USER: the
#       "user" directive's argument (empty: no directive).
#
#   nginx/render.sh --site ACCESS_LOG LISTEN UPSTREAMS
#       the site alone (site.conf.template), for the host's nginx:
#       /etc/nginx/sites-available/sqlite-fcgi (make install).
#
# METRICS_ALLOW (environment): who may read /metrics, addresses and CIDRs,
# comma-separated; unset, the binary's default (SQLITE_FCGI config, SQLITE_FCGI
# default: sqlite-fcgi on PATH), which owns it.
set -eu

usage() {
	echo "usage: $0 RUN_DIR LOG_DIR LISTEN UPSTREAMS [USER]" >&2
	echo "       $0 --site ACCESS_LOG LISTEN UPSTREAMS" >&2
	exit 2
}

dir=$(dirname "$0")

die() {
	echo "render.sh: $*" >&2
	exit 2
}

# Every path lands inside double quotes in the configuration, so that nginx
# takes a space, ';', '{' or '#' in it literally. A newline cannot be
# written there, and nginx would read '$' as a variable in access_log's path.
check() {
	for v in "$@"; do
		case $v in
		*'
'*) die "a newline is not allowed in a value" ;;
		*'$'*) die "'\$' is not allowed in '$v' (nginx would read a variable)" ;;
		esac
	done
}

# quote VALUE: VALUE as nginx reads it between double quotes (\ and \"),
# then escaped for sed's replacement text (\, & and the | delimiter).
quote() {
	printf '%s\n' "$1" | sed -e 's/[\\"]/\\&/g' -e 's/[\\&|]/\\&/g'
}

# The user directive's arguments (a user and an optional group) and the
# listen address (127.0.0.1:8000, [::1]:8000, 8000) go in unquoted.
check_user() {
	case $1 in *[!A-Za-z0-9._\ -]*) die "not a user and group: '$1'" ;; esac
}
check_listen() {
	case $1 in '' | *[!A-Za-z0-9.:[\]*_-]*) die "not a listen address: '$1'" ;; esac
}

# One upstream entry's server line: "unix:PATH" quoted as a path is; a
# host and port as they are, once checked (a name or IPv4 address, or an
# IPv6 address in brackets; a port from 1 to 65535).
server_line() {
	e=$1
	case $e in
	unix:/* | /*)
		path=${e#unix:}
		check "$path"
		printf 'server "unix:%s";\n' "$(printf '%s\n' "$path" | sed -e 's/[\\"]/\\&/g')"
		return ;;
	esac
	host=${e%:*} port=${e##*:}
	case $e in *:*) ;; *) port='' ;; esac
	case $host in
	\[*\]) case $host in '[]' | *[!0-9A-Fa-f:.[\]]*) host='' ;; esac ;;
	*) case $host in *[!A-Za-z0-9.-]*) host='' ;; esac ;;
	esac
	case $port in '' | 0* | *[!0-9]* | ??????*) port='' ;; esac
	if [ -z "$host" ] || [ -z "$port" ] || [ "$port" -gt 65535 ]; then
		die "upstream '$e': not HOST:PORT (127.0.0.2:9000, [::1]:9000, port 1-65535) nor unix:/absolute/path"
	fi
	printf 'server %s;\n' "$e"
}

# The server lines of a comma-separated list of upstreams, one per entry.
servers() {
	[ -n "$1" ] || die "no upstream given (APP_UPSTREAMS or the workers' socket)"
	case $1 in ,* | *, | *,,*) die "upstreams '$1': an empty entry" ;; esac
	rest=$1
	while [ -n "$rest" ]; do
		entry=${rest%%,*}
		case $rest in *,*) rest=${rest#*,} ;; *) rest='' ;; esac
		server_line "$entry" || exit 2
	done
}

# The allow lines of /metrics from METRICS_ALLOW (addresses and CIDRs,
# comma-separated; sqlite-fcgi config checks each), then deny all.
metrics_allow() {
	list=${METRICS_ALLOW:-}
	if [ -z "$list" ]; then
		list=$("${SQLITE_FCGI:-sqlite-fcgi}" config 2>/dev/null | sed -n 's/^METRICS_ALLOW=//p')
		[ -n "$list" ] ||
			die "METRICS_ALLOW unset and '${SQLITE_FCGI:-sqlite-fcgi} config' did not give it: set METRICS_ALLOW"
	fi
	case $list in ,* | *, | *,,* | *[!0-9A-Fa-f.:/,]*)
		die "METRICS_ALLOW='$list': IPv4 or IPv6 addresses or CIDRs, comma-separated" ;;
	esac
	rest=$list
	while [ -n "$rest" ]; do
		printf 'allow %s;\n' "${rest%%,*}"
		case $rest in *,*) rest=${rest#*,} ;; *) rest='' ;; esac
	done
	echo 'deny all;'
}

# site ACCESS_LOG LISTEN UPSTREAMS: the server lines and the allow lines
# replace their marker lines, indented as they were.
site() {
	SERVERS=$(servers "$3") || exit 2
	ALLOW=$(metrics_allow) || exit 2
	export SERVERS ALLOW
	sed -e "s|@ACCESS_LOG@|$(quote "$1")|g" -e "s|@LISTEN@|$2|g" \
		"$dir/site.conf.template" |
	awk '
	/^[ \t]*@(SERVERS|METRICS_ALLOW)@[ \t]*$/ {
		indent = $0; sub(/@.*/, "", indent)
		n = split(ENVIRON[$0 ~ /@SERVERS@/ ? "SERVERS" : "ALLOW"], lines, "\n")
		for (i = 1; i <= n; i++)
			print indent lines[i]
		next
	}
	{ print }
	'
}

if [ "${1:-}" = --site ]; then
	[ $# -eq 4 ] || usage
	check "$2"
	check_listen "$3"
	site "$2" "$3" "$4"
	exit 0
fi

if [ $# -lt 4 ] || [ $# -gt 5 ]; then usage; fi
run_dir=$1 log_dir=$2 listen=$3 upstreams=$4 user=${5:-}
check "$run_dir" "$log_dir"
check_listen "$listen"
check_user "$user"
user_line=""
[ -n "$user" ] && user_line="user $user;"
# The site replaces the marker line, indented as the line was.
SITE=$(site "$log_dir/access.log" "$listen" "$upstreams")
export SITE
sed -e "s|@RUN_DIR@|$(quote "$run_dir")|g" -e "s|@LOG_DIR@|$(quote "$log_dir")|g" \
    -e "s|@USER@|$user_line|g" "$dir/nginx.conf.template" |
awk '
/^[ \t]*@SITE@[ \t]*$/ {
	indent = $0; sub(/@SITE@.*/, "", indent)
	n = split(ENVIRON["SITE"], lines, "\n")
	for (i = 1; i <= n; i++)
		print (lines[i] == "" ? "" : indent lines[i])
	next
}
{ print }
'
