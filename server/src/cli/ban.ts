/** `flowgate ban list|remove ADDRESS`: Home Assistant's ip_bans.yaml, kept in the store every instance shares. */
import { limitKey, normaliseAddress } from '../defense/client-address.js';
import { parse, printSubcommand, STORE_OPTIONS, UsageError, withStore } from './store-command.js';

export const BAN_USAGE = `Commands for ban (each also takes --config FILE and --store URL, as serve does):
  ban list              the banned addresses, oldest first (bans need http.ip_ban_enabled and http.login_attempts_threshold)
  ban remove ADDRESS    lifts the ban of ADDRESS (an IPv6 address lifts the ban of its /64)`;

async function list(args: string[]): Promise<string> {
  const { values } = parse(args, STORE_OPTIONS, [], 'ban');
  return withStore(values, async (store) => {
    const bans = await store.loginDefense.listBans();
    if (bans.length === 0) return 'No banned addresses.';
    const width = Math.max('ADDRESS'.length, ...bans.map((b) => b.address.length));
    const rows = bans.map((b) => `${b.address.padEnd(width)}  ${new Date(b.bannedAt).toISOString()}`);
    return [`${'ADDRESS'.padEnd(width)}  BANNED AT`, ...rows].join('\n');
  });
}

async function remove(args: string[]): Promise<string> {
  const { values, positionals } = parse(args, STORE_OPTIONS, ['ADDRESS'], 'ban');
  const raw = positionals[0] ?? '';
  const address = normaliseAddress(raw);
  if (address === null) throw new UsageError(`"${raw}" is not an IP address`);
  // Bans are kept by the key every per-address limit uses (an IPv6 address by its /64).
  const key = limitKey(address);
  return withStore(values, async (store) =>
    (await store.loginDefense.removeBan(key)) ? `Lifted the ban of ${key}.` : `${key} was not banned.`,
  );
}

export const banCommand = (argv: string[]): Promise<void> => printSubcommand('ban', BAN_USAGE, { list, remove }, argv);
