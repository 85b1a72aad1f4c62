import type { CryptoProvider } from '../crypto/index.js';
import { toBase64Url, type Bytes } from '../encoding.js';
import { AgentMeshError } from '../errors.js';
import { SecureChannel, type ChannelSnapshot } from '../channel/secure-channel.js';
import { decodeEstablishment, encodeEstablishment, type ChannelEstablishment, type EstablishmentJson } from '../channel/establishment.js';
import type { RatchetStateDict } from '../ratchet/state.js';
import { CorruptRecordError } from '../storage/errors.js';
import type { JsonObject, JsonValue } from '../storage/records.js';
import { asRecord, readBytes } from '../wire/json.js';

/**
 * The session layer's own JSON inside a `SessionRecord`: the channel state (sealed at rest by the
 * store) and the metadata beside it. Storage treats both as opaque; this file gives them a shape.
 */

export type SessionRole = 'initiator' | 'responder';

/** Largest application associated data a session keeps. */
export const MAX_ASSOCIATED_DATA_BYTES = 64 * 1024;
/** Candidate channels kept while a responder cannot yet tell which signed pre-key the initiator used. */
export const MAX_CANDIDATE_CHANNELS = 64;

interface ChannelSnapshotJson {
  associated_data: string;
  local_identity_key: string;
  remote_identity_key: string;
  message_count: number;
  state: RatchetStateDict;
}

/** What both roles keep about the peer. */
interface PeerKeys {
  /** The peer's X25519 identity key (the one in the channel's associated data). */
  readonly peerIdentityKey: Bytes;
}

export interface InitiatorMetadata extends PeerKeys {
  readonly role: 'initiator';
  /** The peer's Ed25519 identity key: it is in the bundle the session started from. */
  readonly peerIdentityKeyEd: Bytes;
  /** What the peer needs to complete X3DH; kept until the first reply proves it has it. */
  readonly establishment: ChannelEstablishment | null;
  /**
   * Set when both sides opened a session at once and ours was kept: the ephemeral key of the peer's
   * own establishment, whose messages are read with the inbound channel (see `encodeChannels`).
   */
  readonly inboundEphemeralKey: Bytes | null;
}

export interface ResponderMetadata extends PeerKeys {
  readonly role: 'responder';
  /** The peer's Ed25519 identity key, when the caller of `accept` knew it. */
  readonly peerIdentityKeyEd: Bytes | null;
  /** The establishment's ephemeral key, to recognise a retransmitted establishment. */
  readonly acceptedEphemeralKey: Bytes;
}

export type SessionMetadata = InitiatorMetadata | ResponderMetadata;

const corrupt = (message: string) => new CorruptRecordError(`stored session: ${message}`);

/**
 * `inbound` is a receive-only channel: the session the peer opened at the same moment as ours, kept
 * only to read the messages it sent before it switched to our session.
 */
export function encodeChannels(snapshots: readonly ChannelSnapshot[], inbound: ChannelSnapshot | null = null): JsonValue {
  const json: JsonObject = { version: 1, channels: snapshots.map(snapshotToJson) };
  if (inbound) json.inbound = snapshotToJson(inbound);
  return json;
}

/**
 * The stored channels with one part replaced: `channels` (the session and its candidates) or
 * `inbound` (null drops it). The part not given is kept as stored, without a decode and re-encode.
 */
export function updateChannels(
  previous: JsonValue,
  change: { readonly channels: readonly ChannelSnapshot[] } | { readonly inbound: ChannelSnapshot | null },
): JsonValue {
  const stored = previous as JsonObject;
  const json: JsonObject = { version: 1, channels: 'channels' in change ? change.channels.map(snapshotToJson) : stored.channels! };
  const inbound = 'inbound' in change ? (change.inbound ? snapshotToJson(change.inbound) : undefined) : stored.inbound;
  if (inbound !== undefined) json.inbound = inbound;
  return json;
}

function snapshotToJson(s: ChannelSnapshot): JsonObject {
  return {
    associated_data: toBase64Url(s.associatedData),
    local_identity_key: toBase64Url(s.localIdentityKey),
    remote_identity_key: toBase64Url(s.remoteIdentityKey),
    message_count: s.messageCount,
    state: s.state as unknown as JsonObject,
  };
}

/** The stored channels, parsed into snapshots; the first is the session, the rest are candidates. */
export function decodeChannels(json: unknown): ChannelSnapshot[] {
  const record = asRecord(json, corrupt, 'channel');
  if (record.version !== 1) throw corrupt(`unknown channel version ${typeof record.version === 'number' ? record.version : typeof record.version}`);
  const list = record.channels;
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_CANDIDATE_CHANNELS) {
    throw corrupt(`channels must be 1 to ${MAX_CANDIDATE_CHANNELS} entries`);
  }
  return list.map((entry, i) => snapshotFromJson(entry, `channels[${i}]`));
}

/** The stored receive-only channel, if any (see `encodeChannels`). */
export function decodeInboundChannel(json: unknown): ChannelSnapshot | null {
  const record = asRecord(json, corrupt, 'channel');
  return record.inbound === undefined ? null : snapshotFromJson(record.inbound, 'inbound');
}

function snapshotFromJson(entry: unknown, where: string): ChannelSnapshot {
  const c = asRecord(entry, corrupt, where) as Partial<Record<keyof ChannelSnapshotJson, unknown>> & Record<string, unknown>;
  const count = c.message_count;
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) throw corrupt(`${where}.message_count must be a count`);
  return {
    associatedData: readBytes(c, 'associated_data', corrupt, undefined, MAX_ASSOCIATED_DATA_BYTES + 64),
    localIdentityKey: readBytes(c, 'local_identity_key', corrupt, 32),
    remoteIdentityKey: readBytes(c, 'remote_identity_key', corrupt, 32),
    messageCount: count,
    state: asRecord(c.state, corrupt, `${where}.state`) as unknown as RatchetStateDict,
  };
}

/** A live channel from a snapshot; a state that does not parse is a corrupt record. */
export function restoreChannel(snapshot: ChannelSnapshot, crypto: CryptoProvider): SecureChannel {
  try {
    return SecureChannel.restore(snapshot, { crypto });
  } catch (cause) {
    if (cause instanceof AgentMeshError) throw new CorruptRecordError(`stored session: ${cause.message}`, { cause });
    throw cause;
  }
}

/** The stored form is one shape for both roles (the fields of the other role are null), as it always was. */
export function encodeMetadata(m: SessionMetadata): JsonObject {
  const initiator = m.role === 'initiator' ? m : null;
  const json: JsonObject = {
    version: 1,
    role: m.role,
    peer_identity_key: toBase64Url(m.peerIdentityKey),
    peer_identity_key_ed: m.peerIdentityKeyEd ? toBase64Url(m.peerIdentityKeyEd) : null,
    establishment: initiator?.establishment ? (encodeEstablishment(initiator.establishment) as unknown as JsonObject) : null,
    accepted_ephemeral_key: m.role === 'responder' ? toBase64Url(m.acceptedEphemeralKey) : null,
  };
  if (initiator?.inboundEphemeralKey) json.inbound_ephemeral_key = toBase64Url(initiator.inboundEphemeralKey);
  return json;
}

export function decodeMetadata(json: unknown): SessionMetadata {
  const r = asRecord(json, corrupt, 'metadata');
  if (r.version !== 1) throw corrupt(`unknown metadata version ${typeof r.version === 'number' ? r.version : typeof r.version}`);
  const optionalKey = (field: string) => (r[field] === null || r[field] === undefined ? null : readBytes(r, field, corrupt, 32));
  const peerIdentityKey = readBytes(r, 'peer_identity_key', corrupt, 32);
  if (r.role === 'responder') {
    return {
      role: 'responder',
      peerIdentityKey,
      peerIdentityKeyEd: optionalKey('peer_identity_key_ed'),
      acceptedEphemeralKey: readBytes(r, 'accepted_ephemeral_key', corrupt, 32),
    };
  }
  if (r.role !== 'initiator') throw corrupt('metadata.role must be initiator or responder');
  let establishment: ChannelEstablishment | null = null;
  if (r.establishment !== null && r.establishment !== undefined) {
    try {
      establishment = decodeEstablishment(r.establishment as EstablishmentJson);
    } catch (cause) {
      throw new CorruptRecordError('stored session: metadata.establishment does not parse', { cause });
    }
  }
  return {
    role: 'initiator',
    peerIdentityKey,
    peerIdentityKeyEd: readBytes(r, 'peer_identity_key_ed', corrupt, 32),
    establishment,
    inboundEphemeralKey: optionalKey('inbound_ephemeral_key'),
  };
}
