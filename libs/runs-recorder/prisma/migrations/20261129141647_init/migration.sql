-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "runs_recorder";

-- CreateTable
CREATE TABLE "runs" (
    "id" TEXT NOT NULL,
    "account_id" TEXT NOT NULL,
    "subaccount_id" TEXT,
    "space_id" TEXT NOT NULL,
    "runtime_id" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'active',
    "started_at" TIMESTAMPTZ(3) NOT NULL,
    "ended_at" TIMESTAMPTZ(3),
    "event_seq" INTEGER NOT NULL DEFAULT 0,
    "command_seq" INTEGER NOT NULL DEFAULT 0,
    "artifact_count" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "runs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "run_events" (
    "run_id" TEXT NOT NULL,
    "seq" INTEGER NOT NULL,
    "type" TEXT NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL,
    "data" JSONB NOT NULL,
    "event_id" TEXT NOT NULL,

    CONSTRAINT "run_events_pkey" PRIMARY KEY ("run_id","seq")
);

-- CreateTable
CREATE TABLE "command_records" (
    "run_id" TEXT NOT NULL,
    "seq" INTEGER NOT NULL,
    "source" TEXT NOT NULL,
    "connection_id" TEXT NOT NULL,
    "method" TEXT NOT NULL,
    "session_id" TEXT NOT NULL,
    "started_at" TIMESTAMPTZ(3) NOT NULL,
    "duration_micros" BIGINT NOT NULL,
    "ok" BOOLEAN NOT NULL,
    "error_code" TEXT NOT NULL,
    "request_bytes" BIGINT NOT NULL,
    "response_bytes" BIGINT NOT NULL,
    "batch_id" TEXT NOT NULL,
    "batch_index" INTEGER NOT NULL,

    CONSTRAINT "command_records_pkey" PRIMARY KEY ("run_id","seq")
);

-- CreateIndex
CREATE INDEX "runs_space_id_created_at_id_idx" ON "runs"("space_id", "created_at" DESC, "id" DESC);

-- CreateIndex
CREATE UNIQUE INDEX "run_events_event_id_key" ON "run_events"("event_id");

-- CreateIndex
CREATE UNIQUE INDEX "command_records_batch_id_batch_index_key" ON "command_records"("batch_id", "batch_index");
