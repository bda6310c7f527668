#!/bin/sh
# Renders the nginx configuration to stdout.
#
#   nginx/render.sh RUN_DIR LOG_DIR LISTEN SOCKET [USER]
#       the whole nginx.conf of an nginx of our own (deploy/stack.sh, the
#       nginx container): nginx.conf.template with the site inlined.
#       RUN_DIR: pid file and temporary files; LOG_DIR: access.log and
#       nginx-error.log; LISTEN: nginx's listen argument (127.0.0.1:8000);
#       SOCKET: the workers' FastCGI socket; USER: the "user" directive's
#       argument (empty: no directive).
#
#   nginx/render.sh --site ACCESS_LOG LISTEN SOCKET
#       the site alone (site.conf.template), for the host's nginx:
#       /etc/nginx/sites-available/sqlite-fcgi (make install).
set -eu

usage() {
	echo "usage: $0 RUN_DIR LOG_DIR LISTEN SOCKET [USER]" >&2
	echo "       $0 --site ACCESS_LOG LISTEN SOCKET" >&2
	exit 2
}

dir=$(dirname "$0")

# '|' cannot appear in the values: they are paths and addresses.
check() {
	for v in "$@"; do
		case $v in *'|'*) echo "render.sh: '|' not allowed in '$v'" >&2; exit 2 ;; esac
	done
}

# site ACCESS_LOG LISTEN SOCKET
site() {
	sed -e "s|@ACCESS_LOG@|$1|g" -e "s|@LISTEN@|$2|g" -e "s|@SOCKET@|$3|g" \
		"$dir/site.conf.template"
}

if [ "${1:-}" = --site ]; then
	[ $# -eq 4 ] || usage
	check "$2" "$3" "$4"
	site "$2" "$3" "$4"
	exit 0
fi

[ $# -ge 4 ] && [ $# -le 5 ] || usage
run_dir=$1 log_dir=$2 listen=$3 socket=$4 user=${5:-}
check "$run_dir" "$log_dir" "$listen" "$socket" "$user"
user_line=""
[ -n "$user" ] && user_line="user $user;"
# The site replaces the marker line, indented as the line was.
SITE=$(site "$log_dir/access.log" "$listen" "$socket")
export SITE
sed -e "s|@RUN_DIR@|$run_dir|g" -e "s|@LOG_DIR@|$log_dir|g" \
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
