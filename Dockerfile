# syntax=docker/dockerfile:1.7
# One image for every service of ours; the command picks the service:
#   api/main.ts | temporal/worker.main.ts | aggregator/main.ts | psp/simulator.main.ts
#   db/migrate.ts | scripts/temporal-setup.ts | scripts/kafka-topics.ts   (one-shot setup)
# TypeScript runs through tsx (a production dependency); workflows are prebundled at build time
# so the worker starts without webpack. Built and run by docker-compose.yml and k8s/.
#
# npm install (not npm ci) with the committed lockfile: see install_tools in scripts/stack.

ARG NODE_IMAGE=node:20.19-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --no-save --no-audit --no-fund --ignore-scripts

FROM deps AS build
# The application source only: .dockerignore leaves out tests, benchmarks, docs and deploy files.
COPY . .
RUN node --import tsx scripts/bundle-workflows.ts dist/workflow-bundles

FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --no-save --no-audit --no-fund --ignore-scripts --omit=dev && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    BIND_HOST=0.0.0.0 \
    WORKFLOW_BUNDLE_DIR=/app/dist/workflow-bundles \
    LOG_LEVEL=info
WORKDIR /app
COPY --from=prod-deps --chown=root:root /app/node_modules ./node_modules
COPY --chown=root:root . .
COPY --from=build --chown=root:root /app/dist/workflow-bundles ./dist/workflow-bundles
# The code is root-owned and read-only to the process; it runs as the image's unprivileged user.
USER node
EXPOSE 3000 9464 9465 9466 14010
ENTRYPOINT ["node", "--import", "tsx"]
CMD ["api/main.ts"]
