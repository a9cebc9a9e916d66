# porter's image: a static musl binary on an empty base.
#   docker build -t ghcr.io/porter-lb/porter:v0.1.0 .
FROM rust:1-bookworm AS build
# ring (rustls' crypto) compiles C: musl-gcc for the static target.
RUN apt-get update && apt-get install -y --no-install-recommends musl-tools \
    && rm -rf /var/lib/apt/lists/* \
    && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p porter --target x86_64-unknown-linux-musl \
    && cp target/x86_64-unknown-linux-musl/release/porter /porter

FROM scratch
COPY --from=build /porter /porter
# Non-root by default (standalone mode on ports above 1023, `porter decode`). The manager
# Deployment runs it as root with all capabilities but three dropped: see
# deploy/deployment.yaml for why.
USER 65532:65532
ENTRYPOINT ["/porter"]
CMD ["manager"]
