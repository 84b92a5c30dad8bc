"""Alembic environment.

Two ways in:

* the historian (:func:`app.historian.db.migrate`) hands over its open connection in
  ``config.attributes["connection"]`` every time it opens a database;
* a developer runs ``alembic`` from the project root (``alembic.ini``): the database is
  ``-x db=URL`` if given, else ``sqlalchemy.url`` from ``alembic.ini`` (a scratch SQLite
  file under ``build/``). ``alembic upgrade head`` then ``alembic revision --autogenerate
  -m "…"`` writes the next revision; ``alembic check`` says whether the models and the
  migrations agree.
"""

from alembic import context
from sqlalchemy import Connection, create_engine

from app.historian.models import Base


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("db") or \
        context.config.get_main_option("sqlalchemy.url")
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        from pathlib import Path

        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
