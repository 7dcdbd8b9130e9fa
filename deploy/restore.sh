#!/bin/sh
# Restore regtui's database from a backup made by backup.sh: restore.sh BACKUP_FILE
# Stop regtui first (systemctl stop regtui-serve regtui-tick.timer; SSH sessions end by themselves).
#   SQLite:     sqlite3's .restore into the database file (after an integrity check of the backup).
#   PostgreSQL: pg_restore --clean --if-exists into the database of REGTUI_DB.
set -eu
backup="$1"
home="${REGTUI_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/regtui}"
url="${REGTUI_DB:-sqlite:///$home/regtui.db}"
test -r "$backup" || { echo "restore.sh: cannot read $backup" >&2; exit 2; }
case "$url" in
  sqlite:///*)
    test "$(sqlite3 "$backup" 'PRAGMA integrity_check')" = ok || { echo "restore.sh: $backup is damaged" >&2; exit 1; }
    sqlite3 "${url#sqlite:///}" ".restore '$backup'" ;;
  postgres://*|postgresql://*)
    pg_restore --clean --if-exists --no-owner --single-transaction --dbname="$url" "$backup" ;;
  *) echo "restore.sh: REGTUI_DB must be sqlite:///path or postgresql://..." >&2; exit 2 ;;
esac
echo "restored $backup"
