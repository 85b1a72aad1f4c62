import type { PreKeyUpload } from '../net/prekey-upload.js';
import type { RegistryClient } from '../net/registry-client.js';
import { MIN_ONE_TIME_PRE_KEYS, SIGNED_PRE_KEY_MAX_AGE_MS, TARGET_ONE_TIME_PRE_KEYS } from './policy.js';

/**
 * The upkeep decision and one run of it against the registry, whoever holds the keys: the
 * store-backed `PreKeyManager` of a `MeshAgent`, or the in-memory `X3DHKeyManager` of `PreKeyUpkeep`.
 */

export interface UpkeepPolicy {
  /** Top up when fewer than this many one-time pre-keys are left on the registry (default `MIN_ONE_TIME_PRE_KEYS`, 5). */
  minOneTimePreKeys?: number;
  /** …to at least this many (default `TARGET_ONE_TIME_PRE_KEYS`, 10). */
  targetOneTimePreKeys?: number;
  /** Rotate the signed pre-key when it is this old (default `SIGNED_PRE_KEY_MAX_AGE_MS`, 7 days). */
  signedPreKeyMaxAgeMs?: number;
}

export interface UpkeepPlan {
  readonly rotate: boolean;
  readonly addOneTimePreKeys: number;
}

export interface UpkeepResult {
  rotatedSignedPreKey: boolean;
  uploadedOneTimePreKeys: number;
  /** One-time pre-keys on the registry after this run. */
  oneTimePreKeys: number;
}

export type PublicOneTimePreKey = PreKeyUpload['oneTimePreKeys'][number];

/** Where the keys live, as one upkeep run uses them. */
export interface UpkeepHolder {
  /** When the current signed pre-key was made; null when there is none yet. */
  signedPreKeyCreatedAt(): Promise<number | null>;
  rotateSignedPreKey(): Promise<unknown>;
  /** Makes `count` one-time pre-keys; returns their public halves. */
  addOneTimePreKeys(count: number): Promise<PublicOneTimePreKey[]>;
  /** The upload of the identity, the current signed pre-key and `oneTime`. */
  upload(oneTime: readonly PublicOneTimePreKey[]): Promise<PreKeyUpload>;
  /** Called once new private keys exist and before their public halves leave: a crash must not publish keys nobody holds. */
  persist?(): Promise<void>;
}

export type UpkeepRegistry = Pick<RegistryClient, 'preKeyStatus' | 'uploadPreKeys'>;

/** The policy with its defaults filled in; a target below the minimum is a caller's mistake. */
export function checkUpkeepPolicy(policy: UpkeepPolicy = {}): Required<UpkeepPolicy> {
  const checked = {
    minOneTimePreKeys: policy.minOneTimePreKeys ?? MIN_ONE_TIME_PRE_KEYS,
    targetOneTimePreKeys: policy.targetOneTimePreKeys ?? TARGET_ONE_TIME_PRE_KEYS,
    signedPreKeyMaxAgeMs: policy.signedPreKeyMaxAgeMs ?? SIGNED_PRE_KEY_MAX_AGE_MS,
  };
  if (checked.targetOneTimePreKeys < checked.minOneTimePreKeys) throw new RangeError('targetOneTimePreKeys < minOneTimePreKeys');
  return checked;
}

/** Rotate a missing or old signed pre-key; below the minimum of one-time pre-keys, make up to the target. */
export function planUpkeep(
  state: { readonly registryOneTimePreKeys: number; readonly signedPreKeyCreatedAt: number | null; readonly now: number },
  policy: Required<UpkeepPolicy>,
): UpkeepPlan {
  const created = state.signedPreKeyCreatedAt;
  const short = state.registryOneTimePreKeys < policy.minOneTimePreKeys;
  return {
    rotate: created === null || state.now - created >= policy.signedPreKeyMaxAgeMs,
    addOneTimePreKeys: short ? policy.targetOneTimePreKeys - state.registryOneTimePreKeys : 0,
  };
}

/** One check-and-fix: asks the registry what it holds, makes what the plan asks for, uploads what is new. */
export async function runUpkeep(
  holder: UpkeepHolder,
  registry: UpkeepRegistry,
  now: () => number,
  policy: Required<UpkeepPolicy>,
): Promise<UpkeepResult> {
  const status = await registry.preKeyStatus();
  const signedPreKeyCreatedAt = await holder.signedPreKeyCreatedAt();
  const plan = planUpkeep({ registryOneTimePreKeys: status.oneTimePreKeys, signedPreKeyCreatedAt, now: now() }, policy);
  if (plan.rotate) await holder.rotateSignedPreKey();
  const fresh = plan.addOneTimePreKeys > 0 ? await holder.addOneTimePreKeys(plan.addOneTimePreKeys) : [];
  if (plan.rotate || fresh.length > 0) await holder.persist?.();
  const upload = await holder.upload(fresh);
  if (!plan.rotate && fresh.length === 0 && status.signedPreKey?.keyId === upload.signedPreKey.keyId) {
    return { rotatedSignedPreKey: false, uploadedOneTimePreKeys: 0, oneTimePreKeys: status.oneTimePreKeys };
  }
  // Only the new one-time pre-keys: re-sending claimed ones would let the registry hand them out again.
  const result = await registry.uploadPreKeys(upload);
  return { rotatedSignedPreKey: plan.rotate, uploadedOneTimePreKeys: fresh.length, oneTimePreKeys: result.oneTimePreKeys };
}
