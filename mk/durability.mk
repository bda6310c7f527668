# Durability: the power-loss test's write recorder, online backup and restore.
# See docs/durability.md.
#
#   make backup BACKUP_DEST=var/backup/db.sqlite3 [BACKUP_KEEP=N]
#   make restore RESTORE_SRC=FILE

# Built without _FORTIFY_SOURCE: the recorder defines open() itself, which
# the fortified headers declare as an inline wrapper.
$(BUILD)/powerloss/recorder.so: tests/powerloss/recorder.c | $(BUILD)/powerloss
	$(CC) -std=c11 $(WARN) -O1 -g -fPIC -shared -o $@ $< -ldl

$(BUILD)/powerloss:
	mkdir -p $@

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
