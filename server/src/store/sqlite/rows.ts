/** SqliteUsers' rows (users, credentials) as SELECT returns them, and their mapping to the store's records. */
import type { Credential, JsonObject, User } from '../types.js';
import { parseGroupIds, userRecord } from '../user-record.js';

export interface UserRow {
  id: string;
  name: string;
  is_owner: number;
  is_admin: number;
  is_active: number;
  group_ids: string;
  local_only: number;
  created_at: number;
}

export interface CredentialRow {
  id: string;
  provider_type: string;
  provider_id: string | null;
  subject: string;
  data: string;
  user_id: string | null;
  created_at: number;
}

export const toUser = (row: UserRow): User =>
  userRecord({
    id: row.id,
    name: row.name,
    isOwner: row.is_owner === 1,
    isActive: row.is_active === 1,
    groupIds: parseGroupIds(row.group_ids),
    legacyAdmin: row.is_admin === 1,
    localOnly: row.local_only === 1,
    createdAt: row.created_at,
  });

export const toCredential = (row: CredentialRow): Credential => ({
  id: row.id,
  providerType: row.provider_type,
  providerId: row.provider_id,
  subject: row.subject,
  data: JSON.parse(row.data) as JsonObject,
  userId: row.user_id,
  createdAt: row.created_at,
});
