#!/bin/sh
# Renders nginx.conf.template to stdout.
#   nginx/render.sh RUN_DIR LOG_DIR LISTEN SOCKET [USER]
# RUN_DIR: pid file and temporary files; LOG_DIR: access.log and
# nginx-error.log; LISTEN: nginx's listen argument (127.0.0.1:8000);
# SOCKET: the workers' FastCGI socket; USER: the "user" directive's argument
# (empty: no directive).
set -eu
[ $# -ge 4 ] || { echo "usage: $0 RUN_DIR LOG_DIR LISTEN SOCKET [USER]" >&2; exit 2; }
run_dir=$1 log_dir=$2 listen=$3 socket=$4 user=${5:-}
user_line=""
[ -n "$user" ] && user_line="user $user;"
# '|' cannot appear in the values: they are paths and addresses.
for v in "$run_dir" "$log_dir" "$listen" "$socket" "$user"; do
	case $v in *'|'*) echo "render.sh: '|' not allowed in '$v'" >&2; exit 2 ;; esac
done
sed -e "s|@RUN_DIR@|$run_dir|g" -e "s|@LOG_DIR@|$log_dir|g" \
    -e "s|@LISTEN@|$listen|g" -e "s|@SOCKET@|$socket|g" \
    -e "s|@USER@|$user_line|g" "$(dirname "$0")/nginx.conf.template"
