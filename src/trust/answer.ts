import { InvalidTrustFrameError, TrustError } from './errors.js';
import { parseFrame, readOptionalString, readString, type ParsedFrame } from './frame.js';
import { TRUST_LIMITS } from './limits.js';

export function malformed(peerDid: string, cause: unknown): TrustError {
  return new TrustError('malformed', `${peerDid} sent a malformed answer: ${(cause as Error)?.message ?? 'unreadable'}`, { peerDid, cause });
}

/**
 * Reads a peer's answer: it must parse, come from the peer to us, and be of an expected type.
 * An `error` frame becomes `peer_refused` carrying the peer's code.
 */
export function readAnswer(answer: unknown, peerDid: string, selfDid: string, expectedTypes: readonly string[]): ParsedFrame {
  let frame: ParsedFrame;
  try {
    frame = parseFrame(answer);
  } catch (cause) {
    throw malformed(peerDid, cause);
  }
  if (frame.from !== peerDid || frame.to !== selfDid) {
    throw new TrustError('wrong_peer', `an answer from ${frame.from} to ${frame.to} in an exchange with ${peerDid}`, { peerDid });
  }
  if (frame.type === 'error') {
    let code: string;
    let message: string | undefined;
    try {
      code = readString(frame.fields, 'code', TRUST_LIMITS.maxTypeLength);
      message = readOptionalString(frame.fields, 'message', TRUST_LIMITS.maxReasonLength);
    } catch (cause) {
      throw malformed(peerDid, cause);
    }
    throw new TrustError('peer_refused', `${peerDid} refused: ${code}${message ? ` (${message})` : ''}`, { peerDid, peerReason: code });
  }
  if (!expectedTypes.includes(frame.type)) {
    throw malformed(peerDid, new InvalidTrustFrameError(`expected ${expectedTypes.join(' or ')}, got ${frame.type}`));
  }
  return frame;
}
