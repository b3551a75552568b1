#!/bin/sh
# The postgis image's first start: run postgis-roles.sql with the service role's password
# (the geozone-password secret; the same as in the pgpass secret the service reads).
set -eu
psql -v ON_ERROR_STOP=1 --username postgres --dbname postgres \
    -v password="$(cat /run/secrets/geozone-password)" \
    -f /docker-entrypoint-initdb.d/postgis-roles.sql.in
