/**
 * The pre-key policy: how long signed pre-keys live and are kept, and how many one-time pre-keys an
 * agent keeps published, each with its reason (as libsignal's `consts.rs`). The agent's upkeep, the
 * session layer and the Worker read them from here. This file imports nothing, so the tutorial's
 * in-memory key manager (`x3dh/key-manager.ts`) may take its retention default from it too.
 */

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;

/**
 * A rotated-out signed pre-key still answers establishments this long. An initiator may fetch the
 * bundle just before a rotation and send its first message much later (the relay keeps frames
 * 72 h; an agent may be offline longer), so the old key must outlive the next rotation by a margin:
 * two rotation periods. Past it the key is deleted, which bounds what a later theft of the store
 * can decrypt.
 */
export const SIGNED_PRE_KEY_RETENTION_MS = 14 * DAY_MS;

/**
 * Rotate the signed pre-key once it is this old. Establishments without a one-time pre-key rest on
 * it alone, so a key stolen from the store opens those of at most one period (plus retention).
 */
export const SIGNED_PRE_KEY_MAX_AGE_MS = 7 * DAY_MS;

/**
 * Top up when fewer one-time pre-keys than this are left on the registry: each new peer claims one,
 * and a peer that finds none runs X3DH on the signed pre-key alone, without the one-time key's
 * extra forward secrecy.
 */
export const MIN_ONE_TIME_PRE_KEYS = 5;

/** …to this many. Small, because each is a private key kept until a peer claims it (the Worker holds at most 200). */
export const TARGET_ONE_TIME_PRE_KEYS = 10;

/** Most one-time pre-keys made in one call: a bound on the work and the store batch one call can cause. */
export const MAX_ONE_TIME_PRE_KEYS_PER_CALL = 1000;

/** How often an agent checks its published pre-keys: far more often than rotation is due, so a claimed pool refills within the hour. */
export const UPKEEP_INTERVAL_MS = HOUR_MS;
