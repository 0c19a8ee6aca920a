-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "runtime_orchestrator";

-- CreateTable
CREATE TABLE "runtimes" (
    "id" TEXT NOT NULL,
    "account_id" TEXT NOT NULL,
    "subaccount_id" TEXT,
    "space_id" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "run_id" TEXT NOT NULL,
    "config" JSONB NOT NULL,
    "metadata" JSONB NOT NULL DEFAULT '{}',
    "timeout_seconds" INTEGER NOT NULL,
    "idle_timeout_seconds" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,
    "ready_at" TIMESTAMPTZ(3),
    "stopped_at" TIMESTAMPTZ(3),
    "expires_at" TIMESTAMPTZ(3),
    "last_activity_at" TIMESTAMPTZ(3),
    "stop_reason" TEXT,
    "failure" TEXT,
    "driver" TEXT,
    "driver_ref" TEXT,
    "agent_url" TEXT,
    "agent_token" TEXT,
    "cdp_url" TEXT,
    "launched_by" TEXT,

    CONSTRAINT "runtimes_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "runtimes_space_id_created_at_id_idx" ON "runtimes"("space_id", "created_at" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "runtimes_status_idx" ON "runtimes"("status");
