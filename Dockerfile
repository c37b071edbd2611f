# syntax=docker/dockerfile:1
# Build with the full toolchain, run with production dependencies only, as a non-root user.

FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:22-bookworm-slim
# git is Baton's engine for the `git` forge (any remote); ssh for ssh:// remotes.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# BATON_REQUIRE_ENV_REPO: the image never falls back to the embedded demo by accident; without
# BATON_ENV_REPO it refuses to start unless BATON_DEMO=true is set.
ENV NODE_ENV=production \
    BATON_DATA_DIR=/data \
    BATON_REQUIRE_ENV_REPO=true \
    PORT=3000
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# examples/env-repo seeds the embedded demo (BATON_DEMO=true) and nothing else.
COPY examples/env-repo ./examples/env-repo
COPY docs/baton.schema.json ./docs/baton.schema.json
COPY app.yml ./app.yml
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# The same entry `npm start` runs after its build step; tini forwards SIGTERM so the queue drains.
# Arguments are baton's: `docker run IMAGE` serves, `docker run IMAGE validate --repo /repo` checks a checkout.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/dist/main.js"]
CMD ["serve"]
