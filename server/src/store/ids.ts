/**
 * Ids that carry a routing tag: a sharded store (Redis Cluster) finds a record's shard from its id alone, without a lookup.
 * Backend-neutral: the embedded store ignores the tag, and ids stay opaque to clients.
 */
import { createHash } from 'node:crypto';
import { randomId } from '../crypto.js';

/**
 * Hex digits of a routing tag: 48 bits spread over Redis Cluster's 16,384 slots evenly, and collisions only put two records in
 * one slot (a tag never names a record: the full id is in every key).
 */
const TAG_HEX_DIGITS = 12;
const ROUTED_ID = /^([0-9a-f]{12})\.[0-9a-f]{1,64}$/;

/**
 * Tags remembered per process: the check before every command needs its user's tag, and a hash per call would be paid on
 * the hot path. Past this many the memory is dropped and starts again (tags never change, so forgetting costs only a hash).
 */
const REMEMBERED_TAGS = 10_000;
const remembered = new Map<string, string>();

/** The routing tag of any string (a user id, a credential index entry...): hashed, so braces or colons in it cannot leak into a key's hash tag. */
export function routingTag(text: string): string {
  let tag = remembered.get(text);
  if (tag === undefined) {
    tag = createHash('sha256').update(text, 'utf8').digest('hex').slice(0, TAG_HEX_DIGITS);
    if (remembered.size >= REMEMBERED_TAGS) remembered.clear();
    remembered.set(text, tag);
  }
  return tag;
}

/** A new id routed to `tag`: `<tag>.<128 random bits>` (45 characters, far under the protocol's opaque id limit of 128). */
export function routedId(tag: string): string {
  return `${tag}.${randomId()}`;
}

/** A new refresh token id that carries its user's tag, so `auth` (which knows only the id) reaches the token in one hop. */
export function newRefreshTokenId(userId: string): string {
  return routedId(routingTag(userId));
}

/** The tag an id was made with, or null for an id made otherwise (an id of the previous layout, or a caller's own). */
export function tagOfId(id: string): string | null {
  return ROUTED_ID.exec(id)?.[1] ?? null;
}
