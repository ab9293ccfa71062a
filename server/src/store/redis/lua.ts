/** How Flowgate defines a Lua script for node-redis: keys first, then string arguments, the raw reply for the caller to decode. */
import { defineScript, type CommandParser } from 'redis';

/**
 * A script called as `client.NAME(keys, args)`. node-redis sends EVALSHA and falls back to EVAL on NOSCRIPT (a restarted or
 * failed-over Redis has an empty script cache), so scripts need no explicit SCRIPT LOAD. In Redis Cluster every key of one call
 * must hash to one slot (keys.ts lays them out so).
 */
export function luaScript(source: string, numberOfKeys: number) {
  return defineScript({
    SCRIPT: source,
    NUMBER_OF_KEYS: numberOfKeys,
    parseCommand(parser: CommandParser, keys: readonly string[], args: readonly string[]) {
      if (keys.length !== numberOfKeys) throw new Error(`Lua script expects ${numberOfKeys} keys, got ${keys.length}`);
      for (const key of keys) parser.pushKey(key);
      parser.push(...args);
    },
    transformReply: (reply: unknown): unknown => reply,
  });
}
