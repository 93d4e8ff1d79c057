"""Storage: the only package that imports SQLAlchemy. SQLite (default) and PostgreSQL."""
