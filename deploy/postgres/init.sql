-- Runs once, when the postgresql service starts on an empty volume (docker-entrypoint-initdb.d).
-- One PostgreSQL serves three databases, all owned by POSTGRES_USER:
--   temporal, temporal_visibility  Temporal's persistence and SQL visibility; their schemas are applied
--                                  (and upgraded) by the temporal-schema one-shot, not here.
--   aftersales                     the read model; the api and worker run its Alembic migrations.
CREATE DATABASE temporal;
CREATE DATABASE temporal_visibility;
CREATE DATABASE aftersales;
