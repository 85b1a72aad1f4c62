import { toBase64Url, type Bytes } from '../encoding.js';
import { ACTION_ENVELOPE_VERSION } from '../wire/action-envelope.js';
import type { ChannelConditions, ChannelConditionsJson } from './channel-conditions.js';
import { encodeConditions } from './channel-conditions.js';
import { InvalidTrustFrameError } from './errors.js';
import { asObject, readInt, readKeyBytes, readString, readStringList, type AgentMeshFrame, type FrameEnvelope, type ParsedFrame } from './frame.js';
import { TRUST_LIMITS } from './limits.js';

export const KNOCK_FRAMES = { knock: 'knock', accept: 'knock_accept', reject: 'knock_reject' } as const;

/**
 * Ours, not AgentMesh v1: a `knock` lists the action-envelope versions its sender speaks
 * (`action_envelope: [1]`), and a `knock_accept` names the one the channel will use
 * (`action_envelope: 1`) only when the knock offered it. Both frames are signed whole, so the field
 * cannot be stripped or added on the way. A v1 agent neither sends nor reads it.
 */
export const ACTION_ENVELOPE_FIELD = 'action_envelope';
/** Most versions a knock may list. */
const MAX_ENVELOPE_VERSIONS = 16;

/** What an agent asks to do before it opens a channel. */
export interface KnockIntent {
  readonly action: string;
  readonly description: string;
  /** Capabilities the action needs from the recipient. */
  readonly capabilitiesRequired: readonly string[];
  /** The trust score the action calls for; the recipient applies it on top of its own minimum. */
  readonly trustMinimum: number;
}

export interface KnockIntentJson {
  action: string;
  description: string;
  capabilities_required: string[];
  trust_minimum: number;
}

export interface ParsedKnock {
  readonly frame: ParsedFrame;
  readonly intent: KnockIntent;
  /** Ours: the sender's Ed25519 key, so derived DIDs verify without a lookup. Absent in the reference's frames. */
  readonly publicKey: Bytes | null;
  /** Ours: the sender offered the action envelope (`action_envelope` lists version 1). */
  readonly actionEnvelope: boolean;
  readonly signature: Bytes;
}

export type ParsedKnockAnswer =
  | {
      readonly frame: ParsedFrame;
      readonly accepted: true;
      readonly knockId: string;
      readonly conditions: ChannelConditions;
      /** The acceptance selected the action envelope. */
      readonly actionEnvelope: boolean;
      readonly signature: Bytes;
    }
  | { readonly frame: ParsedFrame; readonly accepted: false; readonly knockId: string; readonly reason: string; readonly signature: Bytes };

const ACTION = /^[A-Za-z0-9_.:/-]+$/;
const REASON = /^[\x20-\x7e]+$/;

export function checkIntent(intent: KnockIntent): KnockIntent {
  try {
    return readIntent(encodeIntent(intent));
  } catch (error) {
    throw new InvalidTrustFrameError(`invalid KNOCK intent: ${(error as Error).message}`);
  }
}

export function encodeIntent(intent: KnockIntent): KnockIntentJson {
  return {
    action: intent.action,
    description: intent.description,
    capabilities_required: intent.capabilitiesRequired as string[],
    trust_minimum: intent.trustMinimum,
  };
}

export function knockFrame(env: FrameEnvelope, intent: KnockIntent, publicKey: Uint8Array): AgentMeshFrame {
  return { ...env, intent: encodeIntent(intent), public_key: toBase64Url(publicKey), [ACTION_ENVELOPE_FIELD]: [ACTION_ENVELOPE_VERSION] };
}

/** With `actionEnvelope` (only when the knock offered it), the acceptance selects the envelope; without it the frame is v1's. */
export function knockAcceptFrame(env: FrameEnvelope, knockId: string, conditions: ChannelConditions, publicKey: Uint8Array, actionEnvelope: boolean): AgentMeshFrame {
  const wire: ChannelConditionsJson = encodeConditions(conditions);
  const frame = { ...env, knock_id: knockId, conditions: wire, public_key: toBase64Url(publicKey) };
  return actionEnvelope ? { ...frame, [ACTION_ENVELOPE_FIELD]: ACTION_ENVELOPE_VERSION } : frame;
}

export function knockRejectFrame(env: FrameEnvelope, knockId: string, reason: string, publicKey: Uint8Array): AgentMeshFrame {
  return { ...env, knock_id: knockId, reason, public_key: toBase64Url(publicKey) };
}

export function parseKnock(frame: ParsedFrame): ParsedKnock {
  if (frame.type !== KNOCK_FRAMES.knock) throw new InvalidTrustFrameError(`invalid frame: expected knock, got ${frame.type}`);
  return {
    frame,
    intent: readIntent(frame.fields.intent),
    publicKey: readOptionalKey(frame.fields),
    actionEnvelope: readOfferedEnvelope(frame.fields),
    signature: readKeyBytes(frame.fields, 'signature', 64),
  };
}

export function parseKnockAnswer(frame: ParsedFrame): ParsedKnockAnswer {
  const f = frame.fields;
  const knockId = readString(f, 'knock_id', 36);
  const signature = readKeyBytes(f, 'signature', 64);
  if (frame.type === KNOCK_FRAMES.accept) {
    const c = asObject(f.conditions, '"conditions"');
    const conditions: ChannelConditions = {
      maxMessages: readInt(c, 'max_messages', 1, TRUST_LIMITS.maxMessages),
      ttlSeconds: readInt(c, 'ttl_seconds', 1, TRUST_LIMITS.maxTtlSeconds),
      allowedActions: readStringList(c, 'allowed_actions'),
    };
    return { frame, accepted: true, knockId, conditions, actionEnvelope: readSelectedEnvelope(f), signature };
  }
  if (frame.type === KNOCK_FRAMES.reject) {
    return { frame, accepted: false, knockId, reason: readString(f, 'reason', TRUST_LIMITS.maxReasonLength, REASON), signature };
  }
  throw new InvalidTrustFrameError(`invalid frame: expected knock_accept or knock_reject, got ${frame.type}`);
}

export function isValidReason(reason: unknown): reason is string {
  return typeof reason === 'string' && reason.length > 0 && reason.length <= TRUST_LIMITS.maxReasonLength && REASON.test(reason);
}

function readIntent(value: unknown): KnockIntent {
  const r = asObject(value, '"intent"');
  const description = r.description === '' ? '' : readString(r, 'description', TRUST_LIMITS.maxTextLength);
  return {
    action: readString(r, 'action', TRUST_LIMITS.maxListItemLength, ACTION),
    description,
    capabilitiesRequired: readStringList(r, 'capabilities_required'),
    trustMinimum: readInt(r, 'trust_minimum', 0, 1000),
  };
}

/** A knock's offer: absent (a v1 sender) or a short list of version numbers; true when it lists ours. */
function readOfferedEnvelope(fields: Record<string, unknown>): boolean {
  const offer = fields[ACTION_ENVELOPE_FIELD];
  if (offer === undefined || offer === null) return false;
  if (!Array.isArray(offer) || offer.length > MAX_ENVELOPE_VERSIONS || !offer.every((v) => Number.isInteger(v) && v >= 1 && v <= 255)) {
    throw new InvalidTrustFrameError(`invalid frame: "${ACTION_ENVELOPE_FIELD}" must list at most ${MAX_ENVELOPE_VERSIONS} versions from 1 to 255`);
  }
  return offer.includes(ACTION_ENVELOPE_VERSION);
}

/** An acceptance's choice: absent (no envelope) or the one version a knock of ours offers. */
function readSelectedEnvelope(fields: Record<string, unknown>): boolean {
  const choice = fields[ACTION_ENVELOPE_FIELD];
  if (choice === undefined || choice === null) return false;
  if (choice !== ACTION_ENVELOPE_VERSION) {
    throw new InvalidTrustFrameError(`invalid frame: "${ACTION_ENVELOPE_FIELD}" must be ${ACTION_ENVELOPE_VERSION}, the version the knock offered`);
  }
  return true;
}

function readOptionalKey(fields: Record<string, unknown>): Bytes | null {
  return fields.public_key === undefined || fields.public_key === null ? null : readKeyBytes(fields, 'public_key', 32);
}
