"""nginx/render.sh writes paths as nginx reads them, whatever they hold: sed's
special characters (&, \\, |), nginx's (space, ;, #, ") and quotes; nginx
itself then reads the config and opens its logs at those exact paths."""

import pytest

from tests.harness.nginxconf import nginx_t, render

# Every character that broke or could break the substitution or nginx's parser.
AWKWARD = 'a&b\\c|d e;f#g"h{i}'


def nginx_quoted(path):
    """How a path appears between nginx's double quotes."""
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'


def test_awkward_paths_are_rendered_literally_and_nginx_reads_them(tmp_path):
    run_dir = tmp_path / AWKWARD
    (run_dir / "nginx-tmp").mkdir(parents=True)
    socket = run_dir / "fcgi.sock"
    result = render(run_dir, run_dir, "127.0.0.1:1", socket)
    assert result.returncode == 0, result.stderr
    conf = result.stdout
    assert f"pid {nginx_quoted(run_dir / 'nginx-tmp/nginx.pid')};" in conf
    assert f"error_log {nginx_quoted(run_dir / 'nginx-error.log')} warn;" in conf
    assert f"server {nginx_quoted('unix:' + str(socket))};" in conf
    assert f"access_log {nginx_quoted(run_dir / 'access.log')} sqlite_fcgi_timed;" in conf
    assert "@" not in conf.replace("@example", "")  # no marker left behind

    conf_file = tmp_path / "nginx.conf"
    conf_file.write_text(conf)
    # nginx -t parses the config and opens the logs it names: at the exact paths.
    check = nginx_t(conf_file, tmp_path)
    assert check.returncode == 0, check.stderr
    assert (run_dir / "access.log").exists()
    assert (run_dir / "nginx-error.log").exists()


def test_the_site_alone_renders_awkward_paths_literally(tmp_path):
    log = tmp_path / AWKWARD / "access.log"
    socket = tmp_path / "s&o|c\\k"
    result = render("--site", log, "127.0.0.1:8000", socket)
    assert result.returncode == 0, result.stderr
    assert f"access_log {nginx_quoted(log)} sqlite_fcgi_timed;" in result.stdout
    assert f"server {nginx_quoted(f'unix:{socket}')};" in result.stdout
    assert "listen 127.0.0.1:8000;" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["/tmp/a\nb", "/tmp", "127.0.0.1:8000", "/tmp/s"], "newline"),
    (["/tmp/$host", "/tmp", "127.0.0.1:8000", "/tmp/s"], "variable"),
    (["/tmp", "/tmp", "127.0.0.1:8000; evil", "/tmp/s"], "listen address"),
    (["/tmp", "/tmp", "127.0.0.1:8000", "/tmp/s", "root; evil"], "user"),
])
def test_values_nginx_cannot_take_are_refused(args, message):
    result = render(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""
