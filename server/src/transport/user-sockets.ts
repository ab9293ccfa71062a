/** The authenticated sockets of each user on this instance, bounded by `websocket.max_sockets_per_user`. */

/** What refuses an `auth` past the bound: the sentence `auth_invalid` carries, for the person who reads it. */
export const tooManySocketsMessage = (limit: number): string =>
  `This user already has ${limit} connections open on this server instance, the most websocket.max_sockets_per_user allows; close one, then connect again`;

export class UserSockets<Socket> {
  private readonly byUser = new Map<string, Set<Socket>>();
  private readonly userOf = new Map<Socket, string>();

  /** `limit` 0: no bound. */
  constructor(private readonly limit: number) {}

  /**
   * Counts `socket` as `userId`'s, unless the user already holds `limit` other sockets here: then the refusal's message, and
   * nothing counted. A socket that authenticates again as its own user keeps its place; as another user, it moves.
   */
  admit(socket: Socket, userId: string): string | null {
    if (this.userOf.get(socket) === userId) return null;
    const held = this.byUser.get(userId);
    if (this.limit > 0 && (held?.size ?? 0) >= this.limit) return tooManySocketsMessage(this.limit);
    this.forget(socket);
    const set = held ?? new Set<Socket>();
    set.add(socket);
    this.byUser.set(userId, set);
    this.userOf.set(socket, userId);
    return null;
  }

  /** The socket closed: its place is free. */
  forget(socket: Socket): void {
    const userId = this.userOf.get(socket);
    if (userId === undefined) return;
    this.userOf.delete(socket);
    const set = this.byUser.get(userId);
    set?.delete(socket);
    if (set?.size === 0) this.byUser.delete(userId);
  }
}
