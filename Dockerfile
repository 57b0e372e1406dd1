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

# The runtime: the binary, the server binaries of every supported major, 15 to 18, from the
# PostgreSQL project's Debian repository (verify-restore and follow start a backup's own major), CA
# certificates, the shipped policies, tini as PID 1 (it reaps verify-restore's postgres and
# forwards SIGTERM), curl for the HEALTHCHECK, and an unprivileged user owning the spool volume.
FROM debian:bookworm-slim
COPY scripts/install-deps /usr/local/lib/pgbackup/install-deps
# install-deps tells the packages to create no cluster; any that exists anyway is dropped.
RUN /usr/local/lib/pgbackup/install-deps runtime \
 && rm -rf /var/lib/apt/lists/* \
 && for conf in /etc/postgresql/*/*/postgresql.conf; do \
      [ -f "$conf" ] || continue; dir=${conf%/postgresql.conf}; pg_dropcluster --stop "$(basename "${dir%/*}")" "${dir##*/}"; \
    done \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/pgbackup --create-home pgbackup \
 && install -d -o pgbackup -g pgbackup -m 0700 /var/lib/pgbackup/spool
COPY --from=build /out/pgbackup /usr/local/bin/pgbackup
COPY RECOVERY.md /usr/share/doc/pgbackup/RECOVERY.md
COPY policies /usr/share/pgbackup/policies
# The HTTP endpoint listens on every interface of the container (the HEALTHCHECK and a scraper in
# the stack reach it there); set PGBACKUP_HTTP to change the port, the HEALTHCHECK follows it.
ENV PGBACKUP_HTTP=0.0.0.0:9187 \
    PGBACKUP_SPOOL=/var/lib/pgbackup/spool \
    PGBACKUP_POSTGRES_BINDIR=15=/usr/lib/postgresql/15/bin,16=/usr/lib/postgresql/16/bin,17=/usr/lib/postgresql/17/bin,18=/usr/lib/postgresql/18/bin
EXPOSE 9187
# The spool holds WAL the repository may not have yet: keep it on a volume.
VOLUME ["/var/lib/pgbackup"]
USER pgbackup
WORKDIR /var/lib/pgbackup
HEALTHCHECK --interval=30s --timeout=10s --start-period=120s --retries=3 \
    CMD curl --fail --silent --show-error --max-time 8 --output /dev/null "http://127.0.0.1:${PGBACKUP_HTTP##*:}/health" || exit 1
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/pgbackup"]
CMD ["daemon"]
