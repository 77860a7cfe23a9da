# The operator image: `docker build -t smop .`, then deploy/ (docs/operator.md, "Installing").
# Build and run on the same Debian release, so the runtime stage's library
# packages are the ones the binary was linked against.
FROM debian:bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      gcc libc6-dev make cmake pkg-config \
      liblua5.4-dev libcurl4-openssl-dev libssl-dev libuv1-dev \
      libmicrohttpd-dev libyaml-dev libpcre2-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the binary is built from (the Lua scripts are compiled into it),
# so edits to docs, specs or deploy/ keep the build cached.
COPY CMakeLists.txt ./
COPY src src
COPY lua lua
COPY tools tools
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
 && cmake --build build --target smop -j"$(nproc)" \
 && strip build/smop

FROM debian:bookworm-slim
# The shared libraries smop links (`readelf -d smop`), plus the CA bundle
# libcurl verifies AWS endpoints with. spec/deploy_spec.lua keeps this list
# in step with the binary.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates \
      liblua5.4-0 libcurl4 libssl3 libuv1 libmicrohttpd12 libyaml-0-2 libpcre2-8-0 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/smop /usr/local/bin/smop
# 65532, the uid distroless calls nonroot: it owns no file here (the binary is
# root's, read-only to it). deploy/ runs the pod as the same uid.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/smop"]
CMD ["run"]
