import type { CryptoProvider } from '../crypto/index.js';
import { toBase64Url, toHex, utf8, type Bytes } from '../encoding.js';
import { isoTime, asObject, readDid, readInt, readKeyBytes, readString } from './frame.js';
import { TRUST_LIMITS } from './limits.js';

/** A handshake challenge, field for field the reference's `HandshakeChallenge`. */
export interface HandshakeChallenge {
  readonly challenge_id: string;
  readonly nonce: string;
  /** ISO-8601, informational: the verifier judges freshness by its own record of issuing. */
  readonly timestamp: string;
  readonly expires_in_seconds: number;
}

/** The answer to a challenge, signed over `challenge_id:nonce:response_nonce:agent_did`. */
export interface HandshakeResponse {
  readonly challenge_id: string;
  readonly response_nonce: string;
  readonly agent_did: string;
  /** Ed25519 public key, base64url. */
  readonly public_key: string;
  /** Ed25519 signature, base64url. */
  readonly signature: string;
  readonly timestamp: string;
}

export interface ParsedHandshakeResponse {
  readonly challengeId: string;
  readonly responseNonce: string;
  readonly agentDid: string;
  readonly publicKey: Bytes;
  readonly signature: Bytes;
}

export const DEFAULT_CHALLENGE_SECONDS = 30;

/** Tokens end up between colons in the signed text, so they may not contain one. */
const TOKEN = /^[A-Za-z0-9_-]+$/;

export function newChallenge(crypto: CryptoProvider, nowMs: number, expiresInSeconds: number): HandshakeChallenge {
  return {
    challenge_id: `challenge_${toHex(crypto.randomBytes(8))}`,
    nonce: toHex(crypto.randomBytes(32)),
    timestamp: isoTime(nowMs),
    expires_in_seconds: expiresInSeconds,
  };
}

/** The reference's signed text, so that its agents can answer our challenges and we theirs. */
export function responsePayload(challengeId: string, nonce: string, responseNonce: string, agentDid: string): Bytes {
  return utf8(`${challengeId}:${nonce}:${responseNonce}:${agentDid}`);
}

export async function answerChallenge(
  challenge: HandshakeChallenge,
  agentDid: string,
  identity: { readonly publicKey: Uint8Array; sign(message: Uint8Array): Promise<Uint8Array> },
  crypto: CryptoProvider,
  nowMs: number,
): Promise<HandshakeResponse> {
  const responseNonce = toHex(crypto.randomBytes(16));
  const signature = await identity.sign(responsePayload(challenge.challenge_id, challenge.nonce, responseNonce, agentDid));
  return {
    challenge_id: challenge.challenge_id,
    response_nonce: responseNonce,
    agent_did: agentDid,
    public_key: toBase64Url(identity.publicKey),
    signature: toBase64Url(signature),
    timestamp: isoTime(nowMs),
  };
}

export function parseChallenge(value: unknown): HandshakeChallenge {
  const record = asObject(value, '"challenge"');
  return {
    challenge_id: readString(record, 'challenge_id', TRUST_LIMITS.maxTokenLength, TOKEN),
    nonce: readString(record, 'nonce', TRUST_LIMITS.maxTokenLength, TOKEN),
    timestamp: readString(record, 'timestamp', 40),
    expires_in_seconds: readInt(record, 'expires_in_seconds', 1, TRUST_LIMITS.maxChallengeSeconds),
  };
}

export function parseResponse(value: unknown): ParsedHandshakeResponse {
  const record = asObject(value, '"response"');
  return {
    challengeId: readString(record, 'challenge_id', TRUST_LIMITS.maxTokenLength, TOKEN),
    responseNonce: readString(record, 'response_nonce', TRUST_LIMITS.maxTokenLength, TOKEN),
    agentDid: readDid(record, 'agent_did'),
    publicKey: readKeyBytes(record, 'public_key', 32),
    signature: readKeyBytes(record, 'signature', 64),
  };
}
