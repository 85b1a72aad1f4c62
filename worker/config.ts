import { AUTH_WINDOW_MS, SIGNED_PRE_KEY_RETENTION_MS } from '../src/protocol.js';
import type { Env } from './env.js';

const SECOND = 1000;
const KIB = 1024;
const MIB = 1024 * KIB;

/** Every limit the service enforces, in one place. Deployments tune the first group through vars. */
export interface Config {
  allowTimestampOnlyAuth: boolean;
  messageTtlMs: number;
  /** Requests per caller per minute, per agent object (and for the directory). */
  rateLimitPerMinute: number;
  /** Bundle fetches (each claims a one-time pre-key) per caller per agent per minute. */
  preKeyClaimsPerMinute: number;
  maxOneTimePreKeys: number;
  maxOneTimePreKeysPerUpload: number;
  /** Frames and UTF-8 bytes waiting for one recipient, from everyone. */
  inboxMaxPerRecipient: number;
  inboxMaxBytesPerRecipient: number;
  /** Frames and bytes one sender may have waiting for one recipient that wrote to it (an established peer). */
  inboxMaxPerSender: number;
  inboxMaxBytesPerSender: number;
  /**
   * The same for a stranger: a sender the recipient never wrote a `message`, `knock` or
   * `knock_accept` to. Registration is free, so strangers are many: they share one pool per
   * recipient (`…FromStrangers`), which leaves the rest of the inbox to established peers.
   */
  inboxMaxPerStranger: number;
  inboxMaxBytesPerStranger: number;
  inboxMaxFromStrangers: number;
  inboxMaxBytesFromStrangers: number;
  maxFrameBytes: number;

  authWindowMs: number;
  signedPreKeyRetentionMs: number;
  heartbeatMs: number;
  offlineAfterMs: number;
  /** A socket opened without a signed upgrade must send `connect` within this. */
  connectTimeoutMs: number;
  /** Authenticated sockets per agent; a newer one replaces the oldest. */
  maxSocketsPerAgent: number;
  /**
   * Sockets waiting for a first-frame `connect` (clients that do not sign the upgrade), per
   * agent and per address. A separate budget: they never count against, or displace, the
   * owner's authenticated sockets; a new one beyond the cap closes the oldest waiting one.
   */
  maxPendingSockets: number;
  maxPendingSocketsPerAddress: number;
  /**
   * Backlog paging: frames and bytes sent on a socket and not yet acknowledged. More goes out
   * as acks come in; frames left unacknowledged for `backlogHoldMs` stop holding the window
   * (the client keeps them), so a frame a client never acknowledges cannot stall the rest.
   */
  backlogWindowFrames: number;
  backlogWindowBytes: number;
  backlogHoldMs: number;
  /** Peers remembered per agent for standing (least recently written to go first), and how often a peer's time is refreshed. */
  maxPeers: number;
  peerRefreshMs: number;
  maxPurgeSenders: number;
  maxVotes: number;
  maxRegistrationBytes: number;
  maxPreKeyUploadBytes: number;
  maxSmallBodyBytes: number;
  maxCapabilities: number;
  maxMetadataBytes: number;
  maxInboxPage: number;
  maxAcksPerRequest: number;
  maxDiscoverResults: number;
}

function int(value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined || value.trim() === '') return fallback;
  const n = Number(value);
  return Number.isInteger(n) && n >= min && n <= max ? n : fallback;
}

export function loadConfig(env: Env): Config {
  return {
    allowTimestampOnlyAuth: env.ALLOW_TIMESTAMP_ONLY_AUTH === 'true',
    messageTtlMs: int(env.MESSAGE_TTL_SECONDS, 72 * 3600, 1, 30 * 24 * 3600) * SECOND,
    rateLimitPerMinute: int(env.RATE_LIMIT_PER_MINUTE, 600, 1, 1_000_000),
    preKeyClaimsPerMinute: int(env.PREKEY_CLAIMS_PER_MINUTE, 60, 1, 1_000_000),
    maxOneTimePreKeys: int(env.MAX_ONE_TIME_PRE_KEYS, 200, 1, 10_000),
    maxOneTimePreKeysPerUpload: int(env.MAX_ONE_TIME_PRE_KEYS_PER_UPLOAD, 100, 1, 1000),
    inboxMaxPerRecipient: int(env.INBOX_MAX_PER_RECIPIENT, 1000, 1, 100_000),
    inboxMaxBytesPerRecipient: int(env.INBOX_MAX_BYTES_PER_RECIPIENT, 32 * MIB, 1024, 1024 * MIB),
    inboxMaxPerSender: int(env.INBOX_MAX_PER_SENDER, 200, 1, 100_000),
    inboxMaxBytesPerSender: int(env.INBOX_MAX_BYTES_PER_SENDER, 8 * MIB, 1024, 1024 * MIB),
    inboxMaxPerStranger: int(env.INBOX_MAX_PER_STRANGER, 50, 1, 100_000),
    inboxMaxBytesPerStranger: int(env.INBOX_MAX_BYTES_PER_STRANGER, 1 * MIB, 1024, 1024 * MIB),
    inboxMaxFromStrangers: int(env.INBOX_MAX_FROM_STRANGERS, 250, 1, 100_000),
    inboxMaxBytesFromStrangers: int(env.INBOX_MAX_BYTES_FROM_STRANGERS, 8 * MIB, 1024, 1024 * MIB),
    // Cloudflare caps a WebSocket message at 1 MiB.
    maxFrameBytes: int(env.MAX_FRAME_BYTES, 256 * 1024, 1024, 1024 * 1024),

    authWindowMs: AUTH_WINDOW_MS,
    signedPreKeyRetentionMs: SIGNED_PRE_KEY_RETENTION_MS,
    heartbeatMs: 30 * SECOND,
    offlineAfterMs: 90 * SECOND,
    connectTimeoutMs: 5 * SECOND,
    maxSocketsPerAgent: 4,
    maxPendingSockets: 8,
    maxPendingSocketsPerAddress: 2,
    // 64 frames or 512 KiB in flight: a connect holds at most one page (≤ max(512 KiB, one frame)) in memory.
    backlogWindowFrames: 64,
    backlogWindowBytes: 512 * KIB,
    backlogHoldMs: 10 * SECOND,
    maxPeers: 10_000,
    peerRefreshMs: 24 * 3600 * SECOND,
    maxPurgeSenders: 100,
    maxVotes: 1000,
    maxRegistrationBytes: 8 * 1024,
    maxPreKeyUploadBytes: 128 * 1024,
    maxSmallBodyBytes: 16 * 1024,
    maxCapabilities: 32,
    maxMetadataBytes: 4 * 1024,
    maxInboxPage: 100,
    maxAcksPerRequest: 100,
    maxDiscoverResults: 100,
  };
}
