# One image, two processes: docker-compose.yml runs it as `aftersales api` (Alembic migrations, then uvicorn
# on 0.0.0.0:8000) and as `aftersales worker`.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/aftersales
WORKDIR /src
# .dockerignore keeps tests, the virtualenv and local state out of the context.
COPY . .
# `pip install .` installs the runtime dependencies only: the dev extras (pytest, ruff, mypy, the
# time-skipping test server) stay out of the image.
RUN /opt/aftersales/bin/pip install .

FROM python:3.11-slim
ENV PATH=/opt/aftersales/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 aftersales \
    && useradd --system --uid 10001 --gid aftersales --home-dir /app --create-home --shell /usr/sbin/nologin aftersales
COPY --from=build /opt/aftersales /opt/aftersales
WORKDIR /app
USER aftersales:aftersales

EXPOSE 8000
# Both processes shut down gracefully on SIGINT and SIGTERM: uvicorn drains its requests, the worker stops
# polling and lets its running tasks finish.
STOPSIGNAL SIGTERM
# The API's liveness; slim has no curl. The worker service in docker-compose.yml disables this check.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('AFTERSALES_API_PORT', '8000') + '/healthz', timeout=4)"]
CMD ["aftersales", "api"]
