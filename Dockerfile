# monban container image: a static-ish release binary on distroless, running
# as a non-root user, with a volume for the SQLite database.
# Build: docker build -t monban .
# Run:   docker run -p 8080:8080 -v monban-data:/data -e MONBAN_ISSUER=https://id.example.com monban
# CLI:   docker run --rm -v monban-data:/data --entrypoint monban monban client list
# (Not built by CI: the machines CI runs on have no container engine.)

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Toolchain pieces for the C parts (aws-lc, bundled SQLite).
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc g++ make perl pkg-config \
 && rm -rf /var/lib/apt/lists/*
# Dependencies first, so that code changes do not rebuild them. Cargo reads
# every target Cargo.toml declares (the argon2 bench too) before it builds.
COPY Cargo.toml Cargo.lock ./
COPY benches ./benches
RUN mkdir src && echo 'fn main() {}' > src/main.rs && echo '' > src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src
COPY src ./src
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
RUN touch src/main.rs src/lib.rs && cargo build --release --locked \
 && mkdir -p /data

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/monban /usr/local/bin/monban
COPY --from=build --chown=nonroot:nonroot /data /data
ENV MONBAN_LISTEN=0.0.0.0:8080 \
    MONBAN_DATABASE_URL=sqlite:///data/monban.db \
    MONBAN_LOG_FORMAT=json
VOLUME ["/data"]
WORKDIR /data
USER nonroot
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/monban", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/monban", "serve"]
