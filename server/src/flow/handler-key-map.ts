/** A map keyed by handler key (`[type, id]`, id null for a type's only instance), looked up on every step without building a string. */
import type { HandlerKey } from '@flowgate/shared';

/** A handler key as code spells it (`MFA_LOGIN_HANDLER` is a readonly tuple). */
type Key = Readonly<HandlerKey>;

export class HandlerKeyMap<V> {
  private readonly byType = new Map<string, Map<string | null, V>>();

  constructor(entries: Iterable<readonly [Key, V]> = []) {
    for (const [key, value] of entries) this.set(key, value);
  }

  set([type, id]: Key, value: V): void {
    let byId = this.byType.get(type);
    if (byId === undefined) {
      byId = new Map();
      this.byType.set(type, byId);
    }
    byId.set(id, value);
  }

  get([type, id]: Key): V | undefined {
    return this.byType.get(type)?.get(id);
  }
}
