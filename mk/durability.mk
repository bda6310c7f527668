# Durability: the power-loss test's write recorder, online backup and restore.
# See docs/durability.md.
#
#   make backup BACKUP_DEST=var/backup/db.sqlite3 [BACKUP_KEEP=N]
#   make restore RESTORE_SRC=FILE
# (SQLite only: with DATABASE_URL=postgres://... both refuse; use pg_dump.)

# The tests' LD_PRELOAD shims: tests/DIR/NAME.c -> build/DIR/NAME.so (the
# power-loss recorder here, the fault injector of mk/reliability.mk).  Built
# without _FORTIFY_SOURCE: they define open() and friends themselves, which
# the fortified headers declare as inline wrappers.
$(BUILD)/%.so: tests/%.c
	mkdir -p $(@D)
	$(CC) -std=c11 $(WARN) -O1 -g -fPIC -shared -o $@ $< -ldl

.PHONY: powerloss-build
powerloss-build: $(BUILD)/powerloss/recorder.so

integration-test: powerloss-build

# Online backup of DB_PATH while the service runs (sqlite-fcgi backup).
BACKUP_DEST ?= var/backup/db.sqlite3
BACKUP_KEEP ?=
.PHONY: backup restore
backup: $(BUILD)/sqlite-fcgi
	@mkdir -p "$(dir $(BACKUP_DEST))"
	$(BUILD)/sqlite-fcgi backup "$(BACKUP_DEST)" $(if $(BACKUP_KEEP),--keep $(BACKUP_KEEP))

restore: $(BUILD)/sqlite-fcgi
	@test -n "$(RESTORE_SRC)" || { echo "usage: make restore RESTORE_SRC=FILE" >&2; exit 2; }
	$(BUILD)/sqlite-fcgi restore "$(RESTORE_SRC)"
