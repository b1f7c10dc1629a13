"""Operations glue around the hook pipeline: the gunicorn process, the HTTP front, observability."""
