# syntax=docker/dockerfile:1
# Serika's image (docs/deploying.md, "Deployment kit"). From the repository root:
#   docker build -t serika .
# Three stages on one base image, so the native module built in `deps` matches
# the runtime's Node and glibc.
ARG NODE_IMAGE=node:20-bookworm-slim

# 1. build: every dependency (TypeScript among them), then dist/.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: `prepare` would build before src/ is here, and tsc needs no native module.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# 2. deps: the production dependencies, from the lockfile. better-sqlite3 is a
# native module: it is built here, where the compilers are (when no prebuilt
# binary downloads), and checked to load.
FROM ${NODE_IMAGE} AS deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# `prepare` would look for dist/ (stage 1 has it); better-sqlite3's own install script runs in the rebuild.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3 \
 && node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()"

# 3. runtime: no compilers, no dev dependencies, not root; the code is root's and read-only to the server.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json package-lock.json ./
COPY bin ./bin
COPY src/web/assets ./src/web/assets
# The SQLite database's directory (DATABASE_URL's default, sqlite:./data/serika.db), owner-only as Serika keeps it.
RUN mkdir -m 0700 /app/data && chown node:node /app/data
USER node
VOLUME ["/app/data"]
EXPOSE 3000
# Readiness, not liveness: 503 while the database is away or while draining on SIGTERM. Node's own fetch:
# the slim image has no curl or wget.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Serika drains on SIGTERM for SHUTDOWN_DRAIN + SHUTDOWN_TIMEOUT (35 s by default): stop with a longer
# grace period than Docker's 10 s (`docker stop -t 45`, compose's stop_grace_period).
STOPSIGNAL SIGTERM
CMD ["node", "bin/serika.js", "serve"]
