import { BctrlError } from '@bctrl/core';

/**
 * Runs a write that may break a `(space_id, name)` unique index, turning that into a 409 naming the field, so that
 * two concurrent creates with one name cannot both win (the index decides, not a check before the write).
 */
export async function uniqueNameInSpace<T>(kind: string, name: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if ((error as { code?: string }).code !== 'P2002') throw error;
    throw new BctrlError('conflict', `${kind} named "${name}" already exists in this space.`, [
      { field: 'name', issue: 'is taken in this space' },
    ]);
  }
}
