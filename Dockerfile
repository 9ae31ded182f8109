# cartrecovery image: one image for the API and the workers (docker-compose.yml runs both).
#
#   docker build -t cartrecovery .
#   docker run --rm -p 8000:8000 --env-file .env \
#       -e CR_TEMPORAL_ADDRESS=temporal:7233 -e CR_DATABASE_URL=postgresql+psycopg://... cartrecovery
#   docker run ... cartrecovery cartrecovery worker
#
# Settings are the same CR_* environment variables as embedded mode (see .env.example).

# ---- build: a venv with the dependencies (cached layer), then the package itself ----------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first, read from pyproject.toml, so code changes don't reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

COPY . .
RUN pip install --no-deps . \
    && cartrecovery --help >/dev/null

# ---- runtime -----------------------------------------------------------------------------
FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CR_DATA_DIR=/app/data \
    CR_API_HOST=0.0.0.0 \
    CR_API_PORT=8000

RUN useradd --system --uid 10001 --user-group --home-dir /app --create-home cartrecovery \
    && mkdir -p /app/data && chown cartrecovery:cartrecovery /app/data
COPY --from=build /opt/venv /opt/venv

USER cartrecovery
WORKDIR /app
EXPOSE 8000

# `cartrecovery api` (default) or `cartrecovery worker`; both need CR_TEMPORAL_ADDRESS.
# The API answers GET /healthz (docker-compose.yml uses it as the health check).
CMD ["cartrecovery", "api"]
