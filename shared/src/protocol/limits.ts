/** Protocol limits shared by server and clients; each value carries the reason it exists. */

/** Largest text frame a server accepts (bigger frames close the socket with 1009): a login message is a few hundred bytes, so 64 KiB leaves room for batches without letting one client pin memory. */
export const MAX_FRAME_BYTES = 64 * 1024;

/** Most commands one JSON-array frame may carry: batches save round trips, but an unbounded array would let one frame queue unbounded work. */
export const MAX_BATCH_COMMANDS = 64;

/** Longest `client_id` (an OAuth client id is a URL; 2 KiB covers any real one). */
export const MAX_CLIENT_ID_LENGTH = 2048;

/** Longest `redirect_uri`, for the same reason as the client id. */
export const MAX_REDIRECT_URI_LENGTH = 2048;

/** Longest flow id or code accepted on the wire: ours are 32 hex characters; anything much longer is not ours. */
export const MAX_OPAQUE_ID_LENGTH = 128;

/** Longest handler type or id (`["password", null]`). */
export const MAX_HANDLER_PART_LENGTH = 64;

/** Most fields in one `user_input`: no form has more than a handful. */
export const MAX_USER_INPUT_FIELDS = 32;

/** Longest string value in a `user_input` field: passwords and codes are short; 1 KiB still fits pass-phrases. */
export const MAX_USER_INPUT_STRING_LENGTH = 1024;

/** Longest access token accepted by `auth` (HA refuses a 10,000-character token; ours are under 512 bytes). */
export const MAX_ACCESS_TOKEN_LENGTH = 4096;

/** Longest refresh token or other opaque secret accepted on the wire. */
export const MAX_TOKEN_LENGTH = 512;

/** The protocol version this package describes (`protocol` in the hello). */
export const PROTOCOL_VERSION = 1;

/** The Home Assistant websocket API level we speak, so HA's client library negotiates coalescing. */
export const HA_VERSION = '2024.1.0';
