# Small runtime image: build with the Rust toolchain, run on slim Debian.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY .cargo .cargo
COPY migrations migrations
COPY src src
RUN cargo build --release --locked --bin teamtailor-scim

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /data scim && mkdir -p /data && chown scim /data
COPY --from=build /src/target/release/teamtailor-scim /usr/local/bin/teamtailor-scim
USER scim
WORKDIR /data
ENV TEAMTAILOR_SCIM_LISTEN=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["teamtailor-scim"]
CMD ["serve"]
