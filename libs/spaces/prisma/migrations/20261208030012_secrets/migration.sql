-- CreateTable
CREATE TABLE "secrets" (
    "id" TEXT NOT NULL,
    "account_id" TEXT NOT NULL,
    "subaccount_id" TEXT,
    "space_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "version" INTEGER NOT NULL DEFAULT 1,
    "kek_id" TEXT NOT NULL,
    "wrapped_key" BYTEA NOT NULL,
    "ciphertext" BYTEA NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,
    "last_used_at" TIMESTAMPTZ(3),

    CONSTRAINT "secrets_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "secrets_space_id_created_at_id_idx" ON "secrets"("space_id", "created_at" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "secrets_kek_id_idx" ON "secrets"("kek_id");

-- CreateIndex
CREATE UNIQUE INDEX "secrets_space_id_name_key" ON "secrets"("space_id", "name");

-- AddForeignKey
ALTER TABLE "secrets" ADD CONSTRAINT "secrets_space_id_fkey" FOREIGN KEY ("space_id") REFERENCES "spaces"("id") ON DELETE CASCADE ON UPDATE CASCADE;
