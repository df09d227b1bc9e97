# The connector, headless, for a team: `docker compose up` (docker-compose.yml) runs it with
# MariaDB and PostgreSQL. Checked without a Docker engine by tests/test_docker.py.
FROM python:3.11-slim

# CONNECTOR_SECRET_STORE names where secrets go (a file in the data volume); it holds none.
# hadolint ignore=DL3064
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CONNECTOR_DATA_DIR=/data \
    CONNECTOR_HOST=0.0.0.0 \
    CONNECTOR_PORT=7800 \
    CONNECTOR_SECRET_STORE=file

# An unprivileged user owns the data folder; the server never runs as root.
RUN groupadd --system --gid 10001 connector \
    && useradd --system --uid 10001 --gid connector --home-dir /home/connector --create-home connector \
    && mkdir -p /data \
    && chown connector:connector /data \
    && chmod 700 /data

WORKDIR /src
COPY pyproject.toml README.md ./
COPY connector ./connector
RUN pip install . && rm -rf /src

WORKDIR /home/connector
USER 10001:10001
VOLUME ["/data"]
EXPOSE 7800

# /health needs no key; python's own urllib, since the slim image has no curl.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7800/health', timeout=4)"]

ENTRYPOINT ["data-connector", "serve"]
