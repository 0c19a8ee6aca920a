-- Live views and recordings find a runtime by the run it serves.
-- CreateIndex
CREATE INDEX "runtimes_run_id_idx" ON "runtimes"("run_id");
