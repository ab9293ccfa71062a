/** Gives every call of any Store backend a deadline, past which it rejects with StoreUnavailableError instead of hanging. */
import { StoreUnavailableError, type Store, type Unsubscribe } from './types.js';

/**
 * Home Assistant's default deadline is none; 2 s is far above a healthy Redis round trip (~50 us) and far below a client's
 * patience, so a store that answers late is treated as a store that does not answer.
 */
export const DEFAULT_STORE_TIMEOUT_MS = 2_000;

/** Methods that are not calls to the backing service: sync state, and close(), which each backend bounds itself. */
const UNWRAPPED = new Set<string>(['close', 'isAvailable', 'isSubscriberUp']);

export interface DeadlineOptions {
  readonly timeoutMs: number;
  /** Told of every failed store call (a timeout, an outage, any error): what the store error metric counts. */
  readonly onFailure?: (method: string, error: unknown) => void;
}

/**
 * Every member of the store object, its class and their ancestors, nearest first (a backend's methods live on its prototype,
 * `description` on the instance, getters such as `closed` on the class).
 */
function members(store: object): Map<string, PropertyDescriptor> {
  const found = new Map<string, PropertyDescriptor>();
  for (let level: object | null = store; level !== null && level !== Object.prototype; level = Object.getPrototypeOf(level) as object | null) {
    for (const name of Object.getOwnPropertyNames(level)) {
      const descriptor = Object.getOwnPropertyDescriptor(level, name);
      if (descriptor !== undefined && !found.has(name)) found.set(name, descriptor);
    }
  }
  return found;
}

/**
 * The store with a deadline on each of its calls. Every method that returns a promise is covered, including methods a backend
 * adds later, so no call can forget its deadline. Past the deadline a call rejects with StoreUnavailableError (the command
 * answers `unavailable`) and its late answer is dropped; the backend's own promise is still observed, so it cannot become an
 * unhandled rejection.
 *
 * `subscribe` is the exception: past the deadline it resolves anyway, as the Redis backend does during an outage, since the
 * listener stays registered and starts hearing events once the store answers again; a server must be able to start then.
 */
export function withDeadlines<S extends Store>(store: S, options: DeadlineOptions): S {
  const onFailure = options.onFailure ?? (() => undefined);
  const timedOut = (method: string): StoreUnavailableError =>
    new StoreUnavailableError(undefined, { cause: new Error(`store call ${method} did not answer within ${options.timeoutMs} ms`) });

  /** Settles like `promise`, or past the deadline rejects (or, given `fallback`, resolves with what it returns). */
  const guard = <T>(method: string, promise: Promise<T>, fallback?: () => T): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      let settled = false;
      const fail = (error: unknown): void => {
        // A call that answers after its deadline was already answered `unavailable`; its late outcome is dropped.
        if (settled) return;
        settled = true;
        onFailure(method, error);
        reject(error);
      };
      // One timer per call, on purpose: Node keeps every timer of one duration in one list behind one libuv timer, so this is
      // the shared coarse timer already. Measured against a hand-made sweep (a Set or a queue of deadlines, one interval),
      // over real Redis GETs at 10 and 100 in flight: the sweeps cost 20-40% of throughput, these timers 5-20%, and node-redis'
      // own per-command timeout (an AbortSignal per command) is the one to avoid (toolchain.md).
      const timer = setTimeout(() => {
        if (fallback === undefined) return fail(timedOut(method));
        settled = true;
        onFailure(method, timedOut(method));
        resolve(fallback());
      }, options.timeoutMs);
      promise.then(
        (value) => {
          clearTimeout(timer);
          if (settled) return;
          settled = true;
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          fail(error);
        },
      );
    });

  /** The members of `target` with deadlines on its calls; `path` names them in errors (`loginDefense.recordFailure`). */
  const wrap = (target: object, path: string): Record<string, unknown> => {
    const fields = target as Record<string, unknown>;
    const wrapped: Record<string, unknown> = {};
    for (const [name, descriptor] of members(target)) {
      if (name === 'constructor') continue;
      const value = descriptor.value as unknown;
      if (typeof value === 'function') {
        const method = value as (...args: unknown[]) => unknown;
        const label = `${path}${name}`;
        wrapped[name] = UNWRAPPED.has(name)
          ? method.bind(target)
          : (...args: unknown[]): unknown => {
              const result = method.apply(target, args);
              return result instanceof Promise ? guard(label, result) : result;
            };
      } else if (path === '' && typeof value === 'object' && value !== null && !Array.isArray(value)) {
        // A part of the contract kept on its own object (store.loginDefense): its calls get the deadline too. One level
        // only: what that object holds in turn (its Redis client) is its own business.
        wrapped[name] = wrap(value, `${name}.`);
      } else {
        // Plain data (description) and getters read through to the backend, whose private state they need.
        Object.defineProperty(wrapped, name, { get: () => fields[name], enumerable: true });
      }
    }
    return wrapped;
  };
  const wrapped = wrap(store, '');

  const unsubscribeWithDeadline = (unsubscribe: Unsubscribe): Unsubscribe => () => guard('unsubscribe', unsubscribe());
  wrapped['subscribe'] = (channel: string, listener: (message: string) => void): Promise<Unsubscribe> => {
    const subscribed = store.subscribe(channel, listener);
    // Until the late confirmation arrives, removing the listener waits for it (with a deadline of its own).
    const late: Unsubscribe = () => guard('unsubscribe', subscribed.then((unsubscribe) => unsubscribe()));
    return guard('subscribe', subscribed, () => late).then((unsubscribe) => (unsubscribe === late ? late : unsubscribeWithDeadline(unsubscribe)));
  };
  return wrapped as S;
}
