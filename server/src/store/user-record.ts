/** The one place that turns stored user fields into a User: both backends decode through it, so derived fields agree. */
import { GROUP_ID_ADMIN, GROUP_ID_USER } from '@flowgate/shared';
import type { User } from './types.js';

export interface StoredUserFields {
  readonly id: string;
  readonly name: string;
  readonly isOwner: boolean;
  readonly isActive: boolean;
  /** Null for a record written before groups existed: its old admin flag decides (see legacyGroups). */
  readonly groupIds: readonly string[] | null;
  readonly legacyAdmin: boolean;
  readonly localOnly: boolean;
  readonly createdAt: number;
}

/** The groups a record from before groups existed stands for: its admin flag made it an administrator, else an ordinary user. */
const legacyGroups = (admin: boolean): string[] => [admin ? GROUP_ID_ADMIN : GROUP_ID_USER];

/** A user as the rest of Flowgate sees it: the owner is always in `system-admin`, and an admin is exactly a member of it. */
export function userRecord(fields: StoredUserFields): User {
  const stored = fields.groupIds ?? legacyGroups(fields.legacyAdmin);
  const groupIds = fields.isOwner && !stored.includes(GROUP_ID_ADMIN) ? [GROUP_ID_ADMIN, ...stored] : [...stored];
  return {
    id: fields.id,
    name: fields.name,
    isOwner: fields.isOwner,
    isAdmin: groupIds.includes(GROUP_ID_ADMIN),
    isActive: fields.isActive,
    groupIds,
    localOnly: fields.localOnly,
    createdAt: fields.createdAt,
  };
}

/** Group ids as stored: JSON, parsed strictly (anything else is not a record Flowgate wrote). */
export function parseGroupIds(json: string): string[] {
  const value: unknown = JSON.parse(json);
  if (!Array.isArray(value) || !value.every((id): id is string => typeof id === 'string')) {
    throw new Error('A stored user has malformed group ids');
  }
  return value;
}
