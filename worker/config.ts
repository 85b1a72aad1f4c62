import { AUTH_WINDOW_MS, SIGNED_PRE_KEY_RETENTION_MS } from '../src/protocol.js';
import type { Env } from './env.js';

const SECOND = 1000;

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
  inboxMaxPerRecipient: number;
  inboxMaxPerSender: number;
  maxFrameBytes: number;

  authWindowMs: number;
  signedPreKeyRetentionMs: number;
  heartbeatMs: number;
  offlineAfterMs: number;
  /** An unauthenticated socket must send `connect` within this. */
  connectTimeoutMs: number;
  maxSocketsPerAgent: number;
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
    inboxMaxPerSender: int(env.INBOX_MAX_PER_SENDER, 200, 1, 100_000),
    // Cloudflare caps a WebSocket message at 1 MiB.
    maxFrameBytes: int(env.MAX_FRAME_BYTES, 256 * 1024, 1024, 1024 * 1024),

    authWindowMs: AUTH_WINDOW_MS,
    signedPreKeyRetentionMs: SIGNED_PRE_KEY_RETENTION_MS,
    heartbeatMs: 30 * SECOND,
    offlineAfterMs: 90 * SECOND,
    connectTimeoutMs: 10 * SECOND,
    maxSocketsPerAgent: 4,
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
