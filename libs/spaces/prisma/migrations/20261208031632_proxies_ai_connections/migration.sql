-- CreateTable
CREATE TABLE "proxies" (
    "id" TEXT NOT NULL,
    "account_id" TEXT NOT NULL,
    "subaccount_id" TEXT,
    "space_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "server" TEXT NOT NULL,
    "username" TEXT,
    "password_secret_id" TEXT,
    "bypass" TEXT[],
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "proxies_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ai_connections" (
    "id" TEXT NOT NULL,
    "account_id" TEXT NOT NULL,
    "subaccount_id" TEXT,
    "space_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "provider" TEXT NOT NULL,
    "model" TEXT NOT NULL,
    "base_url" TEXT,
    "api_key_secret_id" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "ai_connections_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "proxies_space_id_created_at_id_idx" ON "proxies"("space_id", "created_at" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "proxies_password_secret_id_idx" ON "proxies"("password_secret_id");

-- CreateIndex
CREATE UNIQUE INDEX "proxies_space_id_name_key" ON "proxies"("space_id", "name");

-- CreateIndex
CREATE INDEX "ai_connections_space_id_created_at_id_idx" ON "ai_connections"("space_id", "created_at" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "ai_connections_api_key_secret_id_idx" ON "ai_connections"("api_key_secret_id");

-- CreateIndex
CREATE UNIQUE INDEX "ai_connections_space_id_name_key" ON "ai_connections"("space_id", "name");

-- AddForeignKey
ALTER TABLE "proxies" ADD CONSTRAINT "proxies_space_id_fkey" FOREIGN KEY ("space_id") REFERENCES "spaces"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "proxies" ADD CONSTRAINT "proxies_password_secret_id_fkey" FOREIGN KEY ("password_secret_id") REFERENCES "secrets"("id") ON DELETE NO ACTION ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ai_connections" ADD CONSTRAINT "ai_connections_space_id_fkey" FOREIGN KEY ("space_id") REFERENCES "spaces"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ai_connections" ADD CONSTRAINT "ai_connections_api_key_secret_id_fkey" FOREIGN KEY ("api_key_secret_id") REFERENCES "secrets"("id") ON DELETE NO ACTION ON UPDATE CASCADE;
