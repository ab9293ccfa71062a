/** Random identifiers and constant-time comparison: the two primitives every secret in Flowgate relies on. */
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Bits of entropy in flow ids and authorization codes (the protocol asks for at least 128). */
export const RANDOM_ID_BYTES = 16;

/** An unguessable id: `bytes` bytes from the OS CSPRNG, as lowercase hex. */
export function randomId(bytes = RANDOM_ID_BYTES): string {
  return randomBytes(bytes).toString('hex');
}

/**
 * Compares two secrets in time that depends on neither their content nor their length: both sides are hashed to 32 bytes
 * first, so `timingSafeEqual` always compares equal-length buffers.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  return sameDigest(digest(a), digest(b));
}

/** A secret's SHA-256 (the one-shot `hash`, no Hash object per call), for comparing with `sameDigest`: digest a fixed secret once. */
export function digest(secret: string): Buffer {
  return hash('sha256', secret, 'buffer');
}

/** Two digests compared in constant time. */
export function sameDigest(a: Buffer, b: Buffer): boolean {
  return timingSafeEqual(a, b);
}
