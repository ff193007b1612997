"""Superset settings for the commune marts, shared by the compose profile "bi" and `make bi`.

Secrets and the metadata database come from the environment (compose: Postgres; `make bi`: SQLite
in the ignored state dir `.superset/`).

serving.duckdb is replaced by a new file every night. Superset opens analytics databases without
a connection pool (a fresh DuckDB connection per query), so every query reads the latest
published night: do not configure a pool (engine_params) for the marts database.
"""

import os

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
SQLALCHEMY_DATABASE_URI = os.environ["SUPERSET_DATABASE_URI"]

# No cache of query results: a chart must show the night published last, not one from the cache.
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
