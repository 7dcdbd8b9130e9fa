#!/bin/sh
# Back up regtui's database into DEST_DIR (default: $REGTUI_HOME/backups) and keep the newest 14.
#   SQLite:     sqlite3's online .backup (consistent while regtui runs), then an integrity check.
#   PostgreSQL: pg_dump --format=custom (restore with deploy/restore.sh).
# Reads REGTUI_DB / REGTUI_HOME like regtui does. Prints the backup's path.
set -eu
home="${REGTUI_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/regtui}"
url="${REGTUI_DB:-sqlite:///$home/regtui.db}"
dest="${1:-$home/backups}"
keep="${REGTUI_BACKUPS_KEPT:-14}"
umask 077
mkdir -p "$dest"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
case "$url" in
  sqlite:///*)
    out="$dest/regtui-$stamp.sqlite3"
    sqlite3 "${url#sqlite:///}" ".backup '$out'"
    test "$(sqlite3 "$out" 'PRAGMA integrity_check')" = ok
    pattern='regtui-*.sqlite3' ;;
  postgres://*|postgresql://*)
    out="$dest/regtui-$stamp.pgdump"
    pg_dump --format=custom --no-owner --file="$out" "$url"
    pattern='regtui-*.pgdump' ;;
  *) echo "backup.sh: REGTUI_DB must be sqlite:///path or postgresql://..." >&2; exit 2 ;;
esac
# keep the newest $keep backups of this kind
ls -1t "$dest"/$pattern 2>/dev/null | tail -n +"$((keep + 1))" | while read -r old; do rm -f -- "$old"; done
echo "$out"
