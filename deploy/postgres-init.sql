-- Run once by the postgres image at its first start (psql, as the superuser "connector",
-- whose own database holds the connector's metadata). It makes the data login "analyst"
-- (not a superuser; its password from ANALYST_PASSWORD, never written here) and the
-- database "markets" with the sample loaded.
\set ON_ERROR_STOP on
\getenv analyst_password ANALYST_PASSWORD
CREATE ROLE analyst LOGIN PASSWORD :'analyst_password';
CREATE DATABASE markets OWNER analyst;
\connect markets analyst
\i /sample/sample.sql
