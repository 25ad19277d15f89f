# A Kong image with the Moesif filter baked in, for those who build images rather than mount a
# ConfigMap. Build the filter first (npm ci && npm run build), then:
#   docker build -t my-registry/kong-moesif:3.9 .
# The settings are kong/kong.conf's, as KONG_* variables; the filter is then attached to services
# or routes as the README shows (filter_chains, or on Kong 3.9 a plugin entry named moesif).
ARG KONG_VERSION=3.9
FROM kong:${KONG_VERSION}

# Kong loads every <name>.wasm in wasm_filters_path as the filter <name>, with <name>.meta.json
# beside it as its configuration schema.
COPY build/moesif.wasm build/moesif.meta.json /usr/local/kong/wasm/

ENV KONG_WASM=on \
    KONG_WASM_FILTERS_PATH=/usr/local/kong/wasm \
    KONG_NGINX_HTTP_CLIENT_BODY_BUFFER_SIZE=100k \
    KONG_NGINX_WASM_PROXY_WASM_LUA_RESOLVER=on
