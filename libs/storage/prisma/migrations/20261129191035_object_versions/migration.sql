-- AlterTable
ALTER TABLE "space_objects" ADD COLUMN     "version" TEXT NOT NULL DEFAULT '';
