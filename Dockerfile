# syntax=docker/dockerfile:1
# gitplane: one image for both servers, chosen by the first argument (a Python module):
#   docker run IMAGE apiserver --cluster --repo ... --cert-file ... --key-file ... --port 8443
#   docker run IMAGE webhook --repo ... --cert-file ... --key-file ... --port 9443
# The Kubernetes manifests (manifests/) set the command explicitly instead.
#
# Base: Debian bookworm slim with CPython 3.11, pinned by version tag and by the digest of
# its multi-architecture index. libgit2 comes inside the pygit2 wheel; the only system
# packages are git and ssh, which fetching from and pushing to a Git remote runs.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
# .dockerignore lets in only what `pip install .` needs.
COPY . .
# Runtime dependencies only (no [test] extra), into a virtualenv the final stage copies;
# modules are byte-compiled here because the root filesystem is read-only at run time.
RUN python -m venv /opt/gitplane \
 && /opt/gitplane/bin/pip install --no-cache-dir . \
 && /opt/gitplane/bin/pip check

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="gitplane" \
      org.opencontainers.image.description="Aggregated Kubernetes API server and admission webhook over a Git repository" \
      org.opencontainers.image.licenses="Apache-2.0"
# Debian versions are not pinned on purpose: bookworm's security updates replace them (an
# old version disappears from the archive); the digest-pinned base fixes everything else.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install --yes --no-install-recommends git openssh-client \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 gitplane \
 && useradd --system --uid 10001 --gid 10001 --home-dir /home/gitplane --create-home \
            --shell /usr/sbin/nologin gitplane
COPY --from=build /opt/gitplane /opt/gitplane
ENV PATH=/opt/gitplane/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# Numeric, so Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
USER 10001:10001
WORKDIR /home/gitplane
EXPOSE 8443 9443
ENTRYPOINT ["python", "-m"]
CMD ["webhook", "--help"]
