-- First start of the compose Postgres: the application's role and database. (Temporal's
-- auto-setup creates its own databases, temporal and temporal_visibility, as the superuser.)
CREATE ROLE payorch LOGIN PASSWORD 'payorch';
CREATE DATABASE payorch OWNER payorch;
\connect payorch
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
