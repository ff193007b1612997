"""Superset settings for the commune marts (docker-compose profile "bi"); secrets from the environment.

serving.duckdb is replaced by a new file every night. Superset opens analytics databases without
a connection pool (a fresh DuckDB connection per query), so every query reads the latest
published night: do not configure a pool (engine_params) for the marts database.
"""

import os

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
SQLALCHEMY_DATABASE_URI = os.environ["SUPERSET_DATABASE_URI"]
