import { randomBytes } from 'node:crypto';
import { BctrlError } from '@bctrl/core';

/*
 * Object keys, one layout for both stores. Everything of a space sits under `spaces/<spaceId>/`, so a space's bytes
 * can be listed, measured or removed by prefix.
 */

/**
 * Where a space object's bytes are: under its upload's own version (every PUT writes a new key, so an upload never
 * overwrites bytes a row describes), or, for rows written before versions, at its path.
 */
export function spaceObjectKey(spaceId: string, path: string, version: string): string {
  return version ? `spaces/${spaceId}/objects/${version}` : `spaces/${spaceId}/storage/${path}`;
}

/** A new upload's version: unguessable and unique, so two uploads never share a key. */
export function newObjectVersion(): string {
  return randomBytes(16).toString('base64url');
}

export function artifactKey(spaceId: string, artifactId: string, name: string): string {
  return `spaces/${spaceId}/artifacts/${artifactId}/${name}`;
}

const ARTIFACT_NAME_MAX_BYTES = 200;

/**
 * An artifact's name comes from a browser (a download's suggested file name) or a caller: anything that could act as
 * a separator, a dot segment or a control character becomes `_`, and it is cut to fit one key segment.
 */
export function safeArtifactName(name: string): string {
  // eslint-disable-next-line no-control-regex
  let safe = name.replace(/[\u0000-\u001f\u007f-\u009f/\\]/g, '_').trim();
  if (safe === '' || safe === '.' || safe === '..') safe = 'artifact';
  while (Buffer.byteLength(safe) > ARTIFACT_NAME_MAX_BYTES) safe = safe.slice(0, -1);
  return safe;
}

/** Cursors of the object list name the last path of a page; anything else a client sends is a 400. */
export function encodePathCursor(path: string): string {
  return Buffer.from(JSON.stringify({ p: path })).toString('base64url');
}

export function decodePathCursor(cursor: string): string {
  const invalid = BctrlError.validation([{ field: 'cursor', issue: 'is not a cursor this API returned' }]);
  if (!/^[A-Za-z0-9_-]{1,2048}$/.test(cursor)) throw invalid;
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { p?: unknown };
    if (typeof parsed.p === 'string' && parsed.p.length > 0) return parsed.p;
  } catch {
    // fall through to the 400
  }
  throw invalid;
}
