# Durability: the power-loss test's write recorder and campaign, online
# backup and restore.  See docs/durability.md.
#
#   make powerloss [POWERLOSS_STATES=10000] [POWERLOSS_USERS=3500]
#   make backup BACKUP_DEST=var/backup/db.sqlite3 [BACKUP_KEEP=N]
#   make restore RESTORE_SRC=FILE
# (SQLite only: with DATABASE_URL=postgres://... both refuse; use pg_dump.)

# The power-loss recorder: built by the shims' rule in the Makefile.
.PHONY: powerloss-build
powerloss-build: $(BUILD)/powerloss/recorder.so

integration-test: powerloss-build

# The power-loss campaign: test_powerloss's runs, longer (at least
# POWERLOSS_STATES crash states of the default's run, a quarter as many of
# NORMAL's, a tenth of OFF's), with progress lines; exits 1 when a setting
# does not show what it must (tests/powerloss/campaign.py).
POWERLOSS_STATES ?= 10000
POWERLOSS_USERS ?= 3500
.PHONY: powerloss
powerloss: deps $(BUILD)/sqlite-fcgi powerloss-build
	POWERLOSS_STATES=$(POWERLOSS_STATES) POWERLOSS_USERS=$(POWERLOSS_USERS) \
		$(PYTHON) -m tests.powerloss.campaign

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
