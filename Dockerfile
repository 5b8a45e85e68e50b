# Warden container image: the TypeScript sources run by tsx (no build step), as the unprivileged `node`
# user, state in /data. Plain HTTP on 8080 unless tls.* is configured. See docs/deployment.md.
FROM node:20-bookworm-slim

ENV NODE_ENV=production \
    WARDEN_SERVER_HOST=0.0.0.0 \
    WARDEN_SERVER_PORT=8080 \
    WARDEN_DATA_DIR=/data

WORKDIR /app
# better-sqlite3 installs a prebuilt binary for linux x64/arm64 (glibc); nothing is compiled here.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY tsconfig.json ./
COPY bin ./bin
COPY src ./src

RUN mkdir -p /data && chown node:node /data && chmod 0700 /data
USER node
VOLUME ["/data"]
EXPOSE 8080

# Exec form: SIGTERM reaches Warden, which finishes in-flight calls (server.shutdownTimeoutMs) and exits.
ENTRYPOINT ["node", "bin/warden.mjs"]
CMD ["serve"]
