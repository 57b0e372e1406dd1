# syntax=docker/dockerfile:1
# The pgbackup sidecar image. Both stages install through scripts/install-deps and build through
# scripts/build, the same scripts CI runs, so a green CI proves these steps.

FROM swift:6.3-bookworm AS build
WORKDIR /src
COPY scripts/install-deps scripts/build scripts/
RUN scripts/install-deps build
COPY Package.swift ./
COPY Sources Sources
COPY Tests Tests
RUN scripts/build /out

FROM debian:bookworm-slim
COPY scripts/install-deps /usr/local/lib/pgbackup/install-deps
RUN /usr/local/lib/pgbackup/install-deps runtime \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/pgbackup --create-home pgbackup
COPY --from=build /out/pgbackup /usr/local/bin/pgbackup
COPY RECOVERY.md /usr/share/doc/pgbackup/RECOVERY.md
COPY policies /usr/share/pgbackup/policies
USER pgbackup
WORKDIR /var/lib/pgbackup
ENTRYPOINT ["/usr/local/bin/pgbackup"]
CMD ["--help"]
