# loadorch: one image for the Kubernetes master and worker pods (and for CI runners).
# Build: docker build -t loadorch:0.1.0 .
# Browser workers (scenarios with `browsers:`) use the `browser` target, with Debian's Chromium:
#   docker build --target browser -t loadorch:0.1.0-browser .
# The default (last) target stays lean: no Chromium, no websockets.
ARG BASE_IMAGE=python:3.11.10-slim-bookworm
FROM ${BASE_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY loadorch ./loadorch
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[postgres,browser]"

FROM ${BASE_IMAGE} AS browser
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/scratch \
    TMPDIR=/scratch \
    LOADORCH_CHROMIUM=/usr/bin/chromium
COPY --from=build /wheels /wheels
# Chromium is not pinned: Debian replaces its package with every security release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium \
    && rm -rf /var/lib/apt/lists/* \
    && pip install --no-cache-dir --no-index --find-links=/wheels "loadorch[browser]==0.1.0" \
    && rm -rf /wheels \
    && useradd --uid 10001 --user-group --home-dir /scratch --no-create-home loadorch \
    && mkdir -p /scratch \
    && chown 10001:10001 /scratch
USER 10001:10001
WORKDIR /scratch
ENTRYPOINT ["loadorch"]
CMD ["--help"]

FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/scratch \
    TMPDIR=/scratch
COPY --from=build /wheels /wheels
# [postgres]: the database collector runs in the master pod
RUN pip install --no-cache-dir --no-index --find-links=/wheels "loadorch[postgres]==0.1.0" \
    && rm -rf /wheels \
    && useradd --uid 10001 --user-group --home-dir /scratch --no-create-home loadorch \
    && mkdir -p /scratch \
    && chown 10001:10001 /scratch
USER 10001:10001
WORKDIR /scratch
EXPOSE 5557
ENTRYPOINT ["loadorch"]
CMD ["--help"]
