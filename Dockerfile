# syntax=docker/dockerfile:1.7
# One image for every service of ours; the command picks the service, run by node as compiled
# JavaScript (no TypeScript loader in production):
#   dist/api/main.js | dist/temporal/worker.main.js | dist/aggregator/main.js | dist/psp/simulator.main.js
#   dist/db/migrate.js | dist/scripts/temporal-setup.js | dist/scripts/kafka-topics.js   (one-shot setup)
# One dependency install: `npm run build` (scripts/build.mjs) compiles with tsc into dist/ and
# bundles the workflows from those same node_modules - it fails if the bundle's Temporal SDK
# differs from the worker's, and the worker checks the bundle's manifest again at start - then
# `npm prune --omit=dev` drops the build and test tooling (typescript, tsx, jest, ...) and the
# runtime stage copies exactly that pruned tree. tsx is for development and tests only.
# Built and run by docker-compose.yml and k8s/; scripts/validate-deploy.ts --boot runs the same
# steps (build, production-only dependencies) and starts every service from the result.
#
# npm install (not npm ci) with the committed lockfile: see install_tools in scripts/stack.

ARG NODE_IMAGE=node:20.19-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --no-save --no-audit --no-fund --ignore-scripts
# The application source only: .dockerignore leaves out tests, benchmarks, docs and deploy files.
COPY . .
RUN npm run build && npm prune --omit=dev --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    BIND_HOST=0.0.0.0 \
    WORKFLOW_BUNDLE_DIR=/app/dist/workflow-bundles \
    LOG_LEVEL=info
WORKDIR /app
COPY --from=build --chown=root:root /app/package.json ./
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
# The code is root-owned and read-only to the process; it runs as the image's unprivileged user.
USER node
EXPOSE 3000 9464 9465 9466 14010
ENTRYPOINT ["node", "--enable-source-maps"]
CMD ["dist/api/main.js"]
