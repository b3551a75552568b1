-- PostGIS for geozone with a least-privilege role. Run once as a superuser (the DBA):
--   psql -v ON_ERROR_STOP=1 -v password=SECRET -f postgis-roles.sql
-- The service's role is no superuser, cannot create databases or roles, and owns only its own
-- schema: the store's migration (run at start) creates its tables there. PostGIS itself
-- is enabled here, by the DBA, since CREATE EXTENSION postgis needs a superuser.
CREATE ROLE geozone LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION
    PASSWORD :'password';
CREATE DATABASE geozone;
\connect geozone
CREATE EXTENSION IF NOT EXISTS postgis;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO geozone;          -- PostGIS's types and functions live there
CREATE SCHEMA geozone AUTHORIZATION geozone;      -- the store's tables
ALTER ROLE geozone IN DATABASE geozone SET search_path = geozone, public;
REVOKE CONNECT ON DATABASE geozone FROM PUBLIC;
GRANT CONNECT ON DATABASE geozone TO geozone;
